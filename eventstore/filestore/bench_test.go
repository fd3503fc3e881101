package filestore

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/epochledger/epochledger/eventstore"
)

func benchEvents(start, n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = eventstore.EventData{
			ID:   fmt.Sprintf("00000000-0000-4000-8000-%012x", start+i),
			Type: "FrameAccepted",
			Time: "2024-01-03T10:00:00Z",
			Data: fmt.Appendf(nil, `{"job_id":"job-%06d","frame":%d,"node_id":"node-%04d","reason":"","pad":"%0100d"}`, i%100000, i%1000, i%512, 0),
		}
	}
	return out
}

// BenchmarkAppend measures durable appends of batches of several sizes;
// b.SetBytes counts the events' content bytes.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch%d", size), func(b *testing.B) {
			s, err := Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			evs := benchEvents(0, size*(b.N+1))
			var bytes int64
			for _, e := range evs[:size] {
				bytes += int64(len(e.ID) + len(e.Type) + len(e.Time) + len(e.Data))
			}
			b.SetBytes(bytes)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.Append(context.Background(), "s", eventstore.Any(), evs[i*size:(i+1)*size]...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkRawWriteFsync is the physical limit the appends compare to:
// the same chunk sizes written and fsynced on the same disk.
func BenchmarkRawWriteFsync(b *testing.B) {
	for _, chunk := range []int{250, 25000, 250000} {
		b.Run(fmt.Sprintf("chunk%d", chunk), func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, chunk)
			b.SetBytes(int64(chunk))
			for i := 0; i < b.N; i++ {
				f.Write(buf)
				f.Sync()
			}
		})
	}
}

func BenchmarkReadAll(b *testing.B) {
	dir := b.TempDir()
	s, _ := Open(dir, nil)
	evs := benchEvents(0, 100000)
	for i := 0; i < len(evs); i += 1000 {
		s.Append(context.Background(), "s", eventstore.Any(), evs[i:i+1000]...)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		s.ReadAll(context.Background(), 1, func(*eventstore.RecordedEvent) error { n++; return nil })
	}
	b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
	s.Close()
}

// BenchmarkConcurrent64 measures group commit: 64 goroutines appending
// single events.
func BenchmarkConcurrent64(b *testing.B) {
	s, err := Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	concurrent64(b, s)
	reportCommitCycle(b, s.Stats())
}

// reportCommitCycle reports a 64-writer run's group commits: how many
// appends each held (64 when every writer was in) and how its cycle split
// between the fdatasync and the rest (the writers coming back with their
// next appends, staging, the write).
func reportCommitCycle(b *testing.B, st Stats) {
	if st.Fsyncs == 0 {
		return
	}
	b.ReportMetric(float64(b.N)/float64(st.Fsyncs), "events/fsync")
	b.ReportMetric(float64(st.Fsyncs)/b.Elapsed().Seconds(), "fsyncs/s")
	cycle := b.Elapsed().Seconds() / float64(st.Fsyncs) * 1e6
	sync := st.SyncTime.Seconds() / float64(st.Fsyncs) * 1e6
	b.ReportMetric(sync, "fdatasync-us")
	b.ReportMetric(cycle-sync, "rest-us")
}

// BenchmarkConcurrent64Sleep is BenchmarkConcurrent64 with a fixed 250
// µs for each fdatasync (slowSyncFS) and no bytes written: its rest-us is
// the part of a commit cycle that is not the disk's, measured without the
// disk's noise (on the virtual disks measured so far a commit's fdatasync
// moved 2x within minutes).
func BenchmarkConcurrent64Sleep(b *testing.B) {
	fs := slowSyncFS{nullFS{newMemFS()}, 250 * time.Microsecond}
	s, err := Open("/log", &Options{FS: fs, SegmentSize: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	concurrent64(b, s)
	reportCommitCycle(b, s.Stats())
}

// nullFS is an in-memory FS whose segments opened for writing keep no
// bytes and sync at once: benchmarks of the store's CPU, without a disk
// and without the cost of keeping every byte in memory.
type nullFS struct{ *memFS }

func (n nullFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := n.memFS.OpenFile(name, flag, perm)
	if err != nil || flag&(os.O_WRONLY|os.O_RDWR) == 0 || !strings.HasSuffix(name, ".seg") {
		return f, err
	}
	size, _ := f.Size()
	return &nullFile{File: f, size: size}, nil
}

type nullFile struct {
	File
	size int64
}

func (f *nullFile) WriteAt(p []byte, off int64) (int, error) {
	f.size = max(f.size, off+int64(len(p)))
	return len(p), nil
}
func (f *nullFile) Write(p []byte) (int, error) { return f.WriteAt(p, f.size) }
func (f *nullFile) Sync() error                 { return nil }
func (f *nullFile) Datasync() error             { return nil }
func (f *nullFile) Truncate(n int64) error      { f.size = n; return nil }
func (f *nullFile) Size() (int64, error)        { return f.size, nil }

// BenchmarkEncodeCPU measures the store's CPU per event without a disk
// (nullFS): what bounds batched appends once fsyncs are amortized.
func BenchmarkEncodeCPU(b *testing.B) {
	s, err := Open("/log", &Options{FS: nullFS{newMemFS()}, SegmentSize: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const size = 1000
	evs := benchEvents(0, size*(b.N/size+1))
	b.ResetTimer()
	for i := 0; i+size <= b.N || i == 0; i += size {
		if _, err := s.Append(context.Background(), "s", eventstore.Any(), evs[i:i+size]...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkParallelBatchCPU has 16 goroutines append batches of 1,000
// events on nullFS: the CPU of bench store's headline case (staging is
// serial, encoding is not), without a disk.
func BenchmarkParallelBatchCPU(b *testing.B) {
	s, err := Open("/log", &Options{FS: nullFS{newMemFS()}, SegmentSize: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const size, appenders = 1000, 16
	n := (b.N/size + 1) * size
	evs := benchEvents(0, n)
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range appenders {
		wg.Go(func() {
			stream := fmt.Sprintf("s-%d", w)
			for {
				i := int(next.Add(size)) - size
				if i+size > n {
					return
				}
				if _, err := s.Append(context.Background(), stream, eventstore.Any(), evs[i:i+size]...); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkConcurrent64CPU is BenchmarkConcurrent64 without a disk
// (nullFS): the CPU and hand-offs of single-event appends through staging
// and the flusher, which the writers of a group commit wait for between
// two fsyncs.
func BenchmarkConcurrent64CPU(b *testing.B) {
	s, err := Open("/log", &Options{FS: nullFS{newMemFS()}, SegmentSize: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	concurrent64(b, s)
}

// concurrent64 appends b.N single events to s from 64 goroutines and
// reports events/s.
func concurrent64(b *testing.B, s *Store) {
	evs := benchEvents(0, b.N+64)
	streams := make([]string, 64)
	for i := range streams {
		streams[i] = fmt.Sprintf("s-%d", i)
	}
	var next atomic.Int64
	// RunParallel starts parallelism × GOMAXPROCS goroutines: 64 with -cpu
	// 1, 2 or 4 (with -cpu 1 this used to be 32).
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			if _, err := s.Append(context.Background(), streams[i%64], eventstore.Any(), evs[i]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkOneAppender is peerbench's workload A and bench store's
// one-appender figure: one goroutine appending batches of 1,000 fresh
// events, each waiting for its fdatasync. Half of b.N's batches are
// measured raw (write+fdatasync of the same bytes, appended to a new
// file) before the appends and half after, so ratio-to-raw compares the
// store with the disk around it.
func BenchmarkOneAppender(b *testing.B) {
	const size = 1000
	dir := b.TempDir()
	s, err := Open(filepath.Join(dir, "log"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tmpl := benchEvents(0, size)
	batch := make([]eventstore.EventData, size)
	id := []byte("00000000-0000-4000-8000-000000000000")
	fresh := func(k int) {
		copy(batch, tmpl)
		for i := range batch {
			n := uint64(k*size + i)
			for j := len(id) - 1; j >= 24; j-- {
				id[j] = "0123456789abcdef"[n&15]
				n >>= 4
			}
			batch[i].ID = string(id)
		}
	}
	fresh(0)
	if _, err := s.Append(context.Background(), "s", eventstore.Any(), batch...); err != nil {
		b.Fatal(err)
	}
	chunk := int(s.Stats().BytesWritten)
	var rawSync time.Duration
	raw := func(name string, n int) time.Duration {
		f, err := OSFS{}.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, chunk)
		start := time.Now()
		for i := range n {
			if _, err := f.WriteAt(buf, int64(i*chunk)); err != nil {
				b.Fatal(err)
			}
			t := time.Now()
			if err := f.Datasync(); err != nil {
				b.Fatal(err)
			}
			rawSync += time.Since(t)
		}
		return time.Since(start)
	}
	b.ResetTimer()
	b.StopTimer()
	rawTime := raw("raw-before", b.N/2+1)
	var appendTime time.Duration
	before := s.Stats()
	for i := 0; i < b.N; i++ {
		fresh(i + 1)
		start := time.Now()
		if _, err := s.Append(context.Background(), "s", eventstore.Any(), batch...); err != nil {
			b.Fatal(err)
		}
		appendTime += time.Since(start)
	}
	rawTime += raw("raw-after", b.N-b.N/2)
	b.ReportMetric(float64(b.N*size)/appendTime.Seconds(), "events/s")
	b.ReportMetric(float64(b.N+1)/rawTime.Seconds()*size, "raw-events/s")
	b.ReportMetric(rawTime.Seconds()/float64(b.N+1)/(appendTime.Seconds()/float64(b.N)), "ratio-to-raw")
	// The mean fdatasync of the store's commits and of the raw loop's: the
	// store's includes what its own work beside the fdatasync costs it
	// (the chain hashes and the id tables' growth on the other core).
	after := s.Stats()
	b.ReportMetric(float64((after.SyncTime-before.SyncTime).Microseconds())/float64(after.Fsyncs-before.Fsyncs), "sync-us")
	b.ReportMetric(float64(rawSync.Microseconds())/float64(b.N+1), "raw-sync-us")
}

// BenchmarkOneAppenderFloor is the least any store keeping this format's
// promises can do for workload A, measured against raw write+fdatasync of
// the same bytes as BenchmarkOneAppender is. One goroutine encodes a
// batch of 1,000 events into frames, seals them (positions, revisions,
// the CRC chain), writes them and waits for their fdatasync; no id index,
// no stream index, no hand-off to a flusher. The sub-benchmarks add the
// chain hashes, which the format and every recorded log_head fix (each is
// SHA-256 of the one before and the next payload, so they cannot be
// computed in parallel):
//
//   - format: no chain hashes.
//   - chain-beside-fdatasync: hashed on another goroutine while the
//     fdatasync runs, as the store's chainer does.
//   - chain-before-write: hashed by the appender before the write.
//
// Their ratio-to-raw bounds what the store's can reach on the machine it
// runs on (docs/benchmarks.md).
func BenchmarkOneAppenderFloor(b *testing.B) {
	for _, mode := range []string{"format", "chain-beside-fdatasync", "chain-before-write"} {
		b.Run(mode, func(b *testing.B) { oneAppenderFloor(b, mode) })
	}
}

func oneAppenderFloor(b *testing.B, mode string) {
	const size = 1000
	dir := b.TempDir()
	batch := benchEvents(0, size)
	frames := make([]byte, 0, size*512)
	encode := func(pos uint64, crc uint32) ([]byte, uint32) {
		frames = frames[:0]
		for i := range batch {
			frames = encodeFrame(frames, "s", &batch[i])
		}
		for f := frames; len(f) > 0; pos++ {
			fl := frameOverhead + int(binary.LittleEndian.Uint32(f))
			kind := byte(kindContinue)
			if fl == len(f) {
				kind = kindCommit
			}
			crc = sealFrame(f[:fl], kind, pos, pos, crc)
			f = f[fl:]
		}
		return frames, crc
	}
	d := newChainDigest()
	g := newGroup(0)
	chain := func(frames []byte) { // the flusher's loop, on one chunk
		g.chunks = append(g.chunks[:0], frames)
		chainGroups(d, []*group{g}, g.hash)
	}
	first, _ := encode(1, 0)
	chunk := len(first)
	var rawSync, floorSync time.Duration
	loop := func(name string, n int, work bool) time.Duration {
		f, err := OSFS{}.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, chunk)
		var crc uint32
		hashed := make(chan struct{})
		start := time.Now()
		for i := range n {
			if work {
				buf, crc = encode(uint64(i*size+1), crc)
				if mode == "chain-before-write" {
					chain(buf)
				}
			}
			if _, err := f.WriteAt(buf, int64(i*chunk)); err != nil {
				b.Fatal(err)
			}
			t := time.Now()
			beside := work && mode == "chain-beside-fdatasync"
			if beside {
				go func() { chain(buf); hashed <- struct{}{} }()
			}
			if err := f.Datasync(); err != nil {
				b.Fatal(err)
			}
			if beside {
				<-hashed
			}
			if work {
				floorSync += time.Since(t)
			} else {
				rawSync += time.Since(t)
			}
		}
		return time.Since(start)
	}
	b.ResetTimer()
	rawTime := loop("raw-before", b.N/2+1, false)
	floorTime := loop("floor", b.N, true)
	rawTime += loop("raw-after", b.N-b.N/2, false)
	b.ReportMetric(float64(b.N*size)/floorTime.Seconds(), "events/s")
	b.ReportMetric(float64(b.N+1)/rawTime.Seconds()*size, "raw-events/s")
	b.ReportMetric(rawTime.Seconds()/float64(b.N+1)/(floorTime.Seconds()/float64(b.N)), "ratio-to-raw")
	// sync-us is the fdatasync and, beside it, the wait for the hashes.
	b.ReportMetric(float64(floorSync.Microseconds())/float64(b.N), "sync-us")
	b.ReportMetric(float64(rawSync.Microseconds())/float64(b.N+1), "raw-sync-us")
}
