package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/epochledger/epochledger/scenarios/bench"
)

func runBench(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(e.stdout, `Usage: epochledger bench <store|replay|settle|coordinator> [flags]

  store    durable appends (batches of 1, 100, 1000; 64 concurrent writers) and
           sequential reads, each against raw write+fsync of the same bytes on
           the same disk, measured in the same run
  replay   full replay of a generated log with all projections, against a raw
           sequential read of the same log
  settle   settlement plan for many operators and an end-to-end settlement
           against the local Solana VM
  coordinator  signed, durable frame results per second through the
           coordinator, against a signatures-only baseline
`)
		if len(args) == 0 {
			return &silentError{code: 2}
		}
		return nil
	}
	switch args[0] {
	case "store":
		return benchStore(ctx, e, args[1:])
	case "replay":
		return benchReplay(ctx, e, args[1:])
	case "settle":
		return benchSettle(ctx, e, args[1:])
	case "coordinator":
		return benchCoordinator(ctx, e, args[1:])
	}
	return usagef("bench: unknown benchmark %q (store, replay, settle, coordinator)", args[0])
}

// cpuProfileFlag adds --cpuprofile to a benchmark's flags; start begins
// the profile (if asked for) and returns the function that ends it.
func cpuProfileFlag(fs interface {
	String(name, value, usage string) *string
}) (start func() (stop func(), err error)) {
	path := fs.String("cpuprofile", "", "write a CPU profile of the measurements to `FILE` (go tool pprof FILE)")
	return func() (func(), error) {
		if *path == "" {
			return func() {}, nil
		}
		f, err := os.Create(*path)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		return func() { pprof.StopCPUProfile(); f.Close() }, nil
	}
}

func benchStore(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "bench store", "[--dir DIR] [--duration D] [--json] [--cpuprofile FILE] [--store postgres://…]", `
Measure the embedded store on the disk holding --dir, in one run: durable
appends in batches of 1, 100 and 1,000 events of about 250 bytes (1,000:
by one appender, then by 16 at once), beside their baseline, raw
sequential write+fsync of chunks the size of one 1,000-event append (the
physical limit; measured half just before and half just after the 16
appenders, and again at their mean group-commit size); 64 concurrent
writers appending single events (group commit; their baselines: 64
events' bytes appended with fsync, and written over zeros with fdatasync,
the way the store commits small groups; and, from the store's counters,
events per group commit, the time from one commit to the next and the
mean fdatasync in it; then the same writers once more with GOMAXPROCS=1,
for comparison); and a full sequential read.
Nothing is acknowledged before its fsync (fdatasync). The scratch
directory is removed afterwards. The figures depend on GOMAXPROCS (the
environment variable; reported with them): compare runs made with the
same.

With --store postgres://… the same workloads (batches of 1, 100, 1,000 by
16 appenders, 64 concurrent writers, a sequential read) run on that
database and on the embedded store under --dir, each one on both stores
back to back, and the ratio is printed; also the PostgreSQL group commit
(events per transaction, WAL fsyncs per event). The log is written to a
schema of its own, dropped afterwards.`)
	store := fs.String("store", "", "measure this store (postgres://…) against the embedded store")
	dir := fs.String("dir", "", "scratch directory on the disk to measure (default: a temporary directory under the current one)")
	dur := fs.Duration("duration", 2*time.Second, "time spent on each measurement")
	asJSON := fs.Bool("json", false, "print one JSON object")
	profile := cpuProfileFlag(fs)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	stopProfile, err := profile()
	if err != nil {
		return err
	}
	defer stopProfile()
	if *dir == "" {
		d, err := os.MkdirTemp(".", ".bench-store-")
		if err != nil {
			return err
		}
		*dir = d
	} else {
		*dir = filepath.Join(*dir, fmt.Sprintf("bench-store-%d", os.Getpid()))
	}
	if *store != "" {
		return benchStoreOn(ctx, e, *store, *dir, *dur, *asJSON)
	}
	quiet := *asJSON || !isTerminal(e.stderr)
	r, err := bench.RunStore(ctx, bench.StoreOptions{Dir: *dir, Duration: *dur, Progress: func(step string) {
		if !quiet {
			fmt.Fprintf(e.stderr, "bench store: %s…\n", step)
		}
	}})
	if err != nil {
		return fmt.Errorf("bench store: %w", err)
	}
	if *asJSON {
		return writeJSON(e.stdout, r)
	}
	fmt.Fprintf(e.stdout, `GOMAXPROCS                      %d (%d CPUs)
event size                      %d bytes (%d on disk)
raw write+fsync (%d B chunks)   %.1f MB/s, %.0f fsyncs/s
raw write+fsync (%d B)          %.0f fsyncs/s
append, batch of 1              %.0f events/s (%.2f of raw)
append, batch of 100            %.0f events/s
append, batch of 1000, 1 appender  %.0f events/s
  ratio to raw                  %.2f (disk limit around it: %.0f events/s)
append, batch of 1000           %.0f events/s, %.1f MB/s on disk (%d appenders)
  ratio to raw                  %.2f (disk limit for these frames: %.0f events/s)
  mean group commit             %d B; raw write+fsync of that size %.1f MB/s, ratio %.2f
64 concurrent writers           %.0f events/s, p99 %.0f µs
  limit 64 × raw fsyncs/s of 64 events  %.0f events/s (ratio %.2f)
  limit 64 × raw fdatasyncs/s over zeros  %.0f events/s (ratio %.2f)
  group commit                  %.1f events, one every %.0f µs, fdatasync %.0f µs of it
  again with GOMAXPROCS=1       %.0f events/s, one commit every %.0f µs, fdatasync %.0f µs of it
sequential read                 %.0f events/s, %.1f MB/s (%d events)
`, r.GoMaxProcs, r.NumCPU, r.EventBytes, r.FrameBytes, r.RawChunkBytes, r.RawWriteFsyncBytesPerSec/1e6, r.RawFsyncsPerSec,
		r.FrameBytes, r.RawSmallFsyncsPerSec,
		r.AppendBatch1EventsPerSec, r.Batch1RatioToRaw, r.AppendBatch100EventsPerSec,
		r.AppendBatch1000SingleEventsPerSec, r.SingleRatioToRaw, r.RawLimitSingleEventsPerSec,
		r.AppendBatch1000EventsPerSec, r.AppendBatch1000BytesPerSec/1e6, r.AppendBatch1000Writers, r.RatioToRaw, r.RawLimitBatch1000EventsPerSec,
		r.Batch1000BytesPerFsync, r.RawAtFlushSizeBytesPerSec/1e6, r.RatioToRawAtFlushSize,
		r.Concurrent64EventsPerSec, r.Concurrent64P99Micros, r.Concurrent64LimitPerSec, r.Concurrent64RatioToLimit,
		r.Concurrent64OverwriteLimitPerSec, r.Concurrent64RatioToOverwriteLimit,
		r.Concurrent64EventsPerFsync, r.Concurrent64CommitCycleMicros, r.Concurrent64FdatasyncMeanMicros,
		r.Concurrent64OneProcEventsPerSec, r.Concurrent64OneProcCommitCycleMicros, r.Concurrent64OneProcFdatasyncMeanMicros,
		r.ReadEventsPerSec, r.ReadBytesPerSec/1e6, r.ReadEvents)
	return nil
}
