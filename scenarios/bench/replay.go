// The replay benchmark (`epochledger bench replay`) measures a full replay
// of a large generated log with every projection, against a raw sequential
// read of the same log in the same run, and the cost of answering `shares`
// from a checkpoint.

package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/scenarios/simlog"
)

// ReplayOptions configure a run.
type ReplayOptions struct {
	Dir       string // the log is generated here once and reused
	Events    uint64 // size of the log
	Operators int
	// Availability generates a log under a job + availability schedule,
	// nodes with vram_gb and one NodeAvailability per node before every
	// close: what the availability channel costs a replay.
	Availability bool
	Progress     func(step string, done, total uint64)
}

// ReplayResult is what `bench replay --json` prints.
type ReplayResult struct {
	Events               uint64  `json:"events"`
	GenerateSeconds      float64 `json:"generate_seconds,omitempty"`
	RawReadEventsPerSec  float64 `json:"raw_read_events_per_sec"`
	ReadAllEventsPerSec  float64 `json:"read_all_events_per_sec"`
	ReplayEventsPerSec   float64 `json:"replay_events_per_sec"`
	ReplayRatioToRawRead float64 `json:"replay_ratio_to_raw_read"`
	ReplaySeconds        float64 `json:"replay_seconds"`
	// OpenSeconds is the read-only open of the log that comes before a
	// replay (not in replay_seconds); OpenAndReplayEventsPerSec counts it.
	OpenSeconds               float64 `json:"open_seconds"`
	OpenAndReplayEventsPerSec float64 `json:"open_and_replay_events_per_sec"`
	Epochs                    uint64  `json:"closed_epochs"`
	Operators                 int     `json:"operators"`
	CheckpointWriteSecs       float64 `json:"checkpoint_write_seconds"`
	ResumeFromCheckpoint      float64 `json:"resume_from_checkpoint_seconds"`
	SharesFromArchive         float64 `json:"shares_from_archive_seconds"`
	SharesFullReplay          float64 `json:"shares_full_replay_seconds"`
	// With ReplayOptions.Availability: the records in the log, and the time to
	// allocate one closed epoch's channels again (job + availability).
	AvailabilityRecords   uint64  `json:"availability_records,omitempty"`
	ChannelAllocationSecs float64 `json:"channel_allocation_seconds_per_epoch,omitempty"`
	AvailabilityEligible  int     `json:"availability_eligible_nodes,omitempty"`
}

// GenerateReplayLog writes a log of about n events: operators with two nodes each,
// jobs of 100 frames (lease, render, accept) that complete, compute work,
// burns and an
// epoch close every million events.
func GenerateReplayLog(ctx context.Context, s eventstore.Store, n uint64, operators int, progress func(done uint64)) error {
	return generateReplayLog(ctx, s, n, operators, false, progress)
}

func generateReplayLog(ctx context.Context, s eventstore.Store, n uint64, operators int, avail bool, progress func(done uint64)) error {
	b := simlog.New("replaybench", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	b.FakeSignatures = true
	nodes := operators * 2
	for i := 0; i < nodes; i++ {
		ob := []string{"120.5", "860", "1500", "312.25"}[i%4]
		if avail {
			b.NodeVRAM(fmt.Sprintf("node-%06d", i), fmt.Sprintf("op-%06d", i/2), ob, []uint32{8, 12, 24, 48, 80}[i%5])
		} else {
			b.Node(fmt.Sprintf("node-%06d", i), fmt.Sprintf("op-%06d", i/2), ob)
		}
	}
	if avail {
		b.Schedule("RNP-015", 1, map[string]string{"job": "15000", "availability": "2884.61538"})
	}
	var written uint64
	flush := func() error {
		envs := b.Drain()
		written += uint64(len(envs))
		if progress != nil {
			progress(written)
		}
		return simlog.AppendBatch(ctx, s, envs)
	}
	epoch := uint64(1)
	for job := 0; written < n; job++ {
		id := fmt.Sprintf("job-%07d", job)
		b.Job(id, 100, []string{"0.25", "1", "2.5"}[job%3])
		for f := uint32(0); f < 100; f++ {
			node := fmt.Sprintf("node-%06d", (job*7+int(f)*13)%nodes)
			b.Frame(id, f, node, uint64(1000+(job*31+int(f)*17)%600_000))
		}
		b.Compute(fmt.Sprintf("task-%07d", job), fmt.Sprintf("node-%06d", job%nodes), 60_000, "1.25")
		b.Complete(id)
		b.Burn(id, "10", "4.5")
		if (written+uint64(len(b.Envelopes())))/1_000_000 >= epoch {
			if avail {
				const week = 7 * 24 * 3600 * 1000
				for i := 0; i < nodes; i++ {
					online := uint64(week - (i*7919)%week)
					b.Availability(epoch, fmt.Sprintf("node-%06d", i), week, online, uint64(i*104729)%(online+1))
				}
				b.CloseEpochChannels(epoch, map[string]domain.BaseUnits{domain.ChannelJob: 1_500_000_000_000, domain.ChannelAvailability: 288_461_538_000})
			} else {
				b.CloseEpoch(epoch, domain.DefaultEmission)
			}
			epoch++
		}
		if len(b.Envelopes()) >= 20_000 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// Run generates the log if dir lacks it, then measures.
func RunReplay(ctx context.Context, o ReplayOptions) (*ReplayResult, error) {
	if o.Events == 0 {
		o.Events = 10_000_000
	}
	if o.Operators == 0 {
		o.Operators = 1000
	}
	if o.Progress == nil {
		o.Progress = func(string, uint64, uint64) {}
	}
	r := &ReplayResult{Operators: o.Operators}
	logDir := filepath.Join(o.Dir, fmt.Sprintf("log-%d-%d", o.Events, o.Operators))
	if o.Availability {
		logDir += "-availability"
	}
	if _, err := os.Stat(filepath.Join(logDir, "complete")); err != nil {
		os.RemoveAll(logDir)
		s, err := filestore.Open(logDir, nil)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		err = generateReplayLog(ctx, s, o.Events, o.Operators, o.Availability, func(done uint64) { o.Progress("generate", done, o.Events) })
		s.Close()
		if err != nil {
			return nil, err
		}
		r.GenerateSeconds = time.Since(start).Seconds()
		if err := os.WriteFile(filepath.Join(logDir, "complete"), nil, 0o644); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	s, err := filestore.Open(logDir, &filestore.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	r.OpenSeconds = time.Since(start).Seconds()
	head, _ := s.Head(ctx)
	r.Events = head

	// The baseline: every frame read and its CRC checked, nothing copied
	// (ReadAllRaw, the reader a replay uses). ReadAll, which makes strings
	// per event, is reported beside it.
	o.Progress("raw read", 0, head)
	start = time.Now()
	var n uint64
	if err := s.ReadAllRaw(ctx, 1, func(*eventstore.RawEvent) error { n++; return nil }); err != nil {
		return nil, err
	}
	r.RawReadEventsPerSec = float64(n) / time.Since(start).Seconds()
	start = time.Now()
	n = 0
	if err := s.ReadAll(ctx, 1, func(*eventstore.RecordedEvent) error { n++; return nil }); err != nil {
		return nil, err
	}
	r.ReadAllEventsPerSec = float64(n) / time.Since(start).Seconds()

	o.Progress("replay", 0, head)
	start = time.Now()
	l, err := projections.Build(ctx, s, projections.Config{}, func(pos, head uint64) { o.Progress("replay", pos, head) })
	if err != nil {
		return nil, err
	}
	r.ReplaySeconds = time.Since(start).Seconds()
	r.ReplayEventsPerSec = float64(head) / r.ReplaySeconds
	r.ReplayRatioToRawRead = r.ReplayEventsPerSec / r.RawReadEventsPerSec
	r.OpenAndReplayEventsPerSec = float64(head) / (r.OpenSeconds + r.ReplaySeconds)
	r.Epochs = l.ClosedEpochs()
	if l.AnomalyCount > 0 {
		return nil, fmt.Errorf("replay skipped %d events (first: %+v)", l.AnomalyCount, l.Anomalies[0])
	}

	// shares for a closed epoch: from the epoch archive (no fold) vs a full
	// replay; and the full state's checkpoint written and resumed.
	if r.Epochs > 0 {
		arch := filepath.Join(o.Dir, "bench-epochs.json")
		a, err := l.Archive(ctx, s)
		if err != nil {
			return nil, err
		}
		if err := a.Write(arch); err != nil {
			return nil, err
		}
		start = time.Now()
		a2, err := projections.ReadArchive(arch)
		if err != nil {
			return nil, err
		}
		if _, ok := a2.Shares(ctx, s, 1); !ok {
			return nil, fmt.Errorf("epoch archive did not answer epoch 1")
		}
		r.SharesFromArchive = time.Since(start).Seconds()
		os.Remove(arch)
	}
	if o.Availability && r.Epochs > 0 {
		for _, ep := range l.Epochs {
			r.AvailabilityRecords += uint64(len(ep.Availability))
		}
		r.ChannelAllocationSecs, r.AvailabilityEligible = projections.TimeReallocation(l, l.Epoch(1))
	}
	ckpt := filepath.Join(o.Dir, "bench.ckpt")
	start = time.Now()
	if err := l.WriteCheckpoint(ckpt); err != nil {
		return nil, err
	}
	r.CheckpointWriteSecs = time.Since(start).Seconds()
	start = time.Now()
	l2, at, err := projections.Resume(ctx, s, ckpt, projections.Config{}, nil)
	if err != nil || at == 0 {
		return nil, fmt.Errorf("resume from checkpoint: at %d, %v", at, err)
	}
	if _, _, err := l2.Shares(1); err != nil {
		return nil, err
	}
	r.ResumeFromCheckpoint = time.Since(start).Seconds()
	r.SharesFullReplay = r.ReplaySeconds
	os.Remove(ckpt)
	return r, nil
}
