//go:build unix

package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/eventstoretest"
	"github.com/epochledger/epochledger/internal/pgcluster"
)

// killRounds is how many times TestFailover kills the primary:
// EPOCHLEDGER_PG_KILLS (make soak sets it), else 10.
func killRounds(t *testing.T) int {
	if v := os.Getenv("EPOCHLEDGER_PG_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("EPOCHLEDGER_PG_KILLS=%q: want a positive number", v)
		}
		return n
	}
	return 10
}

// batch is one append an appender made, and what it was told.
type batch struct {
	reqs  []eventstore.AppendRequest
	res   []eventstore.AppendResult
	acked bool
}

// ledger records the appenders' batches and acknowledgements.
type ledger struct {
	mu      sync.Mutex
	batches []*batch
	acks    atomic.Int64
	t       *testing.T
}

func (l *ledger) add(b *batch) {
	l.mu.Lock()
	l.batches = append(l.batches, b)
	l.mu.Unlock()
}

func (l *ledger) ack(b *batch, res []eventstore.AppendResult) {
	l.mu.Lock()
	b.res, b.acked = res, true
	l.mu.Unlock()
	l.acks.Add(1)
}

// appender appends batches of 1-4 events to its streams until stop, each
// batch retried with the same ids until it is acknowledged. Stream
// revisions are exact (from the acknowledgements), so an acknowledged
// batch that went missing makes the next one fail with ErrWrongRevision,
// which the appender reports. Every third appender writes two streams
// in one AppendMulti.
func appender(stop <-chan struct{}, s *Store, w int, l *ledger) {
	a, b := fmt.Sprintf("fo-%d", w), fmt.Sprintf("fo-%d-b", w)
	next := map[string]uint64{}
	exp := func(st string) eventstore.ExpectedRevision {
		if next[st] == 0 {
			return eventstore.NoStream()
		}
		return eventstore.Exact(next[st] - 1)
	}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		bt := &batch{reqs: []eventstore.AppendRequest{{Stream: a, Expected: exp(a), Events: eventstoretest.Events(1 + i%4)}}}
		if w%3 == 0 {
			bt.reqs = append(bt.reqs, eventstore.AppendRequest{Stream: b, Expected: exp(b), Events: eventstoretest.Events(1 + (i+1)%3)})
		}
		l.add(bt)
		for try := 0; ; try++ {
			res, err := s.AppendMulti(context.Background(), bt.reqs)
			if err == nil {
				l.ack(bt, res)
				for k, r := range bt.reqs {
					next[r.Stream] = res[k].NextRevision
				}
				break
			}
			if errors.Is(err, eventstore.ErrWrongRevision) || errors.Is(err, eventstore.ErrDuplicateID) || try > 20 {
				l.t.Errorf("appender %d batch %d, try %d: %v", w, i, try, err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// checkLog reads the whole log from the current primary and checks what
// the appenders were told: positions gap-free from 1; every batch (all
// were acknowledged in the end) stored exactly once, whole, at the
// positions acknowledged and in request order, nothing else stored; and
// the chain verifies.
func checkLog(t *testing.T, url string, l *ledger) {
	t.Helper()
	s := openT(t, url, nil)
	ctx := context.Background()
	type at struct {
		pos   uint64
		count int
	}
	where := map[string]*at{}
	var n uint64
	err := s.ReadAll(ctx, 1, func(e *eventstore.RecordedEvent) error {
		n++
		if e.Position != n {
			return fmt.Errorf("position %d where %d comes next: a gap", e.Position, n)
		}
		if w := where[e.ID]; w != nil {
			w.count++
		} else {
			where[e.ID] = &at{pos: e.Position, count: 1}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var events, acked uint64
	for _, b := range l.batches {
		if !b.acked {
			t.Fatalf("a batch was never acknowledged: %+v", b.reqs)
		}
		acked++
		for k, r := range b.reqs {
			for j, e := range r.Events {
				events++
				w := where[e.ID]
				switch {
				case w == nil:
					t.Fatalf("acknowledged event %s (stream %s, position %d) is missing", e.ID, r.Stream, b.res[k].FirstPosition+uint64(j))
				case w.count != 1:
					t.Fatalf("event %s stored %d times", e.ID, w.count)
				case w.pos != b.res[k].FirstPosition+uint64(j):
					t.Fatalf("event %s at position %d, acknowledged at %d", e.ID, w.pos, b.res[k].FirstPosition+uint64(j))
				}
			}
		}
	}
	if n != events {
		t.Fatalf("the log holds %d events, the appenders appended %d", n, events)
	}
	rep, err := s.Verify(ctx, nil)
	if err != nil || !rep.OK() || rep.Events != n {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	t.Logf("%d batches acknowledged, %d events, all present once; chain verified (head hash %s)", acked, n, rep.HeadHash)
}

// TestFailover kills the primary with SIGKILL mid-load, promotes the
// synchronous standby and starts a replacement standby, killRounds times,
// while eight appenders in two stores (two processes' worth) append with
// acknowledgements recorded; the stores reconnect through the two-host URL
// (target_session_attrs=read-write) on their own. Then every acknowledged
// event must be present exactly once at its acknowledged position, no
// batch partly stored, positions gap-free, the chain intact.
func TestFailover(t *testing.T) {
	rounds := killRounds(t)
	c := pgcluster.Start(t, true)
	url := schemaURL(c.URL(), "failover")
	opts := DefaultOptions()
	opts.RetryTimeout = 3 * time.Minute // appends ride through every failover
	stores := []*Store{openT(t, url, opts), openT(t, url, opts)}
	l := &ledger{t: t}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			appender(stop, stores[w%2], w, l)
		}(w)
	}
	// Each round waits for acknowledgements, not for time: a slow machine
	// makes the test slower, never wrong.
	waitAcks := func(n int64) {
		deadline := time.Now().Add(3 * time.Minute)
		for l.acks.Load() < n && !t.Failed() {
			if time.Now().After(deadline) {
				t.Fatalf("appenders stalled at %d acknowledgements (want %d)", l.acks.Load(), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for r := 1; r <= rounds && !t.Failed(); r++ {
		waitAcks(l.acks.Load() + 30)
		before := l.acks.Load()
		if err := c.Failover(); err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("round %d: %v", r, err)
		}
		t.Logf("round %d: primary killed at %d acknowledgements, standby promoted, new standby on port %d", r, before, c.Standby.Port)
	}
	waitAcks(l.acks.Load() + 30)
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}
	var retries uint64
	for _, s := range stores {
		retries += s.Stats().Retries
	}
	t.Logf("%d kill rounds; %d group commits retried on a new connection", rounds, retries)
	checkLog(t, url, l)
}

// TestStandbyCutOff kills the synchronous standby: commits then block and
// are not acknowledged (nor visible to readers), an append whose caller
// gives up is not acknowledged either; when the standby is back every
// blocked append completes, none is lost, and the one given up is stored
// at most once (a retry with its ids settles it).
func TestStandbyCutOff(t *testing.T) {
	c := pgcluster.Start(t, true)
	url := schemaURL(c.URL(), "cutoff")
	s := openT(t, url, nil)
	ctx := context.Background()
	l := &ledger{t: t}
	appendBatch := func(ctx context.Context, stream string, n int) (*batch, error) {
		b := &batch{reqs: []eventstore.AppendRequest{{Stream: stream, Expected: eventstore.Any(), Events: eventstoretest.Events(n)}}}
		l.add(b)
		res, err := s.AppendMulti(ctx, b.reqs)
		if err == nil {
			l.ack(b, res)
		}
		return b, err
	}
	for i := 0; i < 5; i++ {
		if _, err := appendBatch(ctx, "before", 3); err != nil {
			t.Fatal(err)
		}
	}
	head, _ := s.Head(ctx)

	c.Standby.Kill()
	done := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func(i int) {
			_, err := appendBatch(ctx, fmt.Sprintf("blocked-%d", i), 1+i%3)
			done <- err
		}(i)
	}
	// A caller that gives up while the standby is away.
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	given, err := appendBatch(short, "given-up", 2)
	cancel()
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("append with the standby cut off: %v, want it unacknowledged (deadline exceeded)", err)
	}
	select {
	case err := <-done:
		t.Fatalf("an append returned with the standby cut off: %v", err)
	default:
	}
	if h, err := s.Head(ctx); err != nil || h != head {
		t.Fatalf("readers see head %d (%v) with the standby cut off, want %d: a commit became visible unreplicated", h, err, head)
	}

	if err := c.Standby.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ {
		if err := <-done; err != nil {
			t.Fatalf("blocked append after the standby returned: %v", err)
		}
	}
	// The given-up append: retried with the same ids, stored once.
	res, err := s.AppendMulti(ctx, given.reqs)
	if err != nil {
		t.Fatalf("retry of the given-up append: %v", err)
	}
	l.ack(given, res)
	t.Logf("given-up append on retry: duplicate=%v (stored while cut off: %v)", res[0].Duplicate, res[0].Duplicate)
	checkLog(t, url, l)
}

// TestCloseWhileCommitBlocked: Close with a commit waiting for a standby
// that is gone gives up after CloseTimeout; the waiting append fails
// with ErrClosed saying it may be stored, and once the standby is back a
// retry with its ids stores it exactly once.
func TestCloseWhileCommitBlocked(t *testing.T) {
	c := pgcluster.Start(t, true)
	url := schemaURL(c.URL(), "close")
	opts := DefaultOptions()
	opts.CloseTimeout = 500 * time.Millisecond
	s, err := Open(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	c.Standby.Kill()
	evs := eventstoretest.Events(2)
	done := make(chan error, 1)
	go func() {
		_, err := s.Append(context.Background(), "close", eventstore.NoStream(), evs...)
		done <- err
	}()
	// Wait until the append is in flight (the committer took it).
	for s.Stats().Commits == 0 && len(s.commit.ops) > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("append blocked at Close: %v, want ErrClosed", err)
	}
	if err := c.Standby.Start(); err != nil {
		t.Fatal(err)
	}
	s2 := openT(t, url, nil)
	r, err := s2.Append(context.Background(), "close", eventstore.NoStream(), evs...)
	if err != nil {
		t.Fatalf("retry after Close: %v", err)
	}
	var n int
	if err := s2.ReadStream(context.Background(), "close", 0, func(*eventstore.RecordedEvent) error { n++; return nil }); err != nil || n != 2 {
		t.Fatalf("stream holds %d events (%v), want 2", n, err)
	}
	t.Logf("retry after Close: duplicate=%v (the blocked commit landed when the standby returned: %v)", r.Duplicate, r.Duplicate)
}
