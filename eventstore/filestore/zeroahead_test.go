package filestore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/epochledger/epochledger/eventstore"
)

// Tests of the space the writer zeroes ahead of the log (Options.ZeroAhead).

func openZeroAhead(t *testing.T, fs *memFS, segSize int64) *Store {
	t.Helper()
	s, err := Open(memDir, &Options{FS: fs, SegmentSize: segSize, ZeroAhead: 4096})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// fileSize is the length of a file of fs.
func (m *memFS) fileSize(name string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.files[name].data))
}

// TestZeroAheadOnlyInNewestSegment: small flushes leave zeros past the
// newest segment's frames; every older segment is cut to its frames when
// the writer leaves it, and a clean Close cuts the newest too.
func TestZeroAheadOnlyInNewestSegment(t *testing.T) {
	fs := newMemFS()
	s := openZeroAhead(t, fs, 1500)
	acked := map[string]int{}
	if err := appendSome(t, s, "z", 40, acked); err != nil {
		t.Fatal(err)
	}
	s.mu.RLock()
	segs := append([]*segment(nil), s.segs...)
	s.mu.RUnlock()
	if len(segs) < 3 {
		t.Fatalf("want several segments, got %d", len(segs))
	}
	for i, seg := range segs {
		size := fs.fileSize(memDir + "/" + seg.name)
		newest := i == len(segs)-1
		if newest && size <= seg.size {
			t.Fatalf("newest segment %s: file %d bytes, frames end at %d: nothing zeroed ahead", seg.name, size, seg.size)
		}
		if !newest && size != seg.size {
			t.Fatalf("older segment %s: file %d bytes, frames end at %d", seg.name, size, seg.size)
		}
	}
	// A crash now leaves the zeros: recovery and Verify take them for the
	// clean end they are.
	crashed := fs.crashCopy(0)
	if rep := mustVerify(t, crashed, memDir); rep.Tail != "" {
		t.Fatalf("verify noted a tail: %q", rep.Tail)
	}
	c := openZeroAhead(t, crashed, 1500)
	if c.Repaired != "" {
		t.Fatalf("zeros reported as a torn tail: %s", c.Repaired)
	}
	checkWhole(t, c, checkLog(t, c, acked))
	c.Close()

	s.Close()
	last := segs[len(segs)-1]
	if size := fs.fileSize(memDir + "/" + last.name); size != last.size {
		t.Fatalf("after Close the newest segment is %d bytes, its frames end at %d", size, last.size)
	}
	mustVerify(t, fs, memDir)
}

// TestBatchedAppendsWriteNoZeros: a flush of lingerMaxBytes or more
// writes past the end of the file and zeroes nothing ahead.
func TestBatchedAppendsWriteNoZeros(t *testing.T) {
	fs := newMemFS()
	s := openZeroAhead(t, fs, 64<<20)
	defer s.Close()
	big := batchEvents("big", 2000)
	if _, err := s.Append(t.Context(), "s", eventstore.Any(), big...); err != nil {
		t.Fatal(err)
	}
	s.mu.RLock()
	seg := s.segs[len(s.segs)-1]
	s.mu.RUnlock()
	if st := s.Stats(); st.BytesWritten < lingerMaxBytes {
		t.Fatalf("the batch is only %d bytes", st.BytesWritten)
	}
	if size := fs.fileSize(memDir + "/" + seg.name); size != seg.size {
		t.Fatalf("file %d bytes, frames end at %d: a large flush zeroed ahead", size, seg.size)
	}
}

// TestPowerLossOutOfOrderSectors: a power cut before a flush's fdatasync
// returns may leave any subset of the sectors it wrote (the device
// persists them in any order; those lost read as the zeros written
// ahead). Recovery must keep every acknowledged event, show no part of an
// unacknowledged batch, and leave a log that verifies.
func TestPowerLossOutOfOrderSectors(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	rounds := 300
	if testing.Short() {
		rounds = 60
	}
	var cut, kept int // rounds that cut a torn tail, rounds that kept a lost batch
	for round := range rounds {
		fs := newMemFS()
		s := openZeroAhead(t, fs, 1<<20)
		acked := map[string]int{}
		if err := appendSome(t, s, "ok", 1+rng.IntN(8), acked); err != nil {
			t.Fatal(err)
		}
		fs.mu.Lock()
		fs.failSync = errors.New("power cut")
		fs.mu.Unlock()
		// Several writers, so that one lost flush holds several batches.
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Go(func() { _ = appendSome(t, s, fmt.Sprintf("lost%d", w), 2, map[string]int{}) })
		}
		wg.Wait()
		s.Close()
		p := rng.Float64()
		crashed := fs.crashSectors(func() bool { return rng.Float64() < p })
		c, err := Open(memDir, &Options{FS: crashed, ZeroAhead: 4096})
		if err != nil {
			t.Fatalf("round %d: open after the power cut: %v", round, err)
		}
		found := checkLog(t, c, acked)
		checkWhole(t, c, found)
		if c.Repaired != "" {
			cut++
		}
		if len(found) > len(acked) {
			kept++
		}
		c.Close()
		mustVerify(t, crashed, memDir)
	}
	// Both outcomes must occur, or the rounds tested little.
	if cut == 0 || kept == 0 {
		t.Fatalf("of %d rounds %d cut a torn tail and %d kept an unacknowledged batch", rounds, cut, kept)
	}
	t.Logf("%d rounds: %d cut a torn tail, %d kept an unacknowledged batch", rounds, cut, kept)
}
