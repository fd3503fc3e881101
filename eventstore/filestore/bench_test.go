package filestore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

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
	evs := benchEvents(0, b.N+64)
	var next atomic.Int64
	b.SetParallelism(32) // 64 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			if _, err := s.Append(context.Background(), fmt.Sprintf("s-%d", i%64), eventstore.Any(), evs[i]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	// A full group commit holds one append of each of the 64 writers.
	if st := s.Stats(); st.Fsyncs > 0 {
		b.ReportMetric(float64(b.N)/float64(st.Fsyncs), "events/fsync")
		b.ReportMetric(float64(st.Fsyncs)/b.Elapsed().Seconds(), "fsyncs/s")
	}
}

// BenchmarkEncodeCPU measures the store's CPU per event without a disk
// (in-memory FS): what bounds batched appends once fsyncs are amortized.
func BenchmarkEncodeCPU(b *testing.B) {
	s, err := Open("/log", &Options{FS: newMemFS(), SegmentSize: 1 << 30})
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
