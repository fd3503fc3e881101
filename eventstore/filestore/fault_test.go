package filestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/eventstoretest"
)

// batchEvents returns n events whose data names their batch, so a reader
// can tell a whole batch from a partial one.
func batchEvents(batch string, n int) []eventstore.EventData {
	evs := eventstoretest.Events(n)
	for i := range evs {
		evs[i].Data = fmt.Appendf(nil, `{"batch":%q,"i":%d,"n":%d}`, batch, i, n)
	}
	return evs
}

type batchInfo struct {
	Batch string `json:"batch"`
	I     int    `json:"i"`
	N     int    `json:"n"`
}

// checkLog reopens nothing: it reads s and checks that positions are
// gap-free, every batch is whole and stored once, and every acknowledged
// batch is there. It returns the batches found.
func checkLog(t *testing.T, s *Store, acked map[string]int) map[string]int {
	t.Helper()
	found := map[string]int{}
	var want uint64 = 1
	err := s.ReadAll(context.Background(), 1, func(e *eventstore.RecordedEvent) error {
		if e.Position != want {
			return fmt.Errorf("position %d, want %d", e.Position, want)
		}
		want++
		var b batchInfo
		if err := json.Unmarshal(e.Data, &b); err != nil {
			return fmt.Errorf("position %d: %v", e.Position, err)
		}
		if b.I != found[b.Batch] {
			return fmt.Errorf("batch %s: event %d where %d expected (repeated or out of order)", b.Batch, b.I, found[b.Batch])
		}
		found[b.Batch]++
		return nil
	})
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	for batch, n := range found {
		var first batchInfo
		_ = first
		if acked[batch] != 0 && acked[batch] != n {
			t.Fatalf("acknowledged batch %s of %d events has %d", batch, acked[batch], n)
		}
	}
	for batch, n := range acked {
		if found[batch] != n {
			t.Fatalf("acknowledged batch %s: %d of %d events after recovery", batch, found[batch], n)
		}
	}
	return found
}

// checkWhole fails if a batch in the log lacks events.
func checkWhole(t *testing.T, s *Store, found map[string]int) {
	t.Helper()
	sizes := map[string]int{}
	_ = s.ReadAll(context.Background(), 1, func(e *eventstore.RecordedEvent) error {
		var b batchInfo
		_ = json.Unmarshal(e.Data, &b)
		sizes[b.Batch] = b.N
		return nil
	})
	for batch, n := range found {
		if sizes[batch] != n {
			t.Fatalf("partial batch %s visible: %d of %d events", batch, n, sizes[batch])
		}
	}
}

func mustVerify(t *testing.T, fs FS, dir string) *VerifyReport {
	t.Helper()
	rep, err := Verify(dir, &Options{FS: fs}, nil)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !rep.OK() {
		t.Fatalf("Verify: %v", rep.Problem)
	}
	return rep
}

const memDir = "/log"

func openMem(t *testing.T, fs *memFS) *Store {
	t.Helper()
	s, err := Open(memDir, &Options{FS: fs, SegmentSize: 2048, ZeroAhead: 600})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// appendSome appends n batches of 1..4 events and returns what was acknowledged.
func appendSome(t *testing.T, s *Store, prefix string, n int, acked map[string]int) error {
	for i := 0; i < n; i++ {
		batch := fmt.Sprintf("%s-%d", prefix, i)
		size := 1 + i%4
		if _, err := s.Append(context.Background(), "stream-"+prefix, eventstore.Any(), batchEvents(batch, size)...); err != nil {
			return err
		}
		acked[batch] = size
	}
	return nil
}

func TestShortWriteIsSticky(t *testing.T) {
	fs := newMemFS()
	s := openMem(t, fs)
	acked := map[string]int{}
	if err := appendSome(t, s, "ok", 10, acked); err != nil {
		t.Fatal(err)
	}
	fs.mu.Lock()
	fs.writeBudget = 40 // the next write stops short, without an error
	fs.mu.Unlock()
	err := appendSome(t, s, "short", 1, acked)
	if !errors.Is(err, ErrWriteFailed) || !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("short write: got %v", err)
	}
	fs.mu.Lock()
	fs.writeBudget = -1
	fs.mu.Unlock()
	if err := appendSome(t, s, "after", 1, acked); !errors.Is(err, ErrWriteFailed) {
		t.Fatalf("append after a failed write must fail (sticky): got %v", err)
	}
	s.Close()
	crashed := fs.crashCopy(-1)
	s = openMem(t, crashed)
	defer s.Close()
	if s.Repaired == "" {
		t.Fatal("the short write's partial frame was not reported as repaired")
	}
	found := checkLog(t, s, acked)
	if found["short-0"] != 0 {
		t.Fatal("the batch of the short write is visible")
	}
	s.Close()
	mustVerify(t, crashed, memDir)
}

func TestFsyncErrorIsSticky(t *testing.T) {
	fs := newMemFS()
	s := openMem(t, fs)
	acked := map[string]int{}
	if err := appendSome(t, s, "ok", 10, acked); err != nil {
		t.Fatal(err)
	}
	fs.mu.Lock()
	fs.failSync = &errorString{"fsync: input/output error"}
	fs.mu.Unlock()
	if err := appendSome(t, s, "unsynced", 1, acked); !errors.Is(err, ErrWriteFailed) || !strings.Contains(err.Error(), "fsync") {
		t.Fatalf("fsync failure: got %v", err)
	}
	fs.mu.Lock()
	fs.failSync = nil
	fs.mu.Unlock()
	// Never retry an fsync and carry on: the data it covered may be lost.
	if err := appendSome(t, s, "later", 1, acked); !errors.Is(err, ErrWriteFailed) {
		t.Fatalf("append after a failed fsync must fail: got %v", err)
	}
	s.Close()
	for _, keep := range []int64{0, 7, -1} {
		crashed := fs.crashCopy(keep)
		s := openMem(t, crashed)
		checkWhole(t, s, checkLog(t, s, acked))
		s.Close()
		mustVerify(t, crashed, memDir)
	}
}

type errorString struct{ s string }

func (e *errorString) Error() string { return e.s }

func TestENOSPC(t *testing.T) {
	fs := newMemFS()
	s := openMem(t, fs)
	acked := map[string]int{}
	if err := appendSome(t, s, "ok", 5, acked); err != nil {
		t.Fatal(err)
	}
	fs.mu.Lock()
	fs.writeBudget, fs.budgetErr = 100, errENOSPC
	fs.mu.Unlock()
	err := appendSome(t, s, "full", 3, acked)
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("ENOSPC: got %v", err)
	}
	if _, err := s.Head(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	crashed := fs.crashCopy(-1)
	s = openMem(t, crashed)
	checkWhole(t, s, checkLog(t, s, acked))
	s.Close()
	mustVerify(t, crashed, memDir)
}

// TestCrashAtEveryByte stops the disk at every byte of a workload (the
// process dies mid-write) and checks recovery each time.
func TestCrashAtEveryByte(t *testing.T) {
	// Measure the workload's size first.
	probe := newMemFS()
	s := openMem(t, probe)
	base := probe.writes
	if err := appendSome(t, s, "w", 12, map[string]int{}); err != nil {
		t.Fatal(err)
	}
	total := probe.writes - base
	s.Close()
	step := int64(1)
	if testing.Short() {
		step = 13
	}
	crash := errors.New("process killed")
	for k := int64(0); k <= total; k += step {
		fs := newMemFS()
		s := openMem(t, fs)
		fs.mu.Lock()
		fs.writeBudget, fs.budgetErr = k, crash
		fs.mu.Unlock()
		acked := map[string]int{}
		_ = appendSome(t, s, "w", 12, acked)
		s.Close()
		// A killed process loses nothing it wrote; a power cut loses
		// what was not fsynced. Try both.
		for _, keep := range []int64{-1, 0} {
			crashed := fs.crashCopy(keep)
			s := openMem(t, crashed)
			checkWhole(t, s, checkLog(t, s, acked))
			s.Close()
			mustVerify(t, crashed, memDir)
		}
	}
}

// TestPowerLossInUnsyncedTail keeps every prefix of a write whose fsync
// never returned.
func TestPowerLossInUnsyncedTail(t *testing.T) {
	fs := newMemFS()
	s := openMem(t, fs)
	acked := map[string]int{}
	if err := appendSome(t, s, "ok", 6, acked); err != nil {
		t.Fatal(err)
	}
	before := fs.writes
	fs.mu.Lock()
	fs.failSync = errors.New("power cut")
	fs.mu.Unlock()
	_ = appendSome(t, s, "lost", 1, acked)
	unsynced := fs.writes - before
	s.Close()
	for keep := int64(0); keep <= unsynced; keep++ {
		crashed := fs.crashCopy(keep)
		s := openMem(t, crashed)
		checkWhole(t, s, checkLog(t, s, acked))
		s.Close()
		mustVerify(t, crashed, memDir)
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = Open(dir, nil)
	if !errors.Is(err, eventstore.ErrLocked) || !strings.Contains(err.Error(), "held by another process") {
		t.Fatalf("second open: got %v, want a locked error", err)
	}
	// Readers beside the writer are fine.
	r, err := Open(dir, &Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open beside the writer: %v", err)
	}
	r.Close()
}
