package filestore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/epochledger/epochledger/eventstore"
)

// TestReadOnlyBesideLiveWriter opens the log read-only again and again
// while a writer appends small batches (its zeros ahead, its commits
// landing while the reader scans): a reader, or Verify, must never take
// the writer's latest commit, caught half written or landing after its
// scan, for a torn tail or for damage. (Without liveTail this failed
// within a few dozen opens.)
func TestReadOnlyBesideLiveWriter(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, &Options{SegmentSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	done := make(chan error, 1)
	go func() {
		var err error
		for i := 0; !stop.Load(); i++ {
			if _, err = w.Append(context.Background(), fmt.Sprintf("s-%d", i%8), eventstore.Any(), batchEvents(fmt.Sprintf("b%d", i), 1+i%3)...); err != nil {
				break
			}
		}
		done <- err
	}()
	opens := 300
	if testing.Short() {
		opens = 60
	}
	var last uint64
	for i := range opens {
		r, err := Open(dir, &Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		h, _ := r.Head(context.Background())
		rep := r.Repaired
		r.Close()
		if rep != "" {
			t.Fatalf("open %d beside a live writer reported: %s", i, rep)
		}
		if h < last {
			t.Fatalf("open %d: head %d went back from %d", i, h, last)
		}
		last = h
		if i%10 == 0 {
			// Verify beside the writer: live, intact, nothing to note.
			v, err := Verify(dir, nil, nil)
			if err != nil || !v.OK() || !v.Live || v.Tail != "" {
				t.Fatalf("verify %d beside a live writer: %+v %v", i, v, err)
			}
		}
	}
	stop.Store(true)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	w.Close()
	if last == 0 {
		t.Fatal("the readers saw no event")
	}
}
