package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/epochledger/epochledger/scenarios/bench"
	"github.com/epochledger/epochledger/scenarios/loadgen"
)

func benchCoordinator(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "bench coordinator", "[--workers N] [--batch B] [--duration D] [--dir DIR] [--json]", `
Drive an in-process coordinator on the embedded store over loopback HTTP
with simulated workers (scenarios/loadgen): each registers a node key,
then leases --batch frames and reports them as one signed results request
(proof signatures and request signatures real, rendering skipped). Every
result is durable (FrameRendered + FrameAccepted fsynced) before its 2xx.
Prints results/s and the p50/p99 latency of the results requests, for
--batch and for batch 1 (one request per frame, as epochledger worker
sends), and the same load against a baseline server that only checks the
signatures (no log, no ledger) — the machine's ceiling for signed HTTP.
The load generator runs in the same process: "cores used" and "per
CPU-second" count both, so figures on a shared machine stay comparable.`)
	workers := fs.Int("workers", 64, "simulated workers")
	batch := fs.Int("batch", 16, "frames per lease and results per request")
	dur := fs.Duration("duration", 5*time.Second, "measured time of each run (after a 1 s warm-up)")
	dir := fs.String("dir", "", "scratch directory on the disk to measure (default: a temporary directory under the current one)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		d, err := os.MkdirTemp(".", ".bench-coordinator-")
		if err != nil {
			return err
		}
		*dir = d
	} else {
		*dir = filepath.Join(*dir, fmt.Sprintf("bench-coordinator-%d", os.Getpid()))
	}
	defer os.RemoveAll(*dir)
	quiet := *asJSON || !isTerminal(e.stderr)
	res, err := bench.RunCoordinator(ctx, bench.CoordinatorOptions{Dir: *dir, Workers: *workers, Batch: *batch, Duration: *dur, Progress: func(s string) {
		if !quiet {
			fmt.Fprintf(e.stderr, "bench coordinator: %s…\n", s)
		}
	}})
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "%-31s %10s %9s %9s %11s %12s\n", "", "results/s", "p50 ms", "p99 ms", "cores used", "per CPU-s")
	line := func(name string, r *loadgen.Report) {
		fmt.Fprintf(e.stdout, "%-31s %10.0f %9.2f %9.2f %11.2f %12.0f   (%d workers, batch %d, %d errors)\n",
			name, r.ResultsPerSec, r.ResultP50MS, r.ResultP99MS, r.CPUSeconds/r.Seconds, r.ResultsPerCPUSecond, r.Workers, r.Batch, r.Errors)
	}
	line("coordinator, durable", res.Coordinator)
	line("coordinator, durable, batch 1", res.CoordinatorBatch1)
	line("baseline: signatures only", res.Baseline)
	fmt.Fprintf(e.stdout, "ratio to baseline per CPU-second %.2f (wall %.2f); %d cores: %.0f results/s if the process had them all\n",
		res.Ratio, res.RatioWall, res.Cores, float64(res.Cores)*res.Coordinator.ResultsPerCPUSecond)
	return nil
}
