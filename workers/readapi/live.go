package readapi

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/projections"
)

// LedgerSource is what the API reads: a ledger behind a read lock, the log
// position it reflects and whether it has caught up with the log. Live is
// one; the coordinator's own live ledger can be another.
type LedgerSource interface {
	// View calls fn with the ledger under a read lock; fn must not keep
	// the ledger or anything it points to after it returns.
	View(fn func(*projections.Ledger))
	// Position is the log position of the ledger View shows.
	Position() uint64
	// Ready reports whether the ledger has caught up with the log.
	Ready() bool
}

// HeadSource is an optional capability of a LedgerSource: the newest log
// position it knows of, for the projection lag metric.
type HeadSource interface {
	Head() uint64
}

// Live is a projections.Ledger folded from an event store and kept current
// by a catch-up subscription. It starts empty and not ready; a goroutine
// folds the log (resuming from a checkpoint when one belongs to this log),
// becomes ready once it reaches the head the store had when Live started,
// then applies each new event as it is appended. Readers see the ledger
// between events, never half way through one.
type Live struct {
	store eventstore.Store
	cfg   projections.Config
	ckpt  string
	log   *slog.Logger

	mu sync.RWMutex
	l  *projections.Ledger

	pos       atomic.Uint64
	head      atomic.Uint64
	startHead uint64
	ready     atomic.Bool

	cancel   context.CancelFunc
	done     chan struct{}
	saved    uint64 // position of the last checkpoint written or read
	closeErr error
}

// Checkpoints are written by the follower each time it has folded this many
// events past the last one (and on Close), so a restart folds little.
const liveCheckpointEvery = 50_000

// Timings of the follower; variables so tests can shorten them.
var (
	headPollInterval = 500 * time.Millisecond
	retryMin         = 100 * time.Millisecond
	retryMax         = 10 * time.Second
)

// NewLive starts following s. ctx bounds the follower's life (Close ends it
// too). checkpointPath, if not empty, is where the ledger resumes from and
// where checkpoints are saved (the CLI's DATA/checkpoints/projections.ckpt).
// It fails only when the store cannot say where its head is; later read
// errors are logged and retried with backoff, and Ready reports false
// meanwhile.
func NewLive(ctx context.Context, s eventstore.Store, cfg projections.Config, checkpointPath string, logger *slog.Logger) (*Live, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	head, err := s.Head(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	lv := &Live{store: s, cfg: cfg, ckpt: checkpointPath, log: logger.With("component", "readapi.live"),
		l: projections.New(cfg), startHead: head, cancel: cancel, done: make(chan struct{})}
	lv.head.Store(head)
	go lv.run(ctx)
	return lv, nil
}

// View calls fn with the ledger under the read lock.
func (lv *Live) View(fn func(*projections.Ledger)) {
	lv.mu.RLock()
	defer lv.mu.RUnlock()
	fn(lv.l)
}

// Position is the log position of the ledger View shows.
func (lv *Live) Position() uint64 { return lv.pos.Load() }

// Head is the newest log position Live knows of (polled from the store).
func (lv *Live) Head() uint64 { return lv.head.Load() }

// Ready reports whether the ledger has caught up with the head the store
// had when Live started, and the subscription is healthy.
func (lv *Live) Ready() bool { return lv.ready.Load() }

// Close stops following, waits for the follower to end and saves a
// checkpoint of what it folded (when a path was given).
func (lv *Live) Close() error {
	lv.cancel()
	<-lv.done
	return lv.closeErr
}

// WaitReady blocks until Live is ready or ctx ends.
func (lv *Live) WaitReady(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !lv.Ready() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

func (lv *Live) run(ctx context.Context) {
	defer close(lv.done)
	var polls sync.WaitGroup
	polls.Add(1)
	go func() {
		defer polls.Done()
		lv.pollHead(ctx)
	}()
	defer polls.Wait()

	l := lv.initial(ctx)
	if l == nil {
		return // ctx ended
	}
	lv.mu.Lock()
	lv.l = l
	lv.mu.Unlock()
	lv.pos.Store(l.Position)
	lv.ready.Store(l.Position >= lv.startHead)
	lv.log.Info("projections loaded", "position", l.Position, "events", l.Events)

	defer func() {
		if lv.ckpt != "" && l.Position > lv.saved {
			lv.closeErr = l.WriteCheckpoint(lv.ckpt)
		}
	}()
	backoff := retryMin
	for ctx.Err() == nil {
		err := lv.follow(ctx, l)
		if ctx.Err() != nil {
			return
		}
		lv.ready.Store(false)
		lv.log.Error("log subscription ended; resubscribing", "position", l.Position, "err", err, "retry_in", backoff)
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, retryMax)
	}
}

// initial folds the log up to the head, resuming from the checkpoint,
// retrying read errors with backoff. It returns nil when ctx ends.
func (lv *Live) initial(ctx context.Context) *projections.Ledger {
	backoff := retryMin
	for {
		l, at, err := projections.Resume(ctx, lv.store, lv.ckpt, lv.cfg, nil)
		if err == nil {
			lv.saved = at
			if lv.ckpt != "" && l.Position-at >= liveCheckpointEvery {
				lv.checkpoint(l)
			}
			return l
		}
		if ctx.Err() != nil {
			return nil
		}
		lv.log.Error("folding the log failed; retrying", "err", err, "retry_in", backoff)
		if !sleep(ctx, backoff) {
			return nil
		}
		backoff = min(2*backoff, retryMax)
	}
}

// follow applies events from the subscription until it ends.
func (lv *Live) follow(ctx context.Context, l *projections.Ledger) error {
	sub, err := lv.store.Subscribe(ctx, l.Position+1)
	if err != nil {
		return err
	}
	defer sub.Close()
	if l.Position >= lv.startHead {
		lv.ready.Store(true)
	}
	c := sub.C()
	for {
		var ev eventstore.RecordedEvent
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok = <-c:
		}
		if !ok {
			if err := sub.Err(); err != nil {
				return err
			}
			return errors.New("subscription closed")
		}
		// Fold what has arrived under one lock, up to a bound so readers
		// are not held off for long.
		lv.mu.Lock()
		lv.apply(l, &ev)
	drain:
		for range 1024 {
			select {
			case ev, ok = <-c:
				if !ok {
					break drain
				}
				lv.apply(l, &ev)
			default:
				break drain
			}
		}
		lv.mu.Unlock()
		lv.pos.Store(l.Position)
		storeMax(&lv.head, l.Position)
		if !lv.ready.Load() && l.Position >= lv.startHead {
			lv.ready.Store(true)
		}
		if lv.ckpt != "" && l.Position-lv.saved >= liveCheckpointEvery {
			// Only this goroutine writes the ledger, so reading it here
			// needs no lock.
			lv.checkpoint(l)
		}
	}
}

func (lv *Live) apply(l *projections.Ledger, ev *eventstore.RecordedEvent) {
	if ev.Position <= l.Position {
		return // delivered twice across a resubscription
	}
	l.ApplyRecorded(ev)
}

func (lv *Live) checkpoint(l *projections.Ledger) {
	if err := l.WriteCheckpoint(lv.ckpt); err != nil {
		// A cache, not the log: a failure costs the next start time only.
		lv.log.Warn("could not save the projections checkpoint", "err", err)
		return
	}
	lv.saved = l.Position
}

// pollHead keeps Head current for the lag metric.
func (lv *Live) pollHead(ctx context.Context) {
	t := time.NewTicker(headPollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if h, err := lv.store.Head(ctx); err == nil {
			storeMax(&lv.head, h)
		}
	}
}

// storeMax raises v to x unless it is already higher.
func storeMax(v *atomic.Uint64, x uint64) {
	for {
		old := v.Load()
		if x <= old || v.CompareAndSwap(old, x) {
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
