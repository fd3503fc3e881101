package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/eventstore/postgres"
)

// CompareOptions configure a run of the same workloads on another store
// and on the embedded store, side by side.
type CompareOptions struct {
	Name string                                              // the other store, for the report ("postgres")
	Open func(ctx context.Context) (eventstore.Store, error) // an empty log on it
	// OpenUngrouped, when set, opens the other store with one append per
	// transaction (no group commit), for the 64 writers once more: what
	// group commit is worth.
	OpenUngrouped func(ctx context.Context) (eventstore.Store, error)
	Dir           string        // scratch directory of the embedded store (removed after)
	Duration      time.Duration // time spent on each measurement of each store
	Progress      func(step string)
}

// Workload is one measurement on both stores.
type Workload struct {
	Name             string  `json:"name"`
	EmbeddedPerSec   float64 `json:"embedded_events_per_sec"`
	OtherPerSec      float64 `json:"other_events_per_sec"`
	Ratio            float64 `json:"ratio"` // other / embedded
	EmbeddedP99Micro float64 `json:"embedded_p99_us,omitempty"`
	OtherP99Micro    float64 `json:"other_p99_us,omitempty"`
}

// CompareResult is what `bench store --store URL --json` prints.
type CompareResult struct {
	Store      string     `json:"store"`
	GoMaxProcs int        `json:"gomaxprocs"`
	NumCPU     int        `json:"num_cpu"`
	EventBytes int        `json:"event_bytes"`
	Workloads  []Workload `json:"workloads"`
	// EventsPerCommit is the other store's group commit under the 64
	// writers, when it counts them (postgres.Store.Stats): events per
	// transaction, each transaction one commit record and one WAL flush
	// (and one round trip to a synchronous standby) for all its events.
	EventsPerCommit float64 `json:"concurrent64_events_per_commit,omitempty"`
	// The 64 writers on the other store with one append per transaction
	// (CompareOptions.OpenUngrouped), against its group commit above.
	UngroupedConcurrent64PerSec   float64 `json:"concurrent64_ungrouped_events_per_sec,omitempty"`
	UngroupedConcurrent64P99Micro float64 `json:"concurrent64_ungrouped_p99_us,omitempty"`
}

// commitCounter is the optional counter of group commits.
type commitCounter interface{ Stats() postgres.Stats }

func commitCounts(s eventstore.Store) (commits, events uint64, ok bool) {
	cc, ok := s.(commitCounter)
	if !ok {
		return 0, 0, false
	}
	st := cc.Stats()
	return st.Commits, st.Events, true
}

// Compare measures each workload on the embedded store and right after on
// the other one: one appender with batches of 1 and of 100; 16 appenders
// with batches of 1,000; 64 concurrent writers of single events (group
// commit; p99 latency); a sequential read of everything written.
func Compare(ctx context.Context, o CompareOptions) (*CompareResult, error) {
	progress := o.Progress
	if progress == nil {
		progress = func(string) {}
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(o.Dir)
	emb, err := filestore.Open(filepath.Join(o.Dir, "log"), nil)
	if err != nil {
		return nil, err
	}
	defer emb.Close()
	other, err := o.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer other.Close()
	r := &CompareResult{Store: o.Name, GoMaxProcs: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(), EventBytes: len(event(0).Data)}
	var ids atomic.Int64 // event ids, unique over both stores and all workloads
	type spec struct {
		name           string
		writers, batch int
	}
	for _, w := range []spec{{"append, batch of 1", 1, 1}, {"append, batch of 100", 1, 100}, {"append, batch of 1000, 16 appenders", 16, 1000}, {"64 concurrent writers", 64, 1}} {
		progress(w.name)
		wl := Workload{Name: w.name}
		var c0, e0 uint64
		if w.writers == 64 {
			c0, e0, _ = commitCounts(other)
		}
		for k, s := range []eventstore.Store{emb, other} {
			rate, p99, err := appendLoad(ctx, s, w.writers, w.batch, o.Duration, &ids)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", w.name, err)
			}
			if k == 0 {
				wl.EmbeddedPerSec, wl.EmbeddedP99Micro = rate, p99
			} else {
				wl.OtherPerSec, wl.OtherP99Micro = rate, p99
			}
		}
		if w.writers != 64 {
			wl.EmbeddedP99Micro, wl.OtherP99Micro = 0, 0
		}
		if c1, e1, ok := commitCounts(other); ok && w.writers == 64 {
			if c1 > c0 {
				r.EventsPerCommit = float64(e1-e0) / float64(c1-c0)
			}
		}
		wl.Ratio = wl.OtherPerSec / wl.EmbeddedPerSec
		r.Workloads = append(r.Workloads, wl)
	}
	if o.OpenUngrouped != nil {
		progress("64 concurrent writers, one append per transaction")
		u, err := o.OpenUngrouped(ctx)
		if err != nil {
			return nil, err
		}
		rate, p99, err := appendLoad(ctx, u, 64, 1, o.Duration, &ids)
		u.Close()
		if err != nil {
			return nil, fmt.Errorf("64 writers without group commit: %w", err)
		}
		r.UngroupedConcurrent64PerSec, r.UngroupedConcurrent64P99Micro = rate, p99
	}
	progress("sequential read")
	wl := Workload{Name: "sequential read"}
	for k, s := range []eventstore.Store{emb, other} {
		start := time.Now()
		var n uint64
		if err := s.ReadAll(ctx, 1, func(*eventstore.RecordedEvent) error { n++; return nil }); err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
		rate := float64(n) / time.Since(start).Seconds()
		if k == 0 {
			wl.EmbeddedPerSec = rate
		} else {
			wl.OtherPerSec = rate
		}
	}
	wl.Ratio = wl.OtherPerSec / wl.EmbeddedPerSec
	r.Workloads = append(r.Workloads, wl)
	return r, nil
}

// appendLoad runs writers goroutines appending batches of batch events
// for d and returns events/s and the p99 append latency in µs.
func appendLoad(ctx context.Context, s eventstore.Store, writers, batch int, d time.Duration, ids *atomic.Int64) (float64, float64, error) {
	var total atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(d)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			stream := fmt.Sprintf("bench-%d-%d", w, ids.Add(1))
			evs := make([]eventstore.EventData, batch)
			var mine []time.Duration
			for time.Now().Before(stop) {
				base := ids.Add(int64(batch)) - int64(batch) + 1 // the range just reserved
				for i := range evs {
					evs[i] = event(int(base) + i)
				}
				t0 := time.Now()
				if _, err := s.Append(ctx, stream, eventstore.Any(), evs...); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
				total.Add(int64(batch))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	if firstErr != nil {
		return 0, 0, firstErr
	}
	el := time.Since(start).Seconds()
	var p99 float64
	if len(lat) > 0 {
		slices.Sort(lat)
		p99 = float64(lat[len(lat)*99/100].Microseconds())
	}
	return float64(total.Load()) / el, p99, nil
}
