package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/scenarios/simlog"
	"github.com/epochledger/epochledger/workers/coordinator"
	"github.com/epochledger/epochledger/workers/readapi"
)

// readNetwork writes a network of ops operators (one node each) over
// epochs closed epochs, each with jobsPerEpoch completed jobs of 4 frames,
// into a fresh embedded store.
func readNetwork(t *testing.T, ops, epochs, jobsPerEpoch int) *filestore.Store {
	t.Helper()
	s, err := filestore.Open(filepath.Join(t.TempDir(), "log"), filestore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	b := simlog.New("loadtest", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
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
			b.Complete(job) // what the coordinator would append at start
			b.Burn(job, "25", "4")
		}
		b.CloseEpoch(uint64(e), domain.DefaultEmission)
	}
	if err := simlog.AppendBatch(context.Background(), s, b.Drain()); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLoadLoopback drives the read API the way serve mounts it (over the
// coordinator's live ledger) over loopback with HTTPLoad. It runs for 1 s
// by default; EPOCHLEDGER_LOADTEST_SECONDS=N runs longer (the figures of
// docs/benchmarks.md).
func TestLoadLoopback(t *testing.T) {
	secs := 1.0
	if s := os.Getenv("EPOCHLEDGER_LOADTEST_SECONDS"); s != "" {
		var err error
		if secs, err = strconv.ParseFloat(s, 64); err != nil || secs <= 0 {
			t.Fatalf("EPOCHLEDGER_LOADTEST_SECONDS=%q: want a positive number of seconds", s)
		}
	}
	store := readNetwork(t, 50, 10, 40)
	o := coordinator.DefaultOptions()
	o.EpochClock = false
	srv, err := coordinator.New(t.Context(), store, o)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	opts := readapi.DefaultOptions()
	opts.RateLimit = 0
	opts.Log = store
	ts := httptest.NewServer(readapi.New(srv, opts).Handler())
	defer ts.Close()

	paths := []string{"/v1/epochs", "/v1/epochs/5", "/v1/epochs/5/shares", "/v1/operators/op-007", "/v1/supply", "/v1/jobs/j-3-7", "/v1/operators/op-011/frames?limit=20"}
	for _, p := range paths {
		res, err := http.Get(ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", p, res.StatusCode)
		}
	}
	for _, c := range []int{1, 16} {
		res, err := HTTPLoad(t.Context(), ts.URL, paths, c, time.Duration(secs*float64(time.Second)))
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors > 0 || res.Requests == 0 || res.Concurrency != c {
			t.Errorf("%d clients: %s", c, res)
		}
		t.Logf("loopback read load, GOMAXPROCS=%d, log of %d events: %s", runtime.GOMAXPROCS(0), srv.Position(), res)
	}
}
