// Package eventstoretest is the conformance suite of the eventstore.Store
// contract. Every backend runs it from its own tests:
//
//	eventstoretest.Run(t, eventstoretest.Harness{New: func(t *testing.T) eventstore.Store { … }})
//
// The suite never assumes a fresh log: it works relative to the head it
// finds and names its streams uniquely, so it also runs against a shared
// networked server. Backends that promise a gap-free log from position 1
// (the embedded store) set GapFree and are checked for it.
package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/epochledger/epochledger/eventstore"
)

// Harness tells the suite how to get stores of one backend.
type Harness struct {
	// New returns an open store; the suite closes it.
	New func(t *testing.T) eventstore.Store
	// Reopen closes s and opens the same log again (nil: not tested).
	Reopen func(t *testing.T, s eventstore.Store) eventstore.Store
	// GapFree: positions are consecutive from 1 with no holes.
	GapFree bool
}

// Run runs every conformance test as a subtest of t.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"AppendAndReadBack", testAppendAndReadBack},
		{"ExpectedRevision", testExpectedRevision},
		{"IdempotentRetry", testIdempotentRetry},
		{"DuplicateIDs", testDuplicateIDs},
		{"InvalidEvents", testInvalidEvents},
		{"ReadAllFromAndStop", testReadAllFromAndStop},
		{"ReadStreamFromRevision", testReadStreamFromRevision},
		{"ConcurrentAppends", testConcurrentAppends},
		{"SubscribeCatchUpThenLive", testSubscribe},
		{"MultiAppendAtomic", testMultiAppend},
		{"Reopen", testReopen},
		{"ContextCanceled", testContextCanceled},
		{"AppendInOrder", testAppendInOrder},
		{"CopyCompare", testCopyCompare},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

var uniq struct {
	sync.Mutex
	n int
}

// stream returns a stream name no other test of this process uses.
func stream(prefix string) string {
	uniq.Lock()
	defer uniq.Unlock()
	uniq.n++
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), uniq.n)
}

// NewID returns a random UUID v4 string.
func NewID() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Events returns n events of type TestEvent with fresh ids and small data.
func Events(n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = eventstore.EventData{
			ID:   NewID(),
			Type: "TestEvent",
			Time: "2024-01-02T03:04:05Z",
			Data: fmt.Appendf(nil, `{"i":%d, "pad":"  spaces kept  "}`, i),
		}
	}
	return out
}

func open(t *testing.T, h Harness) eventstore.Store {
	t.Helper()
	s := h.New(t)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func head(t *testing.T, s eventstore.Store) uint64 {
	t.Helper()
	p, err := s.Head(context.Background())
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	return p
}

func readAll(t *testing.T, s eventstore.Store, from uint64) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	err := s.ReadAll(context.Background(), from, func(e *eventstore.RecordedEvent) error {
		c := *e
		c.Data = append([]byte(nil), e.Data...)
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatalf("ReadAll(%d): %v", from, err)
	}
	return out
}

func readStream(t *testing.T, s eventstore.Store, name string, from uint64) ([]eventstore.RecordedEvent, error) {
	t.Helper()
	var out []eventstore.RecordedEvent
	err := s.ReadStream(context.Background(), name, from, func(e *eventstore.RecordedEvent) error {
		c := *e
		c.Data = append([]byte(nil), e.Data...)
		out = append(out, c)
		return nil
	})
	return out, err
}

// ours keeps the events of the given streams (a shared server may hold others).
func ours(evs []eventstore.RecordedEvent, streams ...string) []eventstore.RecordedEvent {
	keep := map[string]bool{}
	for _, s := range streams {
		keep[s] = true
	}
	var out []eventstore.RecordedEvent
	for _, e := range evs {
		if keep[e.Stream] {
			out = append(out, e)
		}
	}
	return out
}

// must returns a checker of an append's result: must(t)(s.Append(…)).
func must(t *testing.T) func(eventstore.AppendResult, error) eventstore.AppendResult {
	return func(r eventstore.AppendResult, err error) eventstore.AppendResult {
		t.Helper()
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		return r
	}
}

func sameEvent(t *testing.T, got eventstore.RecordedEvent, want eventstore.EventData, stream string) {
	t.Helper()
	if got.ID != want.ID || got.Type != want.Type || got.Time != want.Time || string(got.Data) != string(want.Data) || got.Stream != stream {
		t.Fatalf("stored event differs:\n got  %s %s %s %s %q\n want %s %s %s %s %q",
			got.Stream, got.ID, got.Type, got.Time, got.Data, stream, want.ID, want.Type, want.Time, want.Data)
	}
}

func testAppendAndReadBack(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := context.Background()
	before := head(t, s)
	name := stream("read-back")
	if _, err := readStream(t, s, name, 0); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("ReadStream of a new stream: got %v, want ErrStreamNotFound", err)
	}
	evs := Events(5)
	r1 := must(t)(s.Append(ctx, name, eventstore.NoStream(), evs[0]))
	if r1.FirstPosition <= before || r1.FirstPosition != r1.LastPosition || r1.NextRevision != 1 || r1.Duplicate {
		t.Fatalf("first append result %+v (head before %d)", r1, before)
	}
	if h.GapFree && r1.FirstPosition != before+1 {
		t.Fatalf("gap-free store: first position %d after head %d", r1.FirstPosition, before)
	}
	r2 := must(t)(s.Append(ctx, name, eventstore.Exact(0), evs[1:]...))
	if r2.FirstPosition <= r1.LastPosition || r2.LastPosition < r2.FirstPosition || r2.NextRevision != 5 {
		t.Fatalf("second append result %+v after %+v", r2, r1)
	}
	if h.GapFree && (r2.FirstPosition != r1.LastPosition+1 || r2.LastPosition != r2.FirstPosition+3) {
		t.Fatalf("gap-free store: positions %d..%d after %d", r2.FirstPosition, r2.LastPosition, r1.LastPosition)
	}
	if got := head(t, s); got < r2.LastPosition {
		t.Fatalf("Head %d < last appended %d", got, r2.LastPosition)
	}
	all := ours(readAll(t, s, before+1), name)
	if len(all) != 5 {
		t.Fatalf("ReadAll returned %d of our events, want 5", len(all))
	}
	var prev uint64
	for i, e := range all {
		sameEvent(t, e, evs[i], name)
		if e.Revision != uint64(i) || e.Position <= prev {
			t.Fatalf("event %d: revision %d position %d (prev %d)", i, e.Revision, e.Position, prev)
		}
		prev = e.Position
	}
	if all[0].Position != r1.FirstPosition || all[4].Position != r2.LastPosition {
		t.Fatalf("positions read %d..%d differ from append results %d..%d", all[0].Position, all[4].Position, r1.FirstPosition, r2.LastPosition)
	}
	got, err := readStream(t, s, name, 0)
	if err != nil || len(got) != 5 {
		t.Fatalf("ReadStream: %d events, %v", len(got), err)
	}
	for i, e := range got {
		sameEvent(t, e, evs[i], name)
		if e.Position != all[i].Position {
			t.Fatalf("ReadStream position %d, ReadAll %d", e.Position, all[i].Position)
		}
	}
}

func testExpectedRevision(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := context.Background()
	name := stream("expected")
	if _, err := s.Append(ctx, name, eventstore.Exact(0), Events(1)...); !errors.Is(err, eventstore.ErrWrongRevision) {
		t.Fatalf("Exact(0) on a missing stream: %v, want ErrWrongRevision", err)
	}
	must(t)(s.Append(ctx, name, eventstore.NoStream(), Events(2)...))
	before := head(t, s)
	refused := Events(2)
	cases := []eventstore.ExpectedRevision{eventstore.NoStream(), eventstore.Exact(0), eventstore.Exact(2), eventstore.Exact(7)}
	for _, exp := range cases {
		if _, err := s.Append(ctx, name, exp, refused...); !errors.Is(err, eventstore.ErrWrongRevision) {
			t.Fatalf("expected %s at revision 1: %v, want ErrWrongRevision", exp, err)
		}
	}
	if got := head(t, s); got != before {
		t.Fatalf("refused appends moved the head %d -> %d", before, got)
	}
	// A refused append leaves no trace: its ids are new to a later append.
	if r := must(t)(s.Append(ctx, name, eventstore.Exact(1), refused[:1]...)); r.Duplicate {
		t.Fatalf("the id of a refused append counts as stored: %+v", r)
	}
	r := must(t)(s.Append(ctx, name, eventstore.Any(), Events(1)...))
	if r.NextRevision != 4 {
		t.Fatalf("NextRevision %d, want 4", r.NextRevision)
	}
}

func testIdempotentRetry(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := context.Background()
	name := stream("retry")
	evs := Events(3)
	r1 := must(t)(s.Append(ctx, name, eventstore.NoStream(), evs...))
	h1 := head(t, s)
	// A retry after a lost reply carries the same ids and the (now stale)
	// expected revision: it must succeed without writing.
	for _, exp := range []eventstore.ExpectedRevision{eventstore.NoStream(), eventstore.Any()} {
		r2, err := s.Append(ctx, name, exp, evs...)
		if err != nil {
			t.Fatalf("retry with %s: %v", exp, err)
		}
		if !r2.Duplicate || r2.FirstPosition != r1.FirstPosition || r2.LastPosition != r1.LastPosition {
			t.Fatalf("retry result %+v, first %+v", r2, r1)
		}
	}
	// A single already-stored event returns its own position.
	r3, err := s.Append(ctx, name, eventstore.Any(), evs[1])
	if err != nil || !r3.Duplicate {
		t.Fatalf("single retry: %+v %v", r3, err)
	}
	if got := head(t, s); got != h1 {
		t.Fatalf("retries moved the head %d -> %d", h1, got)
	}
	if got, _ := readStream(t, s, name, 0); len(got) != 3 {
		t.Fatalf("stream holds %d events after retries, want 3", len(got))
	}
	if r3.FirstPosition != r1.FirstPosition+1 && h.GapFree {
		t.Fatalf("single retry position %d, stored at %d", r3.FirstPosition, r1.FirstPosition+1)
	}
}

func testDuplicateIDs(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := context.Background()
	a, b := stream("dup-a"), stream("dup-b")
	evs := Events(2)
	must(t)(s.Append(ctx, a, eventstore.Any(), evs[0]))
	before := head(t, s)
	// Part stored, part new: not a retry.
	if _, err := s.Append(ctx, a, eventstore.Any(), evs[0], evs[1]); !errors.Is(err, eventstore.ErrDuplicateID) {
		t.Fatalf("partly stored batch: %v, want ErrDuplicateID", err)
	}
	// The same id in another stream.
	if _, err := s.Append(ctx, b, eventstore.Any(), evs[0]); !errors.Is(err, eventstore.ErrDuplicateID) {
		t.Fatalf("stored id in another stream: %v, want ErrDuplicateID", err)
	}
	// An id twice in one request.
	if _, err := s.Append(ctx, b, eventstore.Any(), evs[1], evs[1]); !errors.Is(err, eventstore.ErrDuplicateID) {
		t.Fatalf("id twice in one append: %v, want ErrDuplicateID", err)
	}
	if got := head(t, s); got != before {
		t.Fatalf("refused appends moved the head %d -> %d", before, got)
	}
	// Nothing of the refused appends was kept: evs[1] is still new.
	if r := must(t)(s.Append(ctx, b, eventstore.Any(), evs[1])); r.Duplicate {
		t.Fatalf("an id of a refused append counts as stored: %+v", r)
	}
}

func testInvalidEvents(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := context.Background()
	before := head(t, s)
	good := Events(1)[0]
	bad := []struct {
		stream string
		evs    []eventstore.EventData
	}{
		{"", []eventstore.EventData{good}},
		{stream("inv"), nil},
		{stream("inv"), []eventstore.EventData{{ID: "", Type: "X"}}},
		{stream("inv"), []eventstore.EventData{{ID: NewID(), Type: ""}}},
		{stream("inv"), []eventstore.EventData{{ID: NewID(), Type: "X", Data: make([]byte, eventstore.MaxDataLen+1)}}},
	}
	for i, c := range bad {
		if _, err := s.Append(ctx, c.stream, eventstore.Any(), c.evs...); !errors.Is(err, eventstore.ErrInvalidEvent) {
			t.Fatalf("case %d: %v, want ErrInvalidEvent", i, err)
		}
	}
	if got := head(t, s); got != before {
		t.Fatalf("refused appends moved the head %d -> %d", before, got)
	}
}

func testReadAllFromAndStop(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := context.Background()
	name := stream("from")
	r := must(t)(s.Append(ctx, name, eventstore.Any(), Events(10)...))
	all := ours(readAll(t, s, r.FirstPosition), name)
	if len(all) != 10 {
		t.Fatalf("got %d events, want 10", len(all))
	}
	mid := all[4].Position
	tail := ours(readAll(t, s, mid), name)
	if len(tail) != 6 || tail[0].Position != mid {
		t.Fatalf("ReadAll(%d): %d events starting at %d", mid, len(tail), tail[0].Position)
	}
	if got := readAll(t, s, head(t, s)+1); len(got) != 0 {
		t.Fatalf("ReadAll past the head returned %d events", len(got))
	}
	stop := errors.New("stop here")
	n := 0
	err := s.ReadAll(ctx, r.FirstPosition, func(*eventstore.RecordedEvent) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("callback error: got %v after %d events", err, n)
	}
}

func testReadStreamFromRevision(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := context.Background()
	a, b := stream("rs-a"), stream("rs-b")
	for i := 0; i < 4; i++ {
		must(t)(s.Append(ctx, a, eventstore.Any(), Events(1)...))
		must(t)(s.Append(ctx, b, eventstore.Any(), Events(2)...))
	}
	got, err := readStream(t, s, b, 5)
	if err != nil || len(got) != 3 || got[0].Revision != 5 {
		t.Fatalf("ReadStream(b, 5): %d events %v", len(got), err)
	}
	for _, e := range got {
		if e.Stream != b {
			t.Fatalf("stream %q in ReadStream(%q)", e.Stream, b)
		}
	}
	if got, err := readStream(t, s, a, 9); err != nil || len(got) != 0 {
		t.Fatalf("ReadStream past the end: %d events %v", len(got), err)
	}
}

func testConcurrentAppends(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := context.Background()
	const writers, each = 16, 20
	names := make([]string, writers)
	for i := range names {
		names[i] = stream("conc")
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	results := make([][]eventstore.AppendResult, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				// Half the writers use exact revisions, half Any.
				exp := eventstore.Any()
				if w%2 == 0 {
					exp = eventstore.Exact(uint64(i) - 1)
					if i == 0 {
						exp = eventstore.NoStream()
					}
				}
				r, err := s.Append(ctx, names[w], exp, Events(1)...)
				if err != nil {
					errs <- fmt.Errorf("writer %d append %d: %w", w, i, err)
					return
				}
				results[w] = append(results[w], r)
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	var min uint64 = ^uint64(0)
	for w := range results {
		for i, r := range results[w] {
			if seen[r.FirstPosition] {
				t.Fatalf("position %d given twice", r.FirstPosition)
			}
			seen[r.FirstPosition] = true
			if r.NextRevision != uint64(i)+1 {
				t.Fatalf("writer %d: NextRevision %d at append %d", w, r.NextRevision, i)
			}
			min = minU(min, r.FirstPosition)
		}
	}
	all := ours(readAll(t, s, min), names...)
	if len(all) != writers*each {
		t.Fatalf("read %d events, want %d", len(all), writers*each)
	}
	if h.GapFree {
		for i, e := range all {
			if e.Position != min+uint64(i) {
				t.Fatalf("gap: event %d at position %d, want %d", i, e.Position, min+uint64(i))
			}
		}
	}
}

func minU(a, b uint64) uint64 {
	if a < b {
		return a
	}
	return b
}

func testSubscribe(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := context.Background()
	name := stream("sub")
	r := must(t)(s.Append(ctx, name, eventstore.Any(), Events(5)...))
	sub, err := s.Subscribe(ctx, r.FirstPosition)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer sub.Close()
	var got []eventstore.RecordedEvent
	timeout := time.After(20 * time.Second)
	appended := false
	for len(got) < 12 {
		select {
		case e, ok := <-sub.C():
			if !ok {
				t.Fatalf("subscription ended: %v", sub.Err())
			}
			if e.Stream == name {
				got = append(got, e)
			}
			if len(got) == 5 && !appended {
				appended = true
				go func() {
					// Live events: arrive after the catch-up part.
					for i := 0; i < 7; i++ {
						if _, err := s.Append(ctx, name, eventstore.Any(), Events(1)...); err != nil {
							t.Errorf("live append: %v", err)
							return
						}
					}
				}()
			}
		case <-timeout:
			t.Fatalf("subscription delivered %d of 12 events", len(got))
		}
	}
	for i, e := range got {
		if e.Revision != uint64(i) {
			t.Fatalf("event %d has revision %d: out of order or repeated", i, e.Revision)
		}
	}
	sub.Close()
	for range sub.C() {
	}
	if err := sub.Err(); err != nil {
		t.Fatalf("Err after Close: %v", err)
	}
}

func testMultiAppend(t *testing.T, h Harness) {
	s := open(t, h)
	m, ok := s.(eventstore.MultiAppender)
	if !ok {
		t.Skip("backend has no atomic multi-stream append (eventstore.MultiAppender)")
	}
	ctx := context.Background()
	a, b := stream("multi-a"), stream("multi-b")
	must(t)(s.Append(ctx, b, eventstore.Any(), Events(1)...))
	before := head(t, s)
	evs := Events(4)
	_, err := m.AppendMulti(ctx, []eventstore.AppendRequest{
		{Stream: a, Expected: eventstore.NoStream(), Events: evs[:3]},
		{Stream: b, Expected: eventstore.NoStream(), Events: Events(2)}, // b exists: refused
	})
	if !errors.Is(err, eventstore.ErrWrongRevision) {
		t.Fatalf("multi append with one bad request: %v, want ErrWrongRevision", err)
	}
	if got := head(t, s); got != before {
		t.Fatalf("refused multi append moved the head %d -> %d", before, got)
	}
	// The same ids again: the refused request left none of them behind.
	res, err := m.AppendMulti(ctx, []eventstore.AppendRequest{
		{Stream: a, Expected: eventstore.NoStream(), Events: evs[:2]},
		{Stream: b, Expected: eventstore.Exact(0), Events: evs[2:3]},
		{Stream: a, Expected: eventstore.Exact(1), Events: evs[3:]}, // sees the first request
	})
	if err != nil {
		t.Fatalf("AppendMulti: %v", err)
	}
	if len(res) != 3 || res[2].NextRevision != 3 || res[1].NextRevision != 2 {
		t.Fatalf("AppendMulti results %+v", res)
	}
	all := ours(readAll(t, s, before+1), a, b)
	if len(all) != 4 {
		t.Fatalf("read %d events, want 4", len(all))
	}
	for i, e := range all {
		if e.ID != evs[i].ID {
			t.Fatalf("event %d is %s, want %s (request order)", i, e.ID, evs[i].ID)
		}
	}
}

func testReopen(t *testing.T, h Harness) {
	if h.Reopen == nil {
		t.Skip("harness cannot reopen a store")
	}
	s := h.New(t)
	ctx := context.Background()
	name := stream("reopen")
	evs := Events(50)
	r := must(t)(s.Append(ctx, name, eventstore.NoStream(), evs...))
	s = h.Reopen(t, s)
	t.Cleanup(func() { _ = s.Close() })
	got, err := readStream(t, s, name, 0)
	if err != nil || len(got) != 50 {
		t.Fatalf("after reopen: %d events, %v", len(got), err)
	}
	for i, e := range got {
		sameEvent(t, e, evs[i], name)
	}
	// Indexes survive: the revision continues and ids stay idempotent.
	r2, err := s.Append(ctx, name, eventstore.NoStream(), evs...)
	if err != nil || !r2.Duplicate || r2.FirstPosition != r.FirstPosition {
		t.Fatalf("retry after reopen: %+v %v", r2, err)
	}
	r3 := must(t)(s.Append(ctx, name, eventstore.Exact(49), Events(1)...))
	if r3.NextRevision != 51 || r3.FirstPosition <= r.LastPosition {
		t.Fatalf("append after reopen: %+v", r3)
	}
}

func testContextCanceled(t *testing.T, h Harness) {
	s := open(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	before := head(t, s)
	if _, err := s.Append(ctx, stream("ctx"), eventstore.Any(), Events(1)...); err == nil {
		// A backend may complete an append whose context ended after it was
		// queued; then it must be stored.
		if head(t, s) == before {
			t.Fatal("append reported success but stored nothing")
		}
	} else if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled append: %v", err)
	}
}

// sliceLog is a log in memory, positions from 1: the source of the copy
// tests, so that they copy only their own events into a shared server.
type sliceLog []eventstore.RecordedEvent

func (l sliceLog) Head(context.Context) (uint64, error) { return uint64(len(l)), nil }

func (l sliceLog) ReadAll(ctx context.Context, from uint64, fn func(*eventstore.RecordedEvent) error) error {
	for i := range l {
		if l[i].Position < from {
			continue
		}
		e := l[i]
		if err := fn(&e); err != nil {
			return err
		}
	}
	return nil
}

// newSliceLog lays events out round-robin over streams.
func newSliceLog(streams []string, evs []eventstore.EventData) sliceLog {
	l := make(sliceLog, len(evs))
	revs := map[string]uint64{}
	for i, e := range evs {
		st := streams[i%len(streams)]
		l[i] = eventstore.RecordedEvent{Position: uint64(i + 1), Stream: st, Revision: revs[st], ID: e.ID, Type: e.Type, Time: e.Time, Data: e.Data}
		revs[st]++
	}
	return l
}

// appendOnly hides a store's MultiAppender: AppendInOrder then appends
// run by run. It reads streams (AppendInOrder reads positions with gaps
// back).
type appendOnly struct{ s eventstore.Store }

func (a appendOnly) ReadStream(ctx context.Context, stream string, from uint64, fn func(*eventstore.RecordedEvent) error) error {
	return a.s.ReadStream(ctx, stream, from, fn)
}

func (a appendOnly) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	return a.s.Append(ctx, stream, expected, events...)
}

// testAppendInOrder: the positions AppendInOrder returns are where each
// event is stored, in the order given, across streams; a retry of the
// same events reports them all as already stored (0).
func testAppendInOrder(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := context.Background()
	for _, w := range []struct {
		name string
		a    eventstore.Appender
	}{{"store", s}, {"run by run", appendOnly{s}}} {
		a, b := stream("inorder-a"), stream("inorder-b")
		evs := Events(5)
		in := make([]eventstore.StreamEvent, len(evs))
		for i, st := range []string{a, a, b, a, b} {
			in[i] = eventstore.StreamEvent{Stream: st, Event: evs[i]}
		}
		res, pos, err := eventstore.AppendInOrder(ctx, w.a, in)
		if err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		if len(res) != 4 || len(pos) != len(in) {
			t.Fatalf("%s: %d results, %d positions for 4 runs of %d events", w.name, len(res), len(pos), len(in))
		}
		for i := range pos {
			if pos[i] == 0 || (i > 0 && pos[i] <= pos[i-1]) {
				t.Fatalf("%s: positions %v: want increasing, none 0", w.name, pos)
			}
			got := readAll(t, s, pos[i])
			if len(got) == 0 || got[0].Position != pos[i] {
				t.Fatalf("%s: nothing stored at position %d", w.name, pos[i])
			}
			sameEvent(t, got[0], in[i].Event, in[i].Stream)
		}
		_, again, err := eventstore.AppendInOrder(ctx, w.a, in)
		if err != nil {
			t.Fatalf("%s: retry: %v", w.name, err)
		}
		for i, p := range again {
			if p != 0 {
				t.Fatalf("%s: retried event %d reported at position %d, want 0 (already stored)", w.name, i, p)
			}
		}
	}
}

// testCopyCompare: Copy appends a log's events stream by stream, ids and
// revisions kept, idempotently; Compare finds them, and names the first
// event that differs or is missing.
func testCopyCompare(t *testing.T, h Harness) {
	dst := open(t, h)
	ctx := context.Background()
	streams := []string{stream("copy-a"), stream("copy-b"), stream("copy-c")}
	src := newSliceLog(streams, Events(10))
	var calls int
	c, err := eventstore.Copy(ctx, dst, src, 4, func(copied, head uint64) {
		calls++
		if head != 10 || copied > head {
			t.Errorf("progress %d of %d", copied, head)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Events != 10 || c.AlreadyThere != 0 || calls != 3 {
		t.Fatalf("copy: %+v after %d batches, want 10 events, none there, 3 batches", c, calls)
	}
	for _, st := range streams {
		got, err := readStream(t, dst, st, 0)
		if err != nil || len(got) == 0 {
			t.Fatalf("stream %s not copied: %v", st, err)
		}
	}
	if c, err = eventstore.Copy(ctx, dst, src, 3, nil); err != nil || c.Events != 10 || c.AlreadyThere != 10 {
		t.Fatalf("second copy: %+v, %v; want all 10 already there", c, err)
	}
	cmp, err := eventstore.Compare(ctx, src, dst)
	if err != nil || cmp.Events != 10 || cmp.Streams != 3 {
		t.Fatalf("compare: %+v, %v; want 10 events in 3 streams", cmp, err)
	}
	changed := append(sliceLog(nil), src...)
	changed[6].Data = []byte(`{"changed":true}`)
	var d *eventstore.Difference
	if _, err := eventstore.Compare(ctx, changed, dst); !errors.As(err, &d) || d.Position != 7 || d.ID != src[6].ID || d.Missing {
		t.Fatalf("compare with event 7 changed: %v", err)
	}
	longer := append(append(sliceLog(nil), src...), newSliceLog([]string{stream("copy-d")}, Events(1))[0])
	longer[10].Position = 11
	if cmp, err := eventstore.Compare(ctx, longer, dst); !errors.As(err, &d) || d.Position != 11 || !d.Missing || cmp.Events != 10 {
		t.Fatalf("compare with an event the store lacks: %+v, %v", cmp, err)
	}
}
