package readapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/scenarios/simlog"
)

// TestLiveFollows appends to the store under a running API and sees every
// endpoint reflect the new events, while readers keep reading.
func TestLiveFollows(t *testing.T) {
	w := scenario(t)
	s := newServer(t, w, openOptions())
	start := s.live.Position()

	// Readers hammer the API while events are appended (for -race).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, p := range []string{"/v1/epochs", "/v1/operators/op-a", "/v1/epochs/3/shares", "/v1/supply", "/v1/operators/op-a/frames"} {
					res, err := http.Get(s.URL + p)
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 200 {
						t.Errorf("%s: %d during appends", p, res.StatusCode)
					}
				}
			}
		}()
	}

	// New work in epoch 3, a new operator and node, one event per append.
	w.b.Node("n9", "op-new", "1200")
	w.b.Frame("j5", 1, "n9", 1_800_000)
	w.b.Burn("j4", "40", "4")
	for _, env := range w.b.Drain() {
		if err := simlog.AppendBatch(t.Context(), w.store, []*domain.Envelope{env}); err != nil {
			t.Fatal(err)
		}
	}
	w.b.CloseEpoch(3, 2_000_000_000_000)
	w.flush()
	want := w.ledger()
	waitPosition(t, s, want.Position)
	close(stop)
	wg.Wait()

	r := s.get(t, "/v1/epochs")
	if r.header.Get(HeaderLogPosition) != strconv.FormatUint(want.Position, 10) || want.Position <= start {
		t.Fatalf("position %s, want %d (was %d)", r.header.Get(HeaderLogPosition), want.Position, start)
	}
	if got, w := string(r.body), mustJSON(t, EpochList{Epochs: want.Summaries()}); got != w {
		t.Errorf("epochs after appends\n got %s\nwant %s", got, w)
	}
	doc, _, _ := want.Shares(3)
	if got, w := string(s.get(t, "/v1/epochs/3/shares").body), mustJSON(t, doc); got != w {
		t.Errorf("epoch 3 shares\n got %s\nwant %s", got, w)
	}
	var od OperatorDoc
	s.get(t, "/v1/operators/op-new").json(t, &od)
	if len(od.Epochs) != 1 || od.Epochs[0].Epoch != 3 || od.Epochs[0].Allocated == "0" || od.Epochs[0].Provisional {
		t.Errorf("new operator %+v", od)
	}
	// The live ledger equals a rebuild from position 1.
	var got string
	s.live.View(func(l *projections.Ledger) { got, _ = l.StateHash() })
	if h, _ := want.StateHash(); got != h {
		t.Errorf("live ledger state %s, rebuild %s", got, h)
	}
	if !s.live.Ready() {
		t.Error("not ready after following")
	}
	var rd Readiness
	s.get(t, "/readyz").json(t, &rd)
	if !rd.Ready || rd.Position != want.Position {
		t.Errorf("readyz %+v", rd)
	}
}

// TestLiveCheckpoint: Close saves a checkpoint; a new Live resumes from it
// and follows on to the same ledger a rebuild gives.
func TestLiveCheckpoint(t *testing.T) {
	w := scenario(t)
	ckpt := filepath.Join(w.dir, "checkpoints", "projections.ckpt")
	lv := startLive(t, w, ckpt)
	if err := lv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ckpt); err != nil {
		t.Fatalf("no checkpoint after Close: %v", err)
	}
	c, err := projections.ReadCheckpoint(ckpt)
	if err != nil || c.Position != lv.Position() {
		t.Fatalf("checkpoint at %v (err %v), live was at %d", c, err, lv.Position())
	}
	w.b.Frame("j5", 1, "n2", 60_000)
	w.flush()
	lv2 := startLive(t, w, ckpt)
	defer lv2.Close()
	want := w.ledger()
	var got string
	lv2.View(func(l *projections.Ledger) { got, _ = l.StateHash() })
	if h, _ := want.StateHash(); got != h || lv2.Position() != want.Position {
		t.Errorf("resumed ledger at %d state %s; rebuild at %d state %s", lv2.Position(), got, want.Position, h)
	}
}

// TestLiveEmptyStore: an empty log is ready at once and follows its first
// events.
func TestLiveEmptyStore(t *testing.T) {
	w := newWorld(t)
	s := newServer(t, w, openOptions())
	var list EpochList
	s.get(t, "/v1/epochs").json(t, &list)
	if len(list.Epochs) != 1 || list.Epochs[0].Status != "open" {
		t.Fatalf("empty log: %+v", list)
	}
	w.b.Node("n1", "op-a", "100")
	w.b.CloseEpoch(1, domain.DefaultEmission)
	w.flush()
	waitPosition(t, s, 2)
	s.get(t, "/v1/epochs").json(t, &list)
	if len(list.Epochs) != 2 || list.Epochs[0].Unallocated != domain.DefaultEmission.String() {
		t.Errorf("after appends: %+v", list)
	}
}

// flakyStore fails its first ReadAll and its first Subscribe.
type flakyStore struct {
	eventstore.Store
	reads, subs atomic.Int32
}

func (f *flakyStore) ReadAll(ctx context.Context, from uint64, fn func(*eventstore.RecordedEvent) error) error {
	if f.reads.Add(1) == 1 {
		return errors.New("injected read failure")
	}
	return f.Store.ReadAll(ctx, from, fn)
}

func (f *flakyStore) Subscribe(ctx context.Context, from uint64) (eventstore.Subscription, error) {
	if f.subs.Add(1) == 1 {
		return nil, errors.New("injected subscribe failure")
	}
	return f.Store.Subscribe(ctx, from)
}

// TestLiveRetries: read and subscription failures are retried; Live is
// not ready until it has the whole log, then follows.
func TestLiveRetries(t *testing.T) {
	w := scenario(t)
	fs := &flakyStore{Store: w.store}
	lv, err := NewLive(t.Context(), fs, projections.Config{}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lv.Close()
	if lv.Ready() {
		t.Fatal("ready before folding")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := lv.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	want := w.ledger()
	if lv.Position() != want.Position || fs.reads.Load() < 2 || fs.subs.Load() < 2 {
		t.Fatalf("position %d (want %d), reads %d, subscribes %d", lv.Position(), want.Position, fs.reads.Load(), fs.subs.Load())
	}
	w.b.Frame("j5", 1, "n3", 1000)
	w.flush()
	for range 500 {
		if lv.Position() == want.Position+3 {
			return
		}
		sleepMS(10)
	}
	t.Fatalf("did not follow after the retries: at %d", lv.Position())
}
