package filestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/eventstoretest"
)

// chainFS recomputes the chain hash of every committed event of the log
// in dir on fs from its frames (either version), stopping at the first
// bad frame of the newest segment (zeros ahead, a torn tail).
func chainFS(t *testing.T, fs FS, dir string) [][32]byte {
	t.Helper()
	names, _, err := listSegments(fs, dir)
	if err != nil {
		t.Fatal(err)
	}
	var hashes [][32]byte
	var prev [32]byte
	for i, name := range names {
		f, err := fs.OpenFile(filepath.Join(dir, name), os.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		size, _ := f.Size()
		b := make([]byte, size)
		if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		f.Close()
		h, seed, err := decodeHeader(b)
		if err != nil || h.prevHash != prev {
			t.Fatalf("%s: header %v, or its chain hash (%x) does not continue the segment before (%x)", name, err, h.prevHash[:4], prev[:4])
		}
		sc := newFrameScanner(bytesReaderAt(b), int64(len(b)), headerSize, seed, h.version)
		var pending [][32]byte
		for {
			kind, p, _, err := sc.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if i == len(names)-1 {
					break
				}
				t.Fatalf("%s: %v", name, err)
			}
			prev = chainHash(&prev, h.version, p)
			pending = append(pending, prev)
			if kind == kindCommit {
				hashes = append(hashes, pending...)
				pending = pending[:0]
			}
		}
		if len(pending) > 0 {
			t.Fatalf("%s: batch without its commit frame", name)
		}
	}
	return hashes
}

type headAt struct {
	pos  uint64
	hash [32]byte
}

func headHash(t *testing.T, s *Store) headAt {
	t.Helper()
	pos, h, err := s.HeadHash(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return headAt{pos, h}
}

func checkHeads(t *testing.T, chain [][32]byte, heads []headAt) {
	t.Helper()
	for _, h := range heads {
		if h.pos == 0 {
			if h.hash != ([32]byte{}) {
				t.Fatalf("HeadHash of an empty log is %x", h.hash[:8])
			}
			continue
		}
		if h.pos > uint64(len(chain)) {
			t.Fatalf("HeadHash at %d, the log holds %d events", h.pos, len(chain))
		}
		if chain[h.pos-1] != h.hash {
			t.Fatalf("HeadHash at %d is %x, the chain has %x", h.pos, h.hash[:8], chain[h.pos-1][:8])
		}
	}
}

// bigEvents returns n events of about size bytes of data each.
func bigEvents(n, size int) []eventstore.EventData {
	evs := eventstoretest.Events(n)
	pad := strings.Repeat("x", size)
	for i := range evs {
		evs[i].Data = fmt.Appendf(nil, `{"i":%d,"pad":%q}`, i, pad)
	}
	return evs
}

// TestReviewHeadHashMixedLog: a version 1 log continued by large commits
// (hashed by the chainer) and small ones (by the flusher) across several
// rolls: HeadHash after every append, read-only HeadHash beside the
// writer, after Close and after reopening are the chain's.
func TestReviewHeadHashMixedLog(t *testing.T) {
	dir := golden(t, "", "good")
	s, err := Open(dir, &Options{SegmentSize: 200 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	heads := []headAt{headHash(t, s)}
	for i := range 12 {
		var evs []eventstore.EventData
		if i%3 == 2 {
			evs = batchEvents(fmt.Sprintf("small-%d", i), 2)
		} else {
			evs = bigEvents(300, 300) // > chainAsyncBytes
		}
		if _, err := s.Append(ctx, fmt.Sprintf("s-%d", i%4), eventstore.Any(), evs...); err != nil {
			t.Fatal(err)
		}
		heads = append(heads, headHash(t, s))
		if i == 6 {
			ro, err := Open(dir, &Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := headHash(t, ro); got != heads[len(heads)-1] {
				t.Fatalf("read-only beside the writer: %d %x, the writer's %d %x", got.pos, got.hash[:8], heads[len(heads)-1].pos, heads[len(heads)-1].hash[:8])
			}
			ro.Close()
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	vs := segVersions(t, dir)
	if len(vs) < 5 || vs[0] != 1 || vs[len(vs)-1] != 2 {
		t.Fatalf("segment versions %v", vs)
	}
	chain := chainFS(t, OSFS{}, dir)
	checkHeads(t, chain, heads)
	last := heads[len(heads)-1]
	for _, ro := range []bool{false, true} {
		s, err := Open(dir, &Options{ReadOnly: ro})
		if err != nil {
			t.Fatal(err)
		}
		if got := headHash(t, s); got != last {
			t.Fatalf("reopened (read-only %v): %d %x, want %d %x", ro, got.pos, got.hash[:8], last.pos, last.hash[:8])
		}
		s.Close()
	}
	if rep := mustVerify(t, OSFS{}, dir); rep.HeadHash != fmt.Sprintf("%x", last.hash) {
		t.Fatalf("verify head hash %s", rep.HeadHash)
	}
}

// TestReviewNoSpaceInNewSegment: the first write into a freshly started
// segment is refused for space (ErrNotStored; the segment stays, empty);
// the next append goes into it, and HeadHash, the log and the reopened
// log agree.
func TestReviewNoSpaceInNewSegment(t *testing.T) {
	fs := newMemFS()
	s := openMem(t, fs)
	acked := map[string]int{}
	var heads []headAt
	active := func() (string, int64, int) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		seg := s.segs[len(s.segs)-1]
		return seg.name, seg.size, len(s.segs)
	}
	for {
		if err := appendSome(t, s, fmt.Sprintf("a%d", len(heads)), 1, acked); err != nil {
			t.Fatal(err)
		}
		heads = append(heads, headHash(t, s))
		if _, size, _ := active(); size >= s.opts.SegmentSize {
			break
		}
	}
	oldName, _, nsegs := active()
	var refused atomic.Int64
	fs.mu.Lock()
	fs.failWrite = func(name string, off int64, p []byte) error {
		if off == headerSize && !strings.HasSuffix(name, oldName) && strings.HasSuffix(name, ".seg") && refused.Add(1) == 1 {
			return &os.PathError{Op: "write", Path: name, Err: syscall.ENOSPC}
		}
		return nil
	}
	fs.mu.Unlock()
	err := appendSome(t, s, "full", 1, acked)
	if !errors.Is(err, ErrNotStored) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append into the new segment on a full disk: %v", err)
	}
	if name, _, n := active(); n != nsegs+1 || name == oldName {
		t.Fatalf("after the refused write: %d segments (was %d), active %s", n, nsegs, name)
	}
	heads = append(heads, headHash(t, s))
	if err := appendSome(t, s, "after", 6, acked); err != nil {
		t.Fatal(err)
	}
	heads = append(heads, headHash(t, s))
	checkHeads(t, chainFS(t, fs, memDir), heads)
	crashed := fs.crashCopy(-1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, img := range []*memFS{crashed, fs} {
		mustVerify(t, img, memDir)
		s2, err := Open(memDir, &Options{FS: img})
		if err != nil {
			t.Fatal(err)
		}
		if got := headHash(t, s2); got != heads[len(heads)-1] {
			t.Fatalf("reopened: %d %x, want %d %x", got.pos, got.hash[:8], heads[len(heads)-1].pos, heads[len(heads)-1].hash[:8])
		}
		checkLog(t, s2, acked)
		s2.Close()
	}
}

// TestReviewCommitRecordInOlderSegment: a commit record that lags behind
// by a few segments (its updates are not synced) still opens, with the
// head and head hash of the log.
func TestReviewCommitRecordInOlderSegment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	s, err := Open(dir, &Options{SegmentSize: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	acked := map[string]int{}
	if err := appendSome(t, s, "a", 30, acked); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(filepath.Join(dir, commitRecordName))
	if err != nil {
		t.Fatal(err)
	}
	if err := appendSome(t, s, "b", 60, acked); err != nil {
		t.Fatal(err)
	}
	want := headHash(t, s)
	crashed := filepath.Join(t.TempDir(), "log")
	copyDir(t, dir, crashed)
	s.Close()
	if err := os.WriteFile(filepath.Join(crashed, commitRecordName), old, 0o644); err != nil {
		t.Fatal(err)
	}
	rep := mustVerify(t, OSFS{}, crashed)
	if rep.Segments < 4 {
		t.Fatalf("only %d segments: the test misses its case", rep.Segments)
	}
	s2, err := Open(crashed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := headHash(t, s2); got != want {
		t.Fatalf("reopened: %d %x, want %d %x", got.pos, got.hash[:8], want.pos, want.hash[:8])
	}
	s2.Close()
}

// TestReviewNoGoroutineLeft: Close stops the flusher, the chainer and the
// grower, also after a sticky fdatasync failure of a large commit.
func TestReviewNoGoroutineLeft(t *testing.T) {
	before := runtime.NumGoroutine()
	fs := newMemFS()
	s, err := Open(memDir, &Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 3 {
		if _, err := s.Append(ctx, "s", eventstore.Any(), bigEvents(300, 300)...); err != nil {
			t.Fatal(err)
		}
	}
	fs.mu.Lock()
	fs.failSync = errors.New("injected EIO")
	fs.mu.Unlock()
	if _, err := s.Append(ctx, "s", eventstore.Any(), bigEvents(300, 300)...); !errors.Is(err, ErrWriteFailed) {
		t.Fatalf("append with a failing fdatasync: %v", err)
	}
	if _, err := s.Append(ctx, "s", eventstore.Any(), bigEvents(300, 300)...); !errors.Is(err, ErrWriteFailed) {
		t.Fatalf("append after a failed fdatasync: %v", err)
	}
	s.Close()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// TestReviewReadOnlyBesideWriterHeadHash: read-only opens beside a writer
// appending large and small commits across rolls: each one's HeadHash is
// the chain hash of the event at its head.
func TestReviewReadOnlyBesideWriterHeadHash(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	s, err := Open(dir, &Options{SegmentSize: 128 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		for i := range 40 {
			evs := batchEvents(fmt.Sprintf("b%d", i), 1+i%3)
			if i%4 == 0 {
				evs = bigEvents(250, 300)
			}
			if _, err := s.Append(ctx, fmt.Sprintf("s-%d", i%3), eventstore.Any(), evs...); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var heads []headAt
	var lazyRead int
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		default:
		}
		ro, err := Open(dir, &Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("read-only open beside the writer: %v", err)
		}
		h := headHash(t, ro)
		heads = append(heads, h)
		if h.pos > 0 && lazyRead < 5 {
			lazyRead++
			n := uint64(0)
			if err := ro.ReadAll(ctx, 1, func(*eventstore.RecordedEvent) error { n++; return nil }); err != nil || n != h.pos {
				t.Fatalf("read-only ReadAll: %d events of %d, %v", n, h.pos, err)
			}
		}
		ro.Close()
	}
	heads = append(heads, headHash(t, s))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkHeads(t, chainFS(t, OSFS{}, dir), heads)
	if len(segVersions(t, dir)) < 3 {
		t.Fatal("too few segments: the test misses rolls")
	}
}

// TestReviewEmptyNewestSegmentHeadHash: a log whose newest segment is
// empty (a refused append rolled it) answers the head's hash from its
// header, read-only, reopened and in Verify.
func TestReviewEmptyNewestSegmentHeadHash(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, &Options{SegmentSize: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	active := func() int64 { s.mu.RLock(); defer s.mu.RUnlock(); return s.segs[len(s.segs)-1].size }
	for active() < 4<<10 {
		if _, err := s.Append(ctx, "a", eventstore.Any(), eventstoretest.Events(3)...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Append(ctx, "a", eventstore.Exact(1<<40), eventstoretest.Events(1)...); !errors.Is(err, eventstore.ErrWrongRevision) {
		t.Fatal(err)
	}
	want := headHash(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	chain := chainFS(t, OSFS{}, dir)
	checkHeads(t, chain, []headAt{want})
	names, _, _ := listSegments(OSFS{}, dir)
	if st, _ := os.Stat(filepath.Join(dir, names[len(names)-1])); st.Size() != headerSize {
		t.Fatalf("newest segment is %d bytes: the test misses its case", st.Size())
	}
	// Without the commit record too: the segment before is then not hashed.
	for _, rec := range []bool{true, false} {
		if !rec {
			os.Remove(filepath.Join(dir, commitRecordName))
		}
		for _, ro := range []bool{true, false} {
			s, err := Open(dir, &Options{ReadOnly: ro})
			if err != nil {
				t.Fatal(err)
			}
			if got := headHash(t, s); got != want {
				t.Fatalf("record %v read-only %v: %d %x, want %d %x", rec, ro, got.pos, got.hash[:8], want.pos, want.hash[:8])
			}
			s.Close()
		}
		if rep := mustVerify(t, OSFS{}, dir); rep.HeadHash != fmt.Sprintf("%x", want.hash) {
			t.Fatalf("verify head hash %s", rep.HeadHash)
		}
	}
}
