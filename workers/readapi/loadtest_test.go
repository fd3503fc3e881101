package readapi

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/epochledger/epochledger/domain"
)

// bigScenario is a network of ops operators (one node each) over epochs
// closed epochs, each with jobsPerEpoch jobs of 4 frames.
func bigScenario(t *testing.T, ops, epochs, jobsPerEpoch int) *world {
	w := newWorld(t)
	b := w.b
	for i := range ops {
		id := fmt.Sprintf("op-%03d", i)
		b.Node(fmt.Sprintf("n-%03d", i), id, strconv.Itoa(100+i*7))
		b.SetWallet(id)
	}
	for e := 1; e <= epochs; e++ {
		for j := range jobsPerEpoch {
			job := fmt.Sprintf("j-%d-%d", e, j)
			b.Job(job, 4, "0.5")
			for f := range uint32(4) {
				b.Frame(job, f, fmt.Sprintf("n-%03d", (j*4+int(f)+e)%ops), uint64(60_000*(1+int(f)+j%5)))
			}
			b.Burn(job, "25", "4")
		}
		b.CloseEpoch(uint64(e), domain.DefaultEmission)
	}
	w.flush()
	return w
}

// TestLoadLoopback drives the read API over loopback. It runs for 1 s by
// default; EPOCHLEDGER_LOADTEST_SECONDS=N runs longer (the figures of
// docs/benchmarks.md).
func TestLoadLoopback(t *testing.T) {
	secs := 1.0
	if s := os.Getenv("EPOCHLEDGER_LOADTEST_SECONDS"); s != "" {
		secs, _ = strconv.ParseFloat(s, 64)
	}
	w := bigScenario(t, 50, 10, 40)
	s := newServer(t, w, openOptions())
	paths := []string{"/v1/epochs", "/v1/epochs/5", "/v1/epochs/5/shares", "/v1/operators/op-007", "/v1/supply", "/v1/jobs/j-3-7", "/v1/operators/op-011/frames?limit=20"}
	for _, p := range paths {
		if r := s.get(t, p); r.code != 200 {
			t.Fatalf("%s: %d %s", p, r.code, r.body)
		}
	}
	for _, c := range []int{1, 16} {
		res, err := LoadTest(t.Context(), s.URL, paths, c, time.Duration(secs*float64(time.Second)))
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors > 0 {
			t.Errorf("%d errors", res.Errors)
		}
		t.Logf("loopback read load, GOMAXPROCS=%d, log of %d events: %s", runtime.GOMAXPROCS(0), s.live.Position(), res)
	}
}
