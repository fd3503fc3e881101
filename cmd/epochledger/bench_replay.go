package main

import (
	"context"
	"fmt"
	"os"

	"github.com/epochledger/epochledger/scenarios/bench"
)

func benchReplay(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "bench replay", "[--events N] [--dir DIR] [--json] [--cpuprofile FILE]", `
Generate a log of N events once (kept in --dir for later runs: a realistic
mix of leases, signed renders, acceptances, compute work, burns and weekly
closes), then measure in one run: a raw sequential read of the log, a full
replay with every projection (the ratio of the two is the fold's cost), and
answering 'shares' for a closed epoch from the epoch archive instead of a
replay, and writing and resuming the full-state checkpoint. --availability
generates the log under a job + availability schedule with one
NodeAvailability per node before every close, and reports the time one
epoch's channel allocation takes.`)
	events := fs.Uint64("events", 10_000_000, "events in the generated log")
	operators := fs.Int("operators", 1000, "operators (two nodes each)")
	avail := fs.Bool("availability", false, "a log under a job + availability schedule with one NodeAvailability per node per epoch")
	dir := fs.String("dir", ".bench-replay", "where the generated log is kept")
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
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	bar := newProgress(e, "bench replay", *asJSON)
	step := ""
	r, err := bench.RunReplay(ctx, bench.ReplayOptions{Dir: *dir, Events: *events, Operators: *operators, Availability: *avail, Progress: func(s string, done, total uint64) {
		if s != step {
			bar.done()
			step = s
			bar = newProgress(e, "bench replay: "+s, *asJSON)
		}
		bar.update(int64(done), int64(total))
	}})
	bar.done()
	if err != nil {
		return fmt.Errorf("bench replay: %w", err)
	}
	if *asJSON {
		return writeJSON(e.stdout, r)
	}
	fmt.Fprintf(e.stdout, `log                          %d events, %d closed epochs, %d operators
raw sequential read          %.0f events/s (ReadAll, strings per event: %.0f)
full replay, all projections %.0f events/s (%.2f s), %.2f of raw read
with the read-only open      %.0f events/s (open %.3f s)
shares of a closed epoch     %.4f s from the epoch archive (full replay %.2f s)
full-state checkpoint        written in %.2f s, resumed in %.2f s
`, r.Events, r.Epochs, r.Operators, r.RawReadEventsPerSec, r.ReadAllEventsPerSec, r.ReplayEventsPerSec, r.ReplaySeconds, r.ReplayRatioToRawRead,
		r.OpenAndReplayEventsPerSec, r.OpenSeconds, r.SharesFromArchive, r.SharesFullReplay, r.CheckpointWriteSecs, r.ResumeFromCheckpoint)
	if *avail {
		fmt.Fprintf(e.stdout, "availability                 %d records; one epoch's channels (%d eligible nodes) allocated in %.4f s\n",
			r.AvailabilityRecords, r.AvailabilityEligible, r.ChannelAllocationSecs)
	}
	return nil
}
