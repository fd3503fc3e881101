package filestore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/eventstoretest"
)

// acked is what an append's caller was told: its events are stored at
// first..first+len-1 of stream.
type acked struct {
	stream string
	first  uint64
	events []eventstore.EventData
}

// TestStagingMixedOutcomes has many goroutines stage appends at once into
// tiny groups and segments (a roll every few appends, a new group every
// few events) with every outcome staging knows: new events, batches,
// retries of stored batches, wrong expected revisions, ids repeated
// inside one append or stored in another stream, canceled contexts and
// multi-stream appends. After a reopen, every acknowledged event is
// stored once where its append was told, nothing refused is stored, and
// the log verifies.
func TestStagingMixedOutcomes(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{SegmentSize: 8 << 10, MaxGroupBytes: 2 << 10}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	const writers, rounds = 24, 60
	var (
		mu      sync.Mutex
		stored  []acked
		refused = map[string]bool{} // ids of events no append stored
	)
	ack := func(stream string, first uint64, evs []eventstore.EventData) {
		mu.Lock()
		stored = append(stored, acked{stream, first, evs})
		mu.Unlock()
	}
	refuse := func(evs ...eventstore.EventData) {
		mu.Lock()
		for _, e := range evs {
			refused[e.ID] = true
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			stream := fmt.Sprintf("w-%d", w)
			var last []eventstore.EventData // this writer's last stored batch
			var lastRes eventstore.AppendResult
			fail := func(format string, args ...any) {
				errc <- fmt.Errorf("writer %d: "+format, append([]any{w}, args...)...)
			}
			for range rounds {
				switch k := rng.IntN(8); {
				case k <= 2: // new events, one or a batch
					evs := eventstoretest.Events(1 + rng.IntN(3)*rng.IntN(6))
					r, err := s.Append(ctx, stream, eventstore.Any(), evs...)
					if err != nil {
						fail("append: %v", err)
						return
					}
					ack(stream, r.FirstPosition, evs)
					last, lastRes = evs, r
				case k == 3 && last != nil: // a retry gets the stored positions back
					r, err := s.Append(ctx, stream, eventstore.Any(), last...)
					if err != nil || !r.Duplicate || r.FirstPosition != lastRes.FirstPosition || r.LastPosition != lastRes.LastPosition {
						fail("retry: %+v, %v; first stored as %+v", r, err, lastRes)
						return
					}
				case k == 4: // wrong expected revision
					evs := eventstoretest.Events(2)
					if _, err := s.Append(ctx, stream, eventstore.Exact(1<<40), evs...); !errors.Is(err, eventstore.ErrWrongRevision) {
						fail("wrong revision: %v", err)
						return
					}
					refuse(evs...)
				case k == 5: // an id twice in one append, or stored in another stream
					evs := eventstoretest.Events(3)
					evs[2].ID = evs[0].ID
					if last != nil && rng.IntN(2) == 0 {
						evs = append(eventstoretest.Events(1), last[0])
					}
					if _, err := s.Append(ctx, fmt.Sprintf("other-%d", w), eventstore.Any(), evs...); !errors.Is(err, eventstore.ErrDuplicateID) {
						fail("duplicate id: %v", err)
						return
					}
					refuse(evs[:len(evs)-1]...)
				case k == 6: // a canceled context stores nothing
					cctx, cancel := context.WithCancel(ctx)
					cancel()
					evs := eventstoretest.Events(1)
					if _, err := s.Append(cctx, stream, eventstore.Any(), evs...); !errors.Is(err, context.Canceled) {
						fail("canceled: %v", err)
						return
					}
					refuse(evs...)
				default: // two streams at once
					a, b := eventstoretest.Events(2), eventstoretest.Events(1)
					side := fmt.Sprintf("side-%d", w)
					rs, err := s.AppendMulti(ctx, []eventstore.AppendRequest{
						{Stream: stream, Expected: eventstore.Any(), Events: a},
						{Stream: side, Expected: eventstore.Any(), Events: b},
					})
					if err != nil {
						fail("multi: %v", err)
						return
					}
					ack(stream, rs[0].FirstPosition, a)
					ack(side, rs[1].FirstPosition, b)
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(s.segs) < 5 {
		t.Fatalf("%d segments: the test should roll many", len(s.segs))
	}
	checkStored(t, dir, stored, refused)
}

// TestCloseBesideAppends closes the store while appenders are staging:
// every append either is acknowledged (and stored after a reopen) or
// returns ErrClosed (and is not), and Close returns once every
// acknowledged append is durable.
func TestCloseBesideAppends(t *testing.T) {
	for round := range 20 {
		dir := t.TempDir()
		s, err := Open(dir, &Options{SegmentSize: 16 << 10})
		if err != nil {
			t.Fatal(err)
		}
		var (
			mu      sync.Mutex
			stored  []acked
			refused = map[string]bool{}
			wg      sync.WaitGroup
			started sync.WaitGroup
		)
		for w := range 16 {
			wg.Add(1)
			started.Add(1)
			go func() {
				defer wg.Done()
				stream := fmt.Sprintf("w-%d", w)
				for i := 0; ; i++ {
					if i == 3 {
						started.Done()
					}
					evs := eventstoretest.Events(1 + i%3)
					r, err := s.Append(context.Background(), stream, eventstore.Any(), evs...)
					mu.Lock()
					switch {
					case err == nil:
						stored = append(stored, acked{stream, r.FirstPosition, evs})
					case errors.Is(err, eventstore.ErrClosed):
						for _, e := range evs {
							refused[e.ID] = true
						}
					default:
						t.Errorf("round %d writer %d: %v", round, w, err)
					}
					mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
		}
		started.Wait()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		checkStored(t, dir, stored, refused)
	}
}

// checkStored reopens the log in dir and checks that it verifies, holds
// every acknowledged append exactly where its caller was told and none of
// the refused events.
func checkStored(t *testing.T, dir string, stored []acked, refused map[string]bool) {
	t.Helper()
	rep, err := Verify(dir, nil, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	byPos := map[uint64]*eventstore.RecordedEvent{}
	ids := map[string]bool{}
	err = s.ReadAll(context.Background(), 1, func(e *eventstore.RecordedEvent) error {
		if ids[e.ID] {
			return fmt.Errorf("id %s stored twice", e.ID)
		}
		ids[e.ID] = true
		c := *e
		byPos[e.Position] = &c
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range stored {
		for i, want := range a.events {
			got := byPos[a.first+uint64(i)]
			if got == nil || got.ID != want.ID || got.Stream != a.stream {
				t.Fatalf("acknowledged event %s of %q not at position %d: %+v", want.ID, a.stream, a.first+uint64(i), got)
			}
			n++
		}
	}
	if n != len(byPos) {
		t.Fatalf("log holds %d events, %d were acknowledged", len(byPos), n)
	}
	for id := range refused {
		if ids[id] {
			t.Fatalf("refused event %s is stored", id)
		}
	}
}

// slowSyncFS is nullFS whose segment fdatasyncs take a while, like a
// disk's: the syncing thread blocks in the kernel for delay (see
// blockThread).
type slowSyncFS struct {
	nullFS
	delay time.Duration
}

func (f slowSyncFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	file, err := f.nullFS.OpenFile(name, flag, perm)
	if nf, ok := file.(*nullFile); ok {
		return &slowSyncFile{nullFile: nf, delay: f.delay}, err
	}
	return file, err
}

type slowSyncFile struct {
	*nullFile
	delay time.Duration
}

func (f *slowSyncFile) Datasync() error { blockThread(f.delay); return nil }

// TestLoneWriterNeverWaits: with a backstop of an hour, a lone writer's
// appends (and one after a pause) each complete at once: the flusher never
// waits for appends that are not on their way.
func TestLoneWriterNeverWaits(t *testing.T) {
	s, err := Open("/log", &Options{FS: nullFS{newMemFS()}, CommitLinger: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 50 {
		if i == 25 {
			time.Sleep(20 * time.Millisecond) // the flusher goes idle
		}
		if _, err := s.Append(context.Background(), "lone", eventstore.Any(), eventstoretest.Events(1+i%2)...); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Fsyncs != 50 {
		t.Fatalf("%d fdatasyncs for 50 sequential appends", st.Fsyncs)
	}
}

// TestGroupCommitGathersTheCohort: 32 writers appending one event at a
// time share fdatasyncs (each commit waits for the writers the previous
// one woke) instead of alternating small groups; Stats counts the time
// they spend in fdatasync.
func TestGroupCommitGathersTheCohort(t *testing.T) {
	s, err := Open("/log", &Options{FS: slowSyncFS{nullFS{newMemFS()}, 2 * time.Millisecond}, CommitLinger: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const writers, each = 32, 40
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for range each {
				if _, err := s.Append(context.Background(), fmt.Sprintf("w-%d", w), eventstore.Any(), eventstoretest.Events(1)...); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	// A full cohort is 32 events a commit; alternating halves would give
	// 16, and a commit per append 1. The backstop (50 ms here) leaves a
	// slow machine time to bring the cohort together.
	if per := float64(writers*each) / float64(st.Fsyncs); per < 24 {
		t.Fatalf("%.1f events per fdatasync (%d commits for %d appends): the group commit does not gather the writers", per, st.Fsyncs, writers*each)
	}
	t.Logf("%.1f events per fdatasync", float64(writers*each)/float64(st.Fsyncs))
	// Each of those fdatasyncs slept 2 ms: Stats counts the time.
	if floor := time.Duration(st.Fsyncs) * 2 * time.Millisecond; st.SyncTime < floor {
		t.Fatalf("SyncTime %v for %d fdatasyncs of at least 2 ms each", st.SyncTime, st.Fsyncs)
	}
}

// TestAppendAfterClose: an append after Close, small (deferred to the
// flusher, which has stopped) or large (staged by its appender), returns
// ErrClosed at once.
func TestAppendAfterClose(t *testing.T) {
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(t.Context(), "s", eventstore.Any(), eventstoretest.Events(1)...); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, maxDeferredEvents, maxDeferredEvents + 1} {
		if _, err := s.Append(t.Context(), "s", eventstore.Any(), eventstoretest.Events(n)...); !errors.Is(err, eventstore.ErrClosed) {
			t.Errorf("append of %d events after Close: %v, want ErrClosed", n, err)
		}
	}
}

// TestFailedCommitAnswersEveryAppend: when the fdatasync of a commit that
// holds many small appends (staged by the flusher, woken one after the
// other) and large ones (woken together) fails, every one of them returns
// the error; none hangs and none is acknowledged.
func TestFailedCommitAnswersEveryAppend(t *testing.T) {
	fs := newMemFS()
	s := openMem(t, fs)
	defer s.Close()
	fs.mu.Lock()
	fs.failSync = errors.New("injected fdatasync failure")
	fs.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := range 32 {
		n := 1 + w%(2*maxDeferredEvents) // both sides of maxDeferredEvents
		wg.Go(func() {
			_, err := s.Append(t.Context(), fmt.Sprintf("w-%d", w), eventstore.Any(), eventstoretest.Events(n)...)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrWriteFailed) {
			t.Errorf("append in a failed commit: %v, want ErrWriteFailed", err)
		}
	}
}
