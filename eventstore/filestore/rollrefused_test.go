package filestore

import (
	"context"
	"errors"
	"testing"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/eventstoretest"
)

// TestRefusedAppendAtSegmentRoll: an append refused after it rolled the
// segment leaves an empty group that starts the new segment. That group
// still ends at the head, so the commit record it writes and the clean
// close after it must hold the head's chain hash, not zeros: before,
// the log reopened as "rewritten" (found by TestStagingMixedOutcomes).
func TestRefusedAppendAtSegmentRoll(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, &Options{SegmentSize: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	segs := func() int { s.mu.RLock(); defer s.mu.RUnlock(); return len(s.segs) }
	active := func() int64 { s.mu.RLock(); defer s.mu.RUnlock(); return s.segs[len(s.segs)-1].size }
	for active() < 4<<10 {
		if _, err := s.Append(ctx, "a", eventstore.Any(), eventstoretest.Events(1)...); err != nil {
			t.Fatal(err)
		}
	}
	before := segs()
	if _, err := s.Append(ctx, "a", eventstore.Exact(1<<40), eventstoretest.Events(1)...); !errors.Is(err, eventstore.ErrWrongRevision) {
		t.Fatalf("append at a wrong revision: %v", err)
	}
	if segs() != before+1 {
		t.Fatalf("the refused append did not roll the segment (%d → %d segments): the test misses its case", before, segs())
	}
	// Closed at once, the empty group is the last one written.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(dir, nil, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	s2, err := Open(dir, nil)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	// And once more with an append after the empty group.
	if _, err := s2.Append(ctx, "b", eventstore.Any(), eventstoretest.Events(1)...); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify(dir, nil, nil); err != nil || !rep.OK() {
		t.Fatalf("verify after the second close: %v %+v", err, rep)
	}
}
