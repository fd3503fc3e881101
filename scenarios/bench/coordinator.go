package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"time"

	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/scenarios/loadgen"
	"github.com/epochledger/epochledger/workers/coordinator"
)

// CoordinatorOptions configure RunCoordinator.
type CoordinatorOptions struct {
	// Dir is a scratch directory for the two fresh logs; the caller
	// removes it.
	Dir      string
	Workers  int           // simulated workers
	Batch    int           // frames per lease and results per request
	Duration time.Duration // measured time of each run (after a 1 s warm-up)
	// Progress, if set, is called before each run.
	Progress func(step string)
}

// CoordinatorResult is what RunCoordinator measured.
type CoordinatorResult struct {
	Coordinator       *loadgen.Report `json:"coordinator"`
	CoordinatorBatch1 *loadgen.Report `json:"coordinator_batch1"`
	Baseline          *loadgen.Report `json:"baseline_signatures_only"`
	// Ratio compares results per CPU-second (a figure that does not
	// depend on what else the machine runs); RatioWall the wall rates.
	Ratio     float64 `json:"ratio_to_baseline"`
	RatioWall float64 `json:"ratio_to_baseline_wall"`
	Cores     int     `json:"cores"`
}

// RunCoordinator drives an in-process coordinator on the embedded store
// over loopback HTTP with simulated workers (scenarios/loadgen), once with
// o.Batch results per request and once with one, then the same load
// against a server that only checks the signatures (no log, no ledger):
// the machine's ceiling for signed HTTP. Every result is durable before
// its 2xx.
func RunCoordinator(ctx context.Context, o CoordinatorOptions) (*CoordinatorResult, error) {
	step := o.Progress
	if step == nil {
		step = func(string) {}
	}
	var res CoordinatorResult
	var err error
	step(fmt.Sprintf("coordinator, %d workers, batch %d", o.Workers, o.Batch))
	if res.Coordinator, err = coordinatorRun(ctx, filepath.Join(o.Dir, "a"), o.Workers, o.Batch, o.Duration); err != nil {
		return nil, err
	}
	step(fmt.Sprintf("coordinator, %d workers, batch 1", o.Workers))
	if res.CoordinatorBatch1, err = coordinatorRun(ctx, filepath.Join(o.Dir, "b"), o.Workers, 1, o.Duration); err != nil {
		return nil, err
	}
	step("baseline: signatures only")
	if res.Baseline, err = serveLoad(ctx, loadgen.NewBaseline("bench"), loadOptions(o.Workers, o.Batch, o.Duration)); err != nil {
		return nil, err
	}
	if res.Baseline.ResultsPerSec > 0 {
		res.RatioWall = res.Coordinator.ResultsPerSec / res.Baseline.ResultsPerSec
	}
	if res.Baseline.ResultsPerCPUSecond > 0 {
		res.Ratio = res.Coordinator.ResultsPerCPUSecond / res.Baseline.ResultsPerCPUSecond
	}
	res.Cores = runtime.GOMAXPROCS(0)
	return &res, nil
}

func loadOptions(workers, batch int, dur time.Duration) loadgen.Options {
	return loadgen.Options{AdminToken: "bench", Workers: workers, Batch: batch, Warmup: time.Second, Duration: dur}
}

// coordinatorRun serves a fresh log in dir and loads it.
func coordinatorRun(ctx context.Context, dir string, workers, batch int, dur time.Duration) (*loadgen.Report, error) {
	store, err := filestore.Open(dir, nil)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	o := coordinator.DefaultOptions()
	o.AdminToken = "bench"
	o.VerifyRate = 0
	o.EpochClock = false
	o.MaxLeaseFrames = max(batch, 1)
	srv, err := coordinator.New(ctx, store, o)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	return serveLoad(ctx, srv.Handler(), loadOptions(workers, batch, dur))
}

// serveLoad serves h on a loopback port and runs the load against it.
func serveLoad(ctx context.Context, h http.Handler, o loadgen.Options) (*loadgen.Report, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: h}
	go hs.Serve(ln)
	defer hs.Close()
	o.URL = "http://" + ln.Addr().String()
	return loadgen.Run(ctx, o)
}
