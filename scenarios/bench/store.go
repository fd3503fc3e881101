// The store benchmark (`epochledger bench store`) measures the embedded
// store against the disk it runs on, in one run: durable appends against the
// raw write+fsync limit of the same bytes, group commit under 64 writers
// against the disk's fsync rate, and sequential reads. Every figure comes
// with the baseline measured beside it, because absolute numbers on shared
// machines mean little: the disk's speed drifts by a third within seconds,
// so each baseline is measured right next to what it is compared with.

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
)

// StoreOptions configure a run.
type StoreOptions struct {
	Dir      string        // scratch directory on the disk to measure (removed after)
	Duration time.Duration // time spent on each measurement
	Progress func(step string)
}

// StoreResult is what `epochledger bench store --json` prints.
type StoreResult struct {
	// GoMaxProcs and NumCPU say what the figures were measured with: on
	// a two-vCPU VM the 64 writers were 1.17–1.36× faster with GOMAXPROCS=1
	// and the batched appends 0.65× (docs/benchmarks.md).
	GoMaxProcs int `json:"gomaxprocs"`
	NumCPU     int `json:"num_cpu"`
	EventBytes int `json:"event_bytes"`
	FrameBytes int `json:"frame_bytes"`
	// RawWriteFsyncBytesPerSec is write+fsync of RawChunkBytes (one
	// 1,000-event append's frames) in a loop, half before the batched
	// appends of AppendBatch1000EventsPerSec and half after.
	RawWriteFsyncBytesPerSec    float64 `json:"raw_write_fsync_bytes_per_sec"`
	RawChunkBytes               int     `json:"raw_chunk_bytes"`
	RawFsyncsPerSec             float64 `json:"raw_fsyncs_per_sec"`
	AppendBatch1EventsPerSec    float64 `json:"append_batch1_events_per_sec"`
	AppendBatch100EventsPerSec  float64 `json:"append_batch100_events_per_sec"`
	AppendBatch1000EventsPerSec float64 `json:"append_batch1000_events_per_sec"`
	AppendBatch1000BytesPerSec  float64 `json:"append_batch1000_bytes_per_sec"`
	AppendBatch1000Writers      int     `json:"append_batch1000_writers"`
	RatioToRaw                  float64 `json:"ratio_to_raw"`
	// AppendBatch1000SingleEventsPerSec is one appender waiting for each
	// batch's fsync before sending the next: latency-bound.
	AppendBatch1000SingleEventsPerSec float64 `json:"append_batch1000_single_writer_events_per_sec"`
	// RawAroundSingleBytesPerSec is raw write+fsync of RawChunkBytes
	// measured half just before the one appender's run and half just
	// after; RawLimitSingleEventsPerSec is it in events, and
	// SingleRatioToRaw the one appender's events/s against it.
	RawAroundSingleBytesPerSec float64 `json:"raw_write_fsync_around_single_writer_bytes_per_sec"`
	RawLimitSingleEventsPerSec float64 `json:"raw_limit_single_writer_events_per_sec"`
	SingleRatioToRaw           float64 `json:"append_batch1000_single_writer_ratio_to_raw"`
	// RawLimitBatch1000EventsPerSec is the raw bytes/s in events of this
	// size on disk: no log of these frames can append faster on this disk.
	RawLimitBatch1000EventsPerSec float64 `json:"raw_limit_batch1000_events_per_sec"`
	// Batch1000BytesPerFsync is the mean group commit of the batch-1000
	// run; RawAtFlushSizeBytesPerSec is raw write+fsync of chunks that
	// size, and RatioToRawAtFlushSize the append bytes/s against it.
	Batch1000BytesPerFsync    int     `json:"append_batch1000_bytes_per_fsync"`
	RawAtFlushSizeBytesPerSec float64 `json:"raw_write_fsync_at_flush_size_bytes_per_sec"`
	RatioToRawAtFlushSize     float64 `json:"ratio_to_raw_at_flush_size"`
	Concurrent64EventsPerSec  float64 `json:"concurrent64_events_per_sec"`
	Concurrent64P99Micros     float64 `json:"concurrent64_p99_us"`
	// The 64 writers' group commits: events in each (64 when every writer
	// is back for every commit), the time from one commit's start to the
	// next (the run over its fdatasyncs), and the mean fdatasync in it;
	// the rest of the cycle is the writers' return and the next commit's
	// staging and write, during which the disk is idle.
	Concurrent64EventsPerFsync      float64 `json:"concurrent64_events_per_fsync"`
	Concurrent64CommitCycleMicros   float64 `json:"concurrent64_commit_cycle_us"`
	Concurrent64FdatasyncMeanMicros float64 `json:"concurrent64_fdatasync_mean_us"`
	// The same 64 writers again right after, with GOMAXPROCS=1 for their
	// run (the figures above when GOMAXPROCS is 1 already): on a VM where
	// waking a second vCPU is slow, one P runs a commit's 64 writers
	// faster than two (docs/benchmarks.md). For comparison only; the
	// headline is the figure above, with the process's own GOMAXPROCS.
	Concurrent64OneProcEventsPerSec        float64 `json:"concurrent64_gomaxprocs1_events_per_sec"`
	Concurrent64OneProcCommitCycleMicros   float64 `json:"concurrent64_gomaxprocs1_commit_cycle_us"`
	Concurrent64OneProcFdatasyncMeanMicros float64 `json:"concurrent64_gomaxprocs1_fdatasync_mean_us"`
	// RawSmallFsyncsPerSec is write+fsync of one event's bytes in a loop:
	// the durable single-event rate of the disk. Raw64FsyncsPerSec writes
	// 64 events' bytes per fsync: 64 writers that each wait for their
	// fsync cannot exceed 64 × that (Concurrent64LimitPerSec).
	RawSmallFsyncsPerSec     float64 `json:"raw_small_fsyncs_per_sec"`
	Raw64FsyncsPerSec        float64 `json:"raw_64_events_fsyncs_per_sec"`
	Batch1RatioToRaw         float64 `json:"append_batch1_ratio_to_raw"`
	Concurrent64LimitPerSec  float64 `json:"concurrent64_limit_events_per_sec"`
	Concurrent64RatioToLimit float64 `json:"concurrent64_ratio_to_limit"`
	// Raw64OverwriteFdatasyncsPerSec writes 64 events' bytes over a file
	// already written with zeros and fdatasyncs: no file-size change to
	// commit, which is how the store writes small group commits (see
	// filestore.Options.ZeroAhead). Concurrent64OverwriteLimitPerSec is 64
	// × that, the bound for writers that each wait for such a commit.
	Raw64OverwriteFdatasyncsPerSec    float64 `json:"raw_64_events_overwrite_fdatasyncs_per_sec"`
	Concurrent64OverwriteLimitPerSec  float64 `json:"concurrent64_overwrite_limit_events_per_sec"`
	Concurrent64RatioToOverwriteLimit float64 `json:"concurrent64_ratio_to_overwrite_limit"`
	ReadEventsPerSec                  float64 `json:"read_events_per_sec"`
	ReadBytesPerSec                   float64 `json:"read_bytes_per_sec"`
	ReadEvents                        uint64  `json:"read_events"`
}

// event returns an event of about 250 bytes in its JSON Lines form.
func event(i int) eventstore.EventData {
	id := fmt.Sprintf("%08x-0000-4000-8000-%012x", uint64(i)>>48, uint64(i)&0xffffffffffff)
	return eventstore.EventData{
		ID:   id,
		Type: "FrameAccepted",
		Time: "2024-01-03T10:00:00Z",
		Data: fmt.Appendf(nil, `{"job_id":"job-%06d","frame":%d,"node_id":"node-%04d","output_hash":"%064x","reason":""}`, i%100000, i%1000, i%512, uint64(i)*0x9e3779b97f4a7c15),
	}
}

// Batch1000Writers is how many goroutines append batches of 1,000 at once
// in the headline batched-append measurement.
const Batch1000Writers = 16

// Run performs every measurement.
func RunStore(ctx context.Context, o StoreOptions) (*StoreResult, error) {
	if o.Duration <= 0 {
		o.Duration = 2 * time.Second
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(o.Dir)
	r := &StoreResult{GoMaxProcs: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU()}
	ev := event(1)
	r.EventBytes = len(ev.ID) + len(ev.Type) + len(ev.Time) + len(ev.Data) + len("stream-00")
	const batch = 1000

	// The store's write for one batch of 1,000 events is one chunk: the raw
	// baseline writes and fsyncs chunks of exactly that size.
	probeDir := filepath.Join(o.Dir, "probe")
	s, err := filestore.Open(probeDir, nil)
	if err != nil {
		return nil, err
	}
	if _, err := s.Append(ctx, "stream-00", eventstore.Any(), events(0, batch)...); err != nil {
		return nil, err
	}
	s.Close()
	st, err := os.Stat(filepath.Join(probeDir, "00000000000000000001.seg"))
	if err != nil {
		return nil, err
	}
	chunk := int(st.Size()) - 64
	r.FrameBytes = chunk / batch
	r.RawChunkBytes = chunk

	o.Progress("raw small write+fsync")
	if _, r.RawSmallFsyncsPerSec, err = rawWrite(filepath.Join(o.Dir, "raw-small"), r.FrameBytes, o.Duration); err != nil {
		return nil, err
	}
	if _, r.Raw64FsyncsPerSec, err = rawWrite(filepath.Join(o.Dir, "raw-64"), 64*r.FrameBytes, o.Duration); err != nil {
		return nil, err
	}
	r.Concurrent64LimitPerSec = 64 * r.Raw64FsyncsPerSec
	if r.Raw64OverwriteFdatasyncsPerSec, err = rawOverwrite(filepath.Join(o.Dir, "raw-64-overwrite"), 64*r.FrameBytes, o.Duration); err != nil {
		return nil, err
	}
	r.Concurrent64OverwriteLimitPerSec = 64 * r.Raw64OverwriteFdatasyncsPerSec

	// The writers run right after their baselines, before the batched
	// appends write their gigabyte: a virtual disk may slow down for a
	// while after such a burst, and the ratio should compare like with like.
	o.Progress("64 concurrent writers")
	c64, err := concurrentRun(ctx, filepath.Join(o.Dir, "c64"), 64, o.Duration)
	if err != nil {
		return nil, err
	}
	r.Concurrent64EventsPerSec, r.Concurrent64P99Micros = c64.eventsPerSec, c64.p99Micros
	r.Concurrent64EventsPerFsync, r.Concurrent64CommitCycleMicros, r.Concurrent64FdatasyncMeanMicros = c64.cycle()
	one := c64
	if prev := runtime.GOMAXPROCS(0); prev > 1 {
		o.Progress("64 concurrent writers, GOMAXPROCS=1")
		runtime.GOMAXPROCS(1)
		one, err = concurrentRun(ctx, filepath.Join(o.Dir, "c64-one-proc"), 64, o.Duration)
		runtime.GOMAXPROCS(prev)
		if err != nil {
			return nil, err
		}
	}
	r.Concurrent64OneProcEventsPerSec = one.eventsPerSec
	_, r.Concurrent64OneProcCommitCycleMicros, r.Concurrent64OneProcFdatasyncMeanMicros = one.cycle()
	r.Concurrent64RatioToLimit = r.Concurrent64EventsPerSec / r.Concurrent64LimitPerSec
	r.Concurrent64RatioToOverwriteLimit = r.Concurrent64EventsPerSec / r.Concurrent64OverwriteLimitPerSec

	o.Progress("append batch 1")
	if r.AppendBatch1EventsPerSec, _, err = appendRun(ctx, filepath.Join(o.Dir, "b1"), 1, 1, o.Duration); err != nil {
		return nil, err
	}
	r.Batch1RatioToRaw = r.AppendBatch1EventsPerSec / r.RawSmallFsyncsPerSec
	o.Progress("append batch 100")
	if r.AppendBatch100EventsPerSec, _, err = appendRun(ctx, filepath.Join(o.Dir, "b100"), 100, 1, o.Duration); err != nil {
		return nil, err
	}
	// One appender (import, migrate, a settlement journal) has its own
	// baseline around it, like the headline below.
	o.Progress("raw write+fsync, before one appender")
	singleBefore, err := rawWriteCount(filepath.Join(o.Dir, "raw-single"), chunk, o.Duration/2)
	if err != nil {
		return nil, err
	}
	o.Progress("append batch 1000, one appender")
	if r.AppendBatch1000SingleEventsPerSec, _, err = appendRun(ctx, filepath.Join(o.Dir, "b1000-single"), batch, 1, o.Duration); err != nil {
		return nil, err
	}
	o.Progress("raw write+fsync, after one appender")
	singleAfter, err := rawWriteCount(filepath.Join(o.Dir, "raw-single-after"), chunk, o.Duration-o.Duration/2)
	if err != nil {
		return nil, err
	}
	r.RawAroundSingleBytesPerSec = singleBefore.add(singleAfter).bytesPerSec()
	r.RawLimitSingleEventsPerSec = r.RawAroundSingleBytesPerSec / float64(r.FrameBytes)
	r.SingleRatioToRaw = r.AppendBatch1000SingleEventsPerSec / r.RawLimitSingleEventsPerSec
	// The headline's baseline is measured on both sides of it, half its
	// time before and half after (it used to be the run's first
	// measurement, 15 s earlier, and the disk had often changed speed by
	// then).
	o.Progress("raw write+fsync")
	rawBefore, err := rawWriteCount(filepath.Join(o.Dir, "raw"), chunk, o.Duration/2)
	if err != nil {
		return nil, err
	}
	o.Progress("append batch 1000")
	// Concurrent appenders keep the pipeline full, as importers and
	// coordinators do: batches are encoded while earlier ones are written
	// and fsynced, and several share one fsync.
	r.AppendBatch1000Writers = Batch1000Writers
	var bytes float64
	var stats filestore.Stats
	if r.AppendBatch1000EventsPerSec, bytes, stats, err = appendRunStats(ctx, filepath.Join(o.Dir, "b1000"), batch, r.AppendBatch1000Writers, o.Duration); err != nil {
		return nil, err
	}
	r.AppendBatch1000BytesPerSec = bytes
	o.Progress("raw write+fsync again")
	// A file of its own: truncating the first would free its blocks
	// during the measurement.
	rawAfter, err := rawWriteCount(filepath.Join(o.Dir, "raw-after"), chunk, o.Duration-o.Duration/2)
	if err != nil {
		return nil, err
	}
	raw := rawBefore.add(rawAfter)
	r.RawWriteFsyncBytesPerSec, r.RawFsyncsPerSec = raw.bytesPerSec(), raw.fsyncsPerSec()
	r.RatioToRaw = bytes / r.RawWriteFsyncBytesPerSec
	r.RawLimitBatch1000EventsPerSec = r.RawWriteFsyncBytesPerSec / float64(r.FrameBytes)
	if stats.Fsyncs > 0 {
		// Merged appends make larger writes than one batch: measure the
		// disk at that size too, so the ratio compares like with like.
		r.Batch1000BytesPerFsync = int(stats.BytesWritten / stats.Fsyncs)
		o.Progress("raw write+fsync at the appends' flush size")
		if r.RawAtFlushSizeBytesPerSec, _, err = rawWrite(filepath.Join(o.Dir, "raw-flush"), r.Batch1000BytesPerFsync, o.Duration); err != nil {
			return nil, err
		}
		r.RatioToRawAtFlushSize = bytes / r.RawAtFlushSizeBytesPerSec
	}

	// The appends above leave a large heap to collect: do it before the
	// read is timed, not during it.
	runtime.GC()
	o.Progress("sequential read")
	if r.ReadEventsPerSec, r.ReadBytesPerSec, r.ReadEvents, err = readRun(ctx, filepath.Join(o.Dir, "b1000"), o.Duration); err != nil {
		return nil, err
	}
	return r, nil
}

// fastID formats a UUID from a counter without fmt, so that building ids
// does not take CPU from the store being measured.
func fastID(n uint64) string {
	b := []byte("00000000-0000-4000-8000-000000000000")
	for i := len(b) - 1; i >= 24 && n > 0; i-- {
		b[i] = "0123456789abcdef"[n&15]
		n >>= 4
	}
	return string(b)
}

func events(start, n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = event(start + i)
	}
	return out
}

// rawOverwrite writes chunk bytes at a time over an 8 MiB file already
// written with zeros and made durable (wrapping around at its end), each
// followed by fdatasync, for d; it returns the fdatasyncs per second.
func rawOverwrite(dir string, chunk int, d time.Duration) (float64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	// The store's own file type: its Datasync is fdatasync(2) where the
	// system has it.
	f, err := filestore.OSFS{}.OpenFile(filepath.Join(dir, "raw"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	const size = 8 << 20
	if _, err := f.Write(make([]byte, size)); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	buf := make([]byte, chunk)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	var n int
	var off int64
	start := time.Now()
	for time.Since(start) < d {
		if off+int64(chunk) > size {
			off = 0
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			return 0, err
		}
		if err := f.Datasync(); err != nil {
			return 0, err
		}
		off += int64(chunk)
		n++
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// rawWrite writes chunk bytes at a time to a new file, each followed by
// fsync, for d, and returns the bytes and fsyncs per second.
func rawWrite(dir string, chunk int, d time.Duration) (bytesPerSec, fsyncsPerSec float64, err error) {
	c, err := rawWriteCount(dir, chunk, d)
	return c.bytesPerSec(), c.fsyncsPerSec(), err
}

// rawCount is what a raw write+fsync loop did in how long.
type rawCount struct {
	bytes, fsyncs int64
	elapsed       time.Duration
}

func (c rawCount) add(o rawCount) rawCount {
	return rawCount{c.bytes + o.bytes, c.fsyncs + o.fsyncs, c.elapsed + o.elapsed}
}

func (c rawCount) bytesPerSec() float64  { return float64(c.bytes) / c.elapsed.Seconds() }
func (c rawCount) fsyncsPerSec() float64 { return float64(c.fsyncs) / c.elapsed.Seconds() }

// rawWriteCount is rawWrite's loop; it starts a new file in dir.
func rawWriteCount(dir string, chunk int, d time.Duration) (rawCount, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return rawCount{}, err
	}
	f, err := os.Create(filepath.Join(dir, "raw"))
	if err != nil {
		return rawCount{}, err
	}
	defer f.Close()
	buf := make([]byte, chunk)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	var n int64
	start := time.Now()
	for time.Since(start) < d {
		if _, err := f.Write(buf); err != nil {
			return rawCount{}, err
		}
		if err := f.Sync(); err != nil {
			return rawCount{}, err
		}
		n++
	}
	return rawCount{bytes: n * int64(chunk), fsyncs: n, elapsed: time.Since(start)}, nil
}

// appendRun appends batches of size from writers goroutines for d and
// returns events/s and on-disk bytes/s.
func appendRun(ctx context.Context, dir string, size, writers int, d time.Duration) (float64, float64, error) {
	ev, by, _, err := appendRunStats(ctx, dir, size, writers, d)
	return ev, by, err
}

// appendRunStats is appendRun that also returns the store's counters.
func appendRunStats(ctx context.Context, dir string, size, writers int, d time.Duration) (eventsPerSec, bytesPerSec float64, st filestore.Stats, err error) {
	s, err := filestore.Open(dir, nil)
	if err != nil {
		return 0, 0, st, err
	}
	defer s.Close()
	// Pre-build batches so the measurement is the store, not fmt.
	pool := make([][]eventstore.EventData, 64)
	for i := range pool {
		pool[i] = events(i*size, size)
	}
	var total atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	start := time.Now()
	var seq atomic.Int64
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			stream := fmt.Sprintf("stream-%02d", w)
			for time.Since(start) < d {
				k := int(seq.Add(1))
				evs := pool[k%len(pool)]
				// Fresh ids: a repeated id would be an idempotent no-op.
				batch := make([]eventstore.EventData, len(evs))
				copy(batch, evs)
				for i := range batch {
					batch[i].ID = fastID(uint64(k*size + i))
				}
				if _, err := s.Append(ctx, stream, eventstore.Any(), batch...); err != nil {
					firstErr.Store(&err)
					return
				}
				total.Add(int64(size))
			}
		}(w)
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	if p := firstErr.Load(); p != nil {
		return 0, 0, st, *p
	}
	// Frame bytes made durable (the zeros the store writes ahead of its
	// log while flushes are small are not counted).
	st = s.Stats()
	return float64(total.Load()) / el, float64(st.BytesWritten) / el, st, nil
}

func dirBytes(dir string) (int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range ents {
		if filepath.Ext(e.Name()) == ".seg" {
			info, err := e.Info()
			if err != nil {
				return 0, err
			}
			n += info.Size() - 64
		}
	}
	return n, nil
}

// concurrentResult is what concurrentRun measured.
type concurrentResult struct {
	events       int64
	elapsed      time.Duration
	eventsPerSec float64
	p99Micros    float64
	stats        filestore.Stats // the store's group commits during the run
}

// cycle returns the run's mean group commit: appends in it, the time from
// one commit to the next, and the fdatasync in it (zeros without commits).
func (c concurrentResult) cycle() (events, cycleMicros, fdatasyncMicros float64) {
	st := c.stats
	if st.Fsyncs == 0 {
		return 0, 0, 0
	}
	n := float64(st.Fsyncs)
	return float64(c.events) / n, float64(c.elapsed.Microseconds()) / n, float64(st.SyncTime.Microseconds()) / n
}

// concurrentRun has writers goroutines append single events to a new
// store in dir for d, each waiting for its acknowledgement before the
// next.
func concurrentRun(ctx context.Context, dir string, writers int, d time.Duration) (concurrentResult, error) {
	s, err := filestore.Open(dir, nil)
	if err != nil {
		return concurrentResult{}, err
	}
	defer s.Close()
	var total atomic.Int64
	var seq atomic.Int64
	tmpl := event(0)
	lat := make([][]time.Duration, writers)
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			stream := fmt.Sprintf("stream-%02d", w) // once: the measurement is the store, not fmt
			for time.Since(start) < d {
				e := tmpl
				e.ID = fastID(uint64(seq.Add(1)) + 1<<40)
				t0 := time.Now()
				if _, err := s.Append(ctx, stream, eventstore.Any(), e); err != nil {
					firstErr.Store(&err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
				total.Add(1)
			}
		}(w)
	}
	wg.Wait()
	el := time.Since(start)
	st := s.Stats()
	if p := firstErr.Load(); p != nil {
		return concurrentResult{}, *p
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	return concurrentResult{
		events:       total.Load(),
		elapsed:      el,
		eventsPerSec: float64(total.Load()) / el.Seconds(),
		p99Micros:    float64(percentile(all, 0.99).Microseconds()),
		stats:        st,
	}, nil
}

// readRun reads the whole log in dir from position 1, again and again for
// at least d (a single pass of a few hundred milliseconds moved ±30%
// between runs), and returns events/s, on-disk bytes/s and the events in
// one pass.
func readRun(ctx context.Context, dir string, d time.Duration) (float64, float64, uint64, error) {
	s, err := filestore.Open(dir, &filestore.Options{ReadOnly: true})
	if err != nil {
		return 0, 0, 0, err
	}
	defer s.Close()
	onDisk, err := dirBytes(dir)
	if err != nil {
		return 0, 0, 0, err
	}
	var n, passes uint64
	start := time.Now()
	for passes == 0 || time.Since(start) < d {
		n = 0
		err = s.ReadAll(ctx, 1, func(e *eventstore.RecordedEvent) error {
			n++
			return nil
		})
		if err != nil {
			return 0, 0, 0, err
		}
		passes++
	}
	el := time.Since(start).Seconds()
	return float64(n*passes) / el, float64(onDisk) * float64(passes) / el, n, nil
}

func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[int(q*float64(len(d)-1))]
}
