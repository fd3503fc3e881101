package filestore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/epochledger/epochledger/eventstore"
)

// mountTmpfs mounts a tmpfs of size bytes on a new temporary directory,
// or skips the test, saying so, where that is not allowed (not root).
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("SKIP: the disk-full test needs a small tmpfs and could not mount one at %s: %v %s", dir, err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	return dir
}

// fill writes name until the file system is full.
func fill(t *testing.T, name string) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
	if f == nil {
		return
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = 'x'
	}
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestDiskFull fills a small tmpfs with appends (concurrent small ones and
// batches), then checks: every refusal names ENOSPC and stored nothing,
// the log verifies without repair, a writer reopens on the full disk
// (even over a torn tail that cannot be copied aside), and once space is
// freed the log takes appends again, holding every acknowledged event
// and none refused.
func TestDiskFull(t *testing.T) {
	mnt := mountTmpfs(t, 3<<20)
	dir := filepath.Join(mnt, "log")
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 512<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := &Options{SegmentSize: 1 << 20}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked, refused := map[string]int{}, map[string]bool{}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			fails := 0
			for i := 0; fails < 20; i++ {
				batch := fmt.Sprintf("w%d-%d", w, i)
				n := 1 + i%3
				if w < 2 {
					n = 200 // batched: large flushes past the zeros
				}
				_, err := s.Append(context.Background(), fmt.Sprintf("full-%d", w), eventstore.Any(), batchEvents(batch, n)...)
				mu.Lock()
				if err != nil {
					if !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, ErrNotStored) {
						mu.Unlock()
						t.Errorf("append %s on a full disk: %v", batch, err)
						return
					}
					refused[batch] = true
					fails++
				} else {
					acked[batch] = n
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if len(acked) == 0 || len(refused) == 0 {
		t.Fatalf("%d acknowledged, %d refused: the disk did not fill", len(acked), len(refused))
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close on a full disk: %v", err)
	}
	rep := mustVerify(t, OSFS{}, dir)
	if rep.TornTail != nil || !rep.ClosedCleanly {
		t.Fatalf("verify after the disk filled: %+v", rep)
	}
	// A torn tail on a full disk (a crash mid-write): recovery cuts it
	// without the copy aside it has no room for.
	names, _, _ := listSegments(OSFS{}, dir)
	newest := filepath.Join(dir, names[len(names)-1])
	b, _ := os.ReadFile(newest)
	torn := append([]byte(nil), b[len(b)-300:len(b)-100]...)
	os.Remove(filepath.Join(dir, commitRecordName)) // as if the crash came before any clean close
	if err := os.Truncate(filler, 0); err != nil {
		t.Fatal(err)
	}
	if f, err := os.OpenFile(newest, os.O_WRONLY|os.O_APPEND, 0); err != nil {
		t.Fatal(err)
	} else {
		f.Write(torn)
		f.Close()
	}
	fill(t, filler)
	s, err = Open(dir, opts)
	if err != nil {
		t.Fatalf("writer open on a full disk over a torn tail: %v", err)
	}
	if !strings.Contains(s.Repaired, "not copied aside") {
		t.Fatalf("repair on a full disk: %q", s.Repaired)
	}
	s.Close()
	mustVerify(t, OSFS{}, dir)
	// Space is freed: the log takes appends again.
	os.Remove(filler)
	s, err = Open(dir, opts)
	if err != nil {
		t.Fatalf("writer open once space is free: %v", err)
	}
	if err := appendSome(t, s, "freed", 20, acked); err != nil {
		t.Fatalf("append once space is free: %v", err)
	}
	found := checkLog(t, s, acked)
	checkWhole(t, s, found)
	for b := range refused {
		if found[b] != 0 {
			t.Fatalf("refused batch %s is in the log", b)
		}
	}
	s.Close()
	mustVerify(t, OSFS{}, dir)
	t.Logf("%d batches acknowledged, %d refused on the full disk", len(acked), len(refused))
}
