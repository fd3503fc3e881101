package loadgen

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/workers/coordinator"
)

func serve(t *testing.T, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return "http://" + ln.Addr().String()
}

// A short run against a real coordinator: every result it counts is in
// the log (rendered and accepted), and the log verifies.
func TestRunAgainstCoordinator(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	store, err := filestore.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := coordinator.DefaultOptions()
	o.AdminToken, o.VerifyRate, o.EpochClock = "t", 0, false
	srv, err := coordinator.New(context.Background(), store, o)
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, srv.Handler())
	rep, err := Run(context.Background(), Options{URL: url, AdminToken: "t", Workers: 4, Batch: 4, Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond, FramesPerJob: 50})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", rep)
	if rep.Results == 0 || rep.Errors != 0 || rep.ResultP99MS <= 0 {
		t.Fatalf("report %+v", rep)
	}
	srv.Close()
	counts := map[string]uint64{}
	err = store.ReadAll(context.Background(), 1, func(e *eventstore.RecordedEvent) error {
		counts[e.Type]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	store.Close()
	if counts[domain.TypeFrameRendered] < rep.Results || counts[domain.TypeFrameAccepted] != counts[domain.TypeFrameRendered] {
		t.Fatalf("log %v, %d results counted", counts, rep.Results)
	}
	if counts[domain.TypeJobSubmitted] < 2 || counts[domain.TypeJobCompleted] < 1 {
		t.Fatalf("jobs did not roll over: %v", counts)
	}
	if v, err := filestore.Verify(dir, nil, nil); err != nil || !v.OK() {
		t.Fatalf("verify: %v %+v", err, v)
	}
}

func TestBaseline(t *testing.T) {
	url := serve(t, NewBaseline("t"))
	rep, err := Run(context.Background(), Options{URL: url, AdminToken: "t", Workers: 2, Batch: 2, Duration: 200 * time.Millisecond})
	if err != nil || rep.Results == 0 || rep.Errors != 0 {
		t.Fatalf("%v %+v", err, rep)
	}
}
