package filestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/epochledger/epochledger/eventstore"
)

// Tests of failures whose outcome is known (trust issue #18, findings 5-7):
// a write refused for space, a segment file that cannot be created, and
// zeroing ahead on a full disk. The answer an append gets must match what
// the log holds, and none of them may poison the store.

// batchesIn returns the batches the log in fs holds, with their sizes.
func batchesIn(t *testing.T, fs *memFS) map[string]int {
	t.Helper()
	s, err := Open(memDir, &Options{FS: fs, ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open: %v", err)
	}
	defer s.Close()
	found := map[string]int{}
	if err := s.ReadAll(context.Background(), 1, func(e *eventstore.RecordedEvent) error {
		var b batchInfo
		if err := json.Unmarshal(e.Data, &b); err != nil {
			return err
		}
		found[b.Batch]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return found
}

// TestZeroAheadFailureFailsNoCommit: when zeroing ahead fails (no space
// for the zeros) after a commit's frames were written, the commit still
// succeeds; what the appends were told is what the log holds.
func TestZeroAheadFailureFailsNoCommit(t *testing.T) {
	fs := newMemFS()
	s := openZeroAhead(t, fs, 1<<20)
	acked := map[string]int{}
	if err := appendSome(t, s, "before", 3, acked); err != nil {
		t.Fatal(err)
	}
	var zeroFails atomic.Int64
	fs.mu.Lock()
	fs.failWrite = func(name string, off int64, p []byte) error {
		if len(p) >= 512 && strings.Trim(string(p), "\x00") == "" {
			zeroFails.Add(1)
			return &os.PathError{Op: "write", Path: name, Err: syscall.ENOSPC}
		}
		return nil
	}
	fs.mu.Unlock()
	if err := appendSome(t, s, "full", 40, acked); err != nil {
		t.Fatalf("an append failed because zeroing ahead did: %v", err)
	}
	if zeroFails.Load() == 0 {
		t.Fatal("no zeroing ahead was tried: the test proved nothing")
	}
	crashed := fs.crashCopy(-1)
	s.Close()
	for _, img := range []*memFS{crashed, fs} {
		found := batchesIn(t, img)
		for b, n := range acked {
			if found[b] != n {
				t.Fatalf("acknowledged batch %s: %d of %d events", b, found[b], n)
			}
		}
		if len(found) != len(acked) {
			t.Fatalf("the log holds %d batches, %d were acknowledged", len(found), len(acked))
		}
		mustVerify(t, img, memDir)
	}
}

// TestNoSpaceIsCutBackAndNotSticky: a write refused for space is cut back
// to the end of the last commit by the writer itself (the log verifies
// without a reopen), the append is refused with the ENOSPC, and once space
// is free again the same store appends.
func TestNoSpaceIsCutBackAndNotSticky(t *testing.T) {
	fs := newMemFS()
	s := openMem(t, fs)
	acked := map[string]int{}
	if err := appendSome(t, s, "ok", 5, acked); err != nil {
		t.Fatal(err)
	}
	s.mu.RLock()
	seg := s.segs[len(s.segs)-1]
	end := seg.size
	s.mu.RUnlock()
	fs.mu.Lock()
	fs.writeBudget, fs.budgetErr = 100, errENOSPC
	fs.mu.Unlock()
	err := appendSome(t, s, "full", 1, acked)
	if !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, ErrNotStored) || errors.Is(err, ErrWriteFailed) {
		t.Fatalf("append on a full disk: %v", err)
	}
	if size := fs.fileSize(memDir + "/" + seg.name); size != end {
		t.Fatalf("after the refused write the segment is %d bytes, its commits end at %d", size, end)
	}
	rep := mustVerify(t, fs.crashCopy(-1), memDir)
	if rep.TornTail != nil || rep.Tail != "" {
		t.Fatalf("verify after ENOSPC: %+v", rep)
	}
	fs.mu.Lock()
	fs.writeBudget = -1
	fs.mu.Unlock()
	if err := appendSome(t, s, "after", 8, acked); err != nil {
		t.Fatalf("append once space is free: %v", err)
	}
	s.Close()
	found := batchesIn(t, fs)
	if found["full-0"] != 0 {
		t.Fatal("the refused batch is in the log")
	}
	for b, n := range acked {
		if found[b] != n {
			t.Fatalf("acknowledged batch %s: %d of %d events", b, found[b], n)
		}
	}
	mustVerify(t, fs, memDir)
}

// TestSegmentCreationFailureIsNotSticky: a new segment that cannot be
// created (EMFILE: no file descriptor left) fails the appends of that
// commit, with the cause, and nothing else: the next ones start it.
func TestSegmentCreationFailureIsNotSticky(t *testing.T) {
	fs := newMemFS()
	s := openMem(t, fs) // 2 KiB segments
	acked := map[string]int{}
	var fail atomic.Bool
	var failed atomic.Int64
	fs.mu.Lock()
	fs.failOpen = func(name string, flag int) error {
		if fail.Load() && strings.HasSuffix(name, ".seg.tmp") {
			failed.Add(1)
			return &os.PathError{Op: "open", Path: name, Err: syscall.EMFILE}
		}
		return nil
	}
	fs.mu.Unlock()
	if err := appendSome(t, s, "a", 6, acked); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	var err error
	for i := 0; err == nil && i < 100; i++ {
		err = appendSome(t, s, fmt.Sprintf("b%d", i), 1, acked)
	}
	if !errors.Is(err, syscall.EMFILE) || !errors.Is(err, ErrNotStored) || errors.Is(err, ErrWriteFailed) || failed.Load() == 0 {
		t.Fatalf("append that needs a new segment, without file descriptors: %v", err)
	}
	fail.Store(false)
	if err := appendSome(t, s, "c", 10, acked); err != nil {
		t.Fatalf("append after EMFILE passed: %v", err)
	}
	s.Close()
	found := batchesIn(t, fs)
	if len(found) != len(acked) {
		t.Fatalf("the log holds %d batches, %d were acknowledged", len(found), len(acked))
	}
	for b, n := range acked {
		if found[b] != n {
			t.Fatalf("acknowledged batch %s: %d of %d events", b, found[b], n)
		}
	}
	mustVerify(t, fs, memDir)
}

// TestTransientFailuresUnderLoad: many concurrent writers (small and
// batched appends, some retrying an id already stored) while segment
// creations fail with EMFILE and writes with ENOSPC at random. Every
// append is either acknowledged and in the log once, or refused and not
// in it at all; the store keeps appending, and the log verifies and
// reopens with the same content.
func TestTransientFailuresUnderLoad(t *testing.T) {
	fs := newMemFS()
	s, err := Open(memDir, &Options{FS: fs, SegmentSize: 8192, ZeroAhead: 2048})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 24))
	var rmu sync.Mutex
	chance := func(p float64) bool {
		rmu.Lock()
		defer rmu.Unlock()
		return rng.Float64() < p
	}
	fs.mu.Lock()
	fs.failOpen = func(name string, flag int) error {
		if strings.HasSuffix(name, ".seg.tmp") && chance(0.3) {
			return &os.PathError{Op: "open", Path: name, Err: syscall.EMFILE}
		}
		return nil
	}
	fs.failWrite = func(name string, off int64, p []byte) error {
		if strings.HasSuffix(name, ".seg") && chance(0.05) {
			return &os.PathError{Op: "write", Path: name, Err: syscall.ENOSPC}
		}
		return nil
	}
	fs.mu.Unlock()
	var mu sync.Mutex
	acked, refused := map[string]int{}, map[string]bool{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 60 {
				batch := fmt.Sprintf("w%d-%d", w, i)
				n := 1 + (i*7+w)%4
				if w%3 == 0 {
					n = 10 + i%20 // staged by the appender itself
				}
				evs := batchEvents(batch, n)
				_, err := s.Append(context.Background(), fmt.Sprintf("load-%d", w), eventstore.Any(), evs...)
				if err != nil && !errors.Is(err, ErrNotStored) {
					t.Errorf("append %s: %v (a known failure became another)", batch, err)
					return
				}
				mu.Lock()
				if err != nil {
					refused[batch] = true
				} else {
					acked[batch] = n
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(refused) == 0 || len(acked) == 0 {
		t.Fatalf("%d acknowledged, %d refused: the faults were not exercised", len(acked), len(refused))
	}
	// The same store, the faults gone, still appends.
	fs.mu.Lock()
	fs.failOpen, fs.failWrite = nil, nil
	fs.mu.Unlock()
	if err := appendSome(t, s, "end", 5, acked); err != nil {
		t.Fatalf("append after the faults: %v", err)
	}
	s.Close()
	for round, img := range []*memFS{fs, fs.crashCopy(-1)} {
		found := batchesIn(t, img)
		for b := range refused {
			if found[b] != 0 {
				t.Fatalf("round %d: refused batch %s is in the log (%d events)", round, b, found[b])
			}
		}
		for b, n := range acked {
			if found[b] != n {
				t.Fatalf("round %d: acknowledged batch %s: %d of %d events", round, b, found[b], n)
			}
		}
		mustVerify(t, img, memDir)
		o, err := Open(memDir, &Options{FS: img})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		checkWhole(t, o, checkLog(t, o, acked))
		o.Close()
	}
	t.Logf("%d batches acknowledged, %d refused", len(acked), len(refused))
}
