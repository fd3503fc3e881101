package esdb

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/eventstoretest"
)

func events(n int) []eventstore.EventData { return eventstoretest.Events(n) }

func streamLen(t *testing.T, s *Store, stream string) int {
	t.Helper()
	n := 0
	err := s.ReadStream(context.Background(), stream, 0, func(*eventstore.RecordedEvent) error { n++; return nil })
	if err != nil {
		t.Fatalf("ReadStream(%q): %v", stream, err)
	}
	return n
}

// The reply of an append is lost after the server wrote it (a leader
// crash, a reset connection): the retry must find the events by id and
// report where they are, not write them twice.
func TestLostReplyIsNotDuplicated(t *testing.T) {
	for _, exp := range []eventstore.ExpectedRevision{eventstore.Any(), eventstore.NoStream()} {
		f := startFake(t)
		s := openFake(t, f, func(o *Options) { o.IDCacheSize = 0 })
		ctx := context.Background()
		f.set(func(f *fakeServer) { f.idWindow = 0 }) // the server's own idempotency does not help
		f.set(func(f *fakeServer) { f.loseReplies = 1; f.appends = 0 })
		evs := events(3)
		r, err := s.Append(ctx, "lost", exp, evs...)
		if err != nil {
			t.Fatalf("%s: append with a lost reply: %v", exp, err)
		}
		if f.appends != 1 {
			t.Errorf("%s: %d append calls: the retry should have found the batch", exp, f.appends)
		}
		if r.Duplicate || r.NextRevision != 3 || r.LastPosition <= r.FirstPosition {
			t.Errorf("%s: result %+v: want the positions written, Duplicate false", exp, r)
		}
		got := readStreamAll(t, s, "lost")
		if len(got) != 3 || got[0].Position != r.FirstPosition || got[2].Position != r.LastPosition {
			t.Errorf("%s: stream holds %d events (%v), result %+v", exp, len(got), got, r)
		}
		s.Close()
	}
}

func readStreamAll(t *testing.T, s *Store, stream string) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	err := s.ReadStream(context.Background(), stream, 0, func(e *eventstore.RecordedEvent) error { out = append(out, *e); return nil })
	if err != nil {
		t.Fatalf("ReadStream(%q): %v", stream, err)
	}
	return out
}

// EventStoreDB remembers recent ids only; an Any retry of an older batch
// would be written again. The store's own scan of the stream catches it.
func TestIdempotencyBeyondServerWindow(t *testing.T) {
	f := startFake(t)
	f.set(func(f *fakeServer) { f.idWindow = 2 })
	s := openFake(t, f, func(o *Options) { o.IDCacheSize = 0 })
	defer s.Close()
	ctx := context.Background()
	batch := events(3)
	r1, err := s.Append(ctx, "window", eventstore.Any(), batch...)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := s.Append(ctx, "window", eventstore.Any(), events(1)...); err != nil {
			t.Fatal(err)
		}
	}
	r2, err := s.Append(ctx, "window", eventstore.Any(), batch...)
	if err != nil || !r2.Duplicate || r2.FirstPosition != r1.FirstPosition || r2.LastPosition != r1.LastPosition || r2.NextRevision != 23 {
		t.Fatalf("retry beyond the server's window: %+v %v (first %+v)", r2, err, r1)
	}
	if n := streamLen(t, s, "window"); n != 23 {
		t.Fatalf("stream holds %d events, want 23", n)
	}
	// A retry with the (stale) exact revision is checked at its revisions,
	// however deep.
	r3, err := s.Append(ctx, "window", eventstore.NoStream(), batch...)
	if err != nil || !r3.Duplicate || r3.FirstPosition != r1.FirstPosition {
		t.Fatalf("NoStream retry: %+v %v", r3, err)
	}
	// With the scan off and the server's window passed, a retry is written
	// again: why the scan exists.
	s2 := openFake(t, f, func(o *Options) { o.IDCacheSize = 0; o.IdempotencyWindow = 0 })
	defer s2.Close()
	if r, err := s2.Append(ctx, "window", eventstore.Any(), batch...); err != nil || r.Duplicate {
		t.Fatalf("without the scan: %+v %v", r, err)
	}
	if n := streamLen(t, s, "window"); n != 26 {
		t.Fatalf("stream holds %d events, want 26 (the duplicate)", n)
	}
}

// A subscription dropped by the server resumes after the last event it
// delivered: no gap, no repeat.
func TestSubscriptionResumesAfterDrop(t *testing.T) {
	f := startFake(t)
	s := openFake(t, f, nil)
	defer s.Close()
	ctx := context.Background()
	r, err := s.Append(ctx, "drop", eventstore.Any(), events(5)...)
	if err != nil {
		t.Fatal(err)
	}
	f.set(func(f *fakeServer) { f.dropSubsOnce = true })
	sub, err := s.Subscribe(ctx, r.FirstPosition)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	go func() {
		for i := 0; i < 5; i++ {
			_, _ = s.Append(ctx, "drop", eventstore.Any(), events(1)...)
		}
	}()
	var revs []uint64
	timeout := time.After(10 * time.Second)
	for len(revs) < 10 {
		select {
		case e, ok := <-sub.C():
			if !ok {
				t.Fatalf("subscription ended: %v", sub.Err())
			}
			revs = append(revs, e.Revision)
		case <-timeout:
			t.Fatalf("got %v", revs)
		}
	}
	for i, r := range revs {
		if r != uint64(i) {
			t.Fatalf("revisions %v: gap or repeat", revs)
		}
	}
}

// A subscription whose server keeps failing ends, and says why.
func TestSubscriptionGivesUp(t *testing.T) {
	f := startFake(t)
	s := openFake(t, f, nil)
	if _, err := s.Append(context.Background(), "gone", eventstore.Any(), events(1)...); err != nil {
		t.Fatal(err)
	}
	sub, err := s.Subscribe(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	<-sub.C()
	f.srv.Stop()
	for range sub.C() {
	}
	if err := sub.Err(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Err after the server went away: %v, want ErrUnavailable", err)
	}
	s.Close()
}

// ReadAll and Subscribe accept any position: an event's, one past it, one
// past the head, or one that is neither (a slow scan, still correct).
func TestReadFromAnyPosition(t *testing.T) {
	f := startFake(t)
	s := openFake(t, f, nil)
	defer s.Close()
	ctx := context.Background()
	r, err := s.Append(ctx, "anypos", eventstore.Any(), events(6)...)
	if err != nil {
		t.Fatal(err)
	}
	all := readAllOf(t, s, 1)
	if len(all) != 6 {
		t.Fatalf("ReadAll(1): %d events", len(all))
	}
	// A fresh store knows no positions: it must probe the server.
	s2 := openFake(t, f, nil)
	defer s2.Close()
	for i, e := range all {
		for _, from := range []uint64{e.Position, e.Position + 1, e.Position - 1, e.Position + 7} {
			got := readAllOf(t, s2, from)
			want := 0
			for _, x := range all {
				if x.Position >= from {
					want++
				}
			}
			if len(got) != want || (want > 0 && got[0].Position < from) {
				t.Fatalf("event %d: ReadAll(%d) gave %d events, want %d", i, from, len(got), want)
			}
		}
	}
	if got := readAllOf(t, s2, r.LastPosition+1); len(got) != 0 {
		t.Fatalf("ReadAll(head+1): %d events", len(got))
	}
	// Subscribing past the head delivers only what comes next.
	sub, err := s2.Subscribe(ctx, r.LastPosition+1)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	next, err := s.Append(ctx, "anypos", eventstore.Any(), events(1)...)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-sub.C():
		if e.Position != next.FirstPosition {
			t.Fatalf("first live event at %d, appended at %d", e.Position, next.FirstPosition)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no live event")
	}
}

func readAllOf(t *testing.T, s *Store, from uint64) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	if err := s.ReadAll(context.Background(), from, func(e *eventstore.RecordedEvent) error { out = append(out, *e); return nil }); err != nil {
		t.Fatalf("ReadAll(%d): %v", from, err)
	}
	return out
}

// System events and other tenants' events never show; TypePrefixes narrow
// the view and refuse appends it could not read back.
func TestFilters(t *testing.T) {
	f := startFake(t)
	s := openFake(t, f, nil)
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Append(ctx, "f", eventstore.Any(),
		eventstore.EventData{ID: eventstoretest.NewID(), Type: "FrameAccepted", Data: []byte(`{}`)},
		eventstore.EventData{ID: eventstoretest.NewID(), Type: "BurnRecorded", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	f.set(func(f *fakeServer) { f.write("$stats-1", "$statsCollected", []byte(`{}`)) })
	if got := readAllOf(t, s, 1); len(got) != 2 {
		t.Fatalf("ReadAll: %d events, want our 2 (system events hidden)", len(got))
	}
	h, err := s.Head(ctx)
	if err != nil || h != readAllOf(t, s, 1)[1].Position {
		t.Fatalf("Head %d %v: want the last of ours, not the system event after it", h, err)
	}
	v := openFake(t, f, func(o *Options) { o.TypePrefixes = []string{"Frame"} })
	defer v.Close()
	if got := readAllOf(t, v, 1); len(got) != 1 || got[0].Type != "FrameAccepted" {
		t.Fatalf("view ReadAll: %v", got)
	}
	if _, err := v.Append(ctx, "f", eventstore.Any(), eventstore.EventData{ID: eventstoretest.NewID(), Type: "BurnRecorded"}); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Fatalf("view append of a type it hides: %v", err)
	}
	for _, bad := range []struct{ stream, typ, id string }{
		{"$sys", "T", eventstoretest.NewID()},
		{ChainStreamName, "T", eventstoretest.NewID()},
		{"ok", "$T", eventstoretest.NewID()},
		{"ok", "T", "not-a-uuid"},
		{"ok", "T", "00000000-0000-0000-0000-000000000000"},
	} {
		if _, err := s.Append(ctx, bad.stream, eventstore.Any(), eventstore.EventData{ID: bad.id, Type: bad.typ}); !errors.Is(err, eventstore.ErrInvalidEvent) {
			t.Errorf("append %+v: %v, want ErrInvalidEvent", bad, err)
		}
	}
}
