package filestore

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/epochledger/epochledger/eventstore"
)

// TestEarlyWrites: a large append into an idle log is written in several
// chunks while it is sealed (early.go), and the log it leaves holds every
// event, in order, with a hash chain and CRCs that verify, as one
// written in one piece does.
func TestEarlyWrites(t *testing.T) {
	fs := newMemFS()
	var writes atomic.Int64
	fs.failWrite = func(name string, off int64, p []byte) error {
		if strings.HasSuffix(name, ".seg") {
			writes.Add(1)
		}
		return nil
	}
	s := openMem(t, fs)
	const batches, size = 3, 1000
	for b := range batches {
		evs := benchEvents(b*size, size)
		if _, err := s.Append(context.Background(), "s", eventstore.Any(), evs...); err != nil {
			t.Fatal(err)
		}
	}
	// Each batch is over 128 KiB: written early in chunks of 64 KiB, plus
	// the rest with its commit.
	if n := writes.Load(); n <= batches {
		t.Fatalf("%d segment writes for %d large batches: none was written early", n, batches)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rep := mustVerify(t, fs, memDir)
	if rep.TornTail != nil || rep.Tail != "" {
		t.Fatalf("verify: %+v", rep)
	}
	s = openMem(t, fs)
	defer s.Close()
	var want []eventstore.EventData
	for b := range batches {
		want = append(want, benchEvents(b*size, size)...)
	}
	n := 0
	err := s.ReadAll(context.Background(), 1, func(e *eventstore.RecordedEvent) error {
		w := want[n]
		if e.Position != uint64(n+1) || e.ID != w.ID || string(e.Data) != string(w.Data) {
			t.Fatalf("event %d: position %d id %s, want %d %s", n, e.Position, e.ID, n+1, w.ID)
		}
		n++
		return nil
	})
	if err != nil || n != batches*size {
		t.Fatalf("read back %d events: %v", n, err)
	}
}

// TestEarlyWriteNoSpace: an early write refused for space fails its
// append as a refused write in the commit does (not stored, not sticky),
// and cuts the early bytes back off: the log ends at its last commit and
// verifies clean, and later appends are stored.
func TestEarlyWriteNoSpace(t *testing.T) {
	fs := newMemFS()
	s := openMem(t, fs)
	defer s.Close()
	if _, err := s.Append(context.Background(), "s", eventstore.Any(), benchEvents(0, 10)...); err != nil {
		t.Fatal(err)
	}
	s.mu.RLock()
	seg := s.segs[len(s.segs)-1]
	end := seg.size
	s.mu.RUnlock()
	fs.mu.Lock()
	fs.writeBudget, fs.budgetErr = 100, errENOSPC
	fs.mu.Unlock()
	_, err := s.Append(context.Background(), "s", eventstore.Any(), benchEvents(10, 1000)...)
	if !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, ErrNotStored) || errors.Is(err, ErrWriteFailed) {
		t.Fatalf("large append on a full disk: %v", err)
	}
	if size := fs.fileSize(memDir + "/" + seg.name); size != end {
		t.Fatalf("after the refused write the segment is %d bytes, its commits end at %d", size, end)
	}
	if rep := mustVerify(t, fs.crashCopy(-1), memDir); rep.TornTail != nil || rep.Tail != "" {
		t.Fatalf("verify after ENOSPC: %+v", rep)
	}
	fs.mu.Lock()
	fs.writeBudget = -1
	fs.mu.Unlock()
	r, err := s.Append(context.Background(), "s", eventstore.Any(), benchEvents(10, 1000)...)
	if err != nil || r.FirstPosition != 11 || r.LastPosition != 1010 {
		t.Fatalf("append once space is free: %+v, %v", r, err)
	}
}
