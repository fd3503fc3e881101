package coordinator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/workers/api"
)

// A txn is one request's worth of events. The commit loop runs txns in
// rounds: prepare checks each against the ledger and adds its events
// (under the write lock), the round's events go to the log in one durable
// append, are applied, and only then is every txn told (finish), so no
// answer precedes the fsync and nothing refused reaches the log.
type txn interface {
	// prepare checks the txn and adds its events to r. It returns
	// errDefer when it touches something an earlier txn of the round
	// already claimed (it then runs in the next round, against a ledger
	// that includes that txn), or a refusal.
	prepare(r *round) error
	// finish is called once, after the round's events are durable and
	// applied (err nil) or with why the txn failed. It must not block on
	// the commit loop.
	finish(r *round, err error)
}

var errDefer = errors.New("deferred to the next round")

// errNotStoredNow answers the txns of a round the store could not store
// (eventstore.ErrNotStored): nothing was appended, the coordinator serves
// on, the client retries. A shared value, matched with errors.Is: never
// modify it (writeError answers a copy).
var errNotStoredNow = &api.Error{Status: http.StatusServiceUnavailable, Code: api.CodeUnavailable, Message: "the event log could not store the request now; nothing was appended: retry"}

// aborter is a txn that must undo scheduler changes when its events were
// not stored (called under the write lock).
type aborter interface{ abort() }

// maxRoundEvents bounds one round (one append).
const maxRoundEvents = 16384

// round is one batch of txns: one append, one fsync.
type round struct {
	s       *Server
	n       uint64
	now     time.Time
	nowText string
	nowMS   int64
	envs    []*domain.Envelope
	evs     []domain.Event
	pos     []uint64 // positions, after the append
	// bookkeeping of the txn being prepared, to roll it back
	start  int
	slots  []*slot
	keys   map[string]uint64 // key → round that claimed it
	mykeys []string
}

// add appends an event of the txn being prepared.
func (r *round) add(id, stream string, ev domain.Event) error {
	env, err := domain.NewEnvelope(id, stream, r.now, ev)
	if err != nil {
		return err
	}
	r.envs = append(r.envs, env)
	r.evs = append(r.evs, ev)
	return nil
}

// claimSlot claims a frame for the txn being prepared; false if another
// txn of this round has it.
func (r *round) claimSlot(f *slot) bool {
	if f.claim == r.n {
		return false
	}
	f.claim = r.n
	r.slots = append(r.slots, f)
	return true
}

// claimKey claims a name (job id, node id, epoch) like claimSlot.
func (r *round) claimKey(k string) bool {
	if r.keys[k] == r.n {
		return false
	}
	r.keys[k] = r.n
	r.mykeys = append(r.mykeys, k)
	return true
}

func (r *round) begin() {
	r.start = len(r.envs)
	r.slots = r.slots[:0]
	r.mykeys = r.mykeys[:0]
}

// rollback undoes the txn being prepared.
func (r *round) rollback() {
	clear(r.envs[r.start:])
	clear(r.evs[r.start:])
	r.envs, r.evs = r.envs[:r.start], r.evs[:r.start]
	for _, f := range r.slots {
		f.claim = 0
	}
	for _, k := range r.mykeys {
		delete(r.keys, k)
	}
}

// span is the events a txn added: r.envs[from:to].
type span struct{ from, to int }

// position returns the stored position of the txn's i-th event.
func (r *round) position(sp span, i int) uint64 { return r.pos[sp.from+i] }

// loop is the commit loop: the only appender.
func (s *Server) loop(pending []txn) {
	defer close(s.loopEnd)
	keys := map[string]uint64{}
	for {
		if len(pending) == 0 {
			select {
			case t := <-s.in:
				pending = append(pending, t)
			case <-s.quit:
				return
			}
		}
	drain:
		for len(pending) < maxRoundEvents/4 {
			select {
			case t := <-s.in:
				pending = append(pending, t)
			default:
				break drain
			}
		}
		pending = s.runRound(pending, keys)
		if len(keys) > 4096 {
			clear(keys)
		}
	}
}

type prepared struct {
	t  txn
	sp span
}

// runRound prepares, appends, applies and finishes txns; it returns the
// deferred ones and the txns the round generated (job completions).
func (s *Server) runRound(txns []txn, keys map[string]uint64) []txn {
	s.rounds++
	now := s.now()
	r := &round{s: s, n: s.rounds, now: now, nowText: now.Format(time.RFC3339Nano), nowMS: now.UnixMilli(), keys: keys}
	var (
		ok      []prepared
		refused []prepared
		errs    []error
		next    []txn
	)
	failed := s.Failed()
	s.mu.Lock()
	for i, t := range txns {
		if failed != nil {
			refused = append(refused, prepared{t: t})
			errs = append(errs, unavailable(failed))
			continue
		}
		if len(r.envs) >= maxRoundEvents {
			next = append(next, txns[i:]...)
			break
		}
		r.begin()
		err := t.prepare(r)
		switch {
		case err == errDefer:
			r.rollback()
			if a, ok := t.(aborter); ok {
				a.abort()
			}
			next = append(next, t)
		case err != nil:
			r.rollback()
			if a, ok := t.(aborter); ok {
				a.abort()
			}
			refused = append(refused, prepared{t: t})
			errs = append(errs, err)
		default:
			ok = append(ok, prepared{t: t, sp: span{r.start, len(r.envs)}})
		}
	}
	s.mu.Unlock()

	if len(r.envs) > 0 {
		start := time.Now()
		err := s.appendRound(r)
		d := time.Since(start)
		s.m.appendSeconds.Observe(d.Seconds())
		if ob := s.opts.Observer; ob != nil {
			ob.ObserveAppend(d, err)
		}
		if err != nil {
			switch {
			case errors.Is(err, eventstore.ErrNotStored):
				// Nothing of the round was written and the store is still
				// usable (a segment it could not create for want of file
				// descriptors, a full disk): refuse these txns (503, retry)
				// and keep serving, as the log matches the ledger.
				s.log.Error("the event log could not store an append; nothing of it was written", "events", len(r.envs), "err", err)
				err = errNotStoredNow
			case !refusedByStore(err):
				s.fail(err)
				err = unavailable(err)
			default:
				err = fmt.Errorf("coordinator: the store refused the append: %w", err)
			}
			if s.Failed() == nil {
				s.mu.Lock()
				for _, p := range ok {
					if a, ok := p.t.(aborter); ok {
						a.abort()
					}
				}
				s.mu.Unlock()
			}
			if errors.Is(err, errNotStoredNow) {
				// Job completions have no client to retry them: they go
				// again with the next round.
				for _, p := range ok {
					if c, isC := p.t.(*completionTxn); isC {
						next = append(next, c)
					}
				}
			}
			for _, p := range ok {
				p.t.finish(r, err)
			}
			ok = nil
		} else {
			s.m.rounds.Inc()
			s.m.events.Add(float64(len(r.envs)))
			s.mu.Lock()
			for i, env := range r.envs {
				if r.pos[i] == 0 {
					continue // already stored (an idempotent retry): folded before
				}
				s.applyOne(r.pos[i], env.ID, env.Time, r.evs[i])
				if ob := s.opts.Observer; ob != nil {
					switch env.Type {
					case domain.TypeFrameAccepted:
						ob.FrameAccepted()
					case domain.TypeFrameRejected:
						ob.FrameRejected()
					}
				}
			}
			for _, j := range s.sched.completions {
				next = append(next, &completionTxn{job: j})
			}
			s.sched.completions = nil
			s.mu.Unlock()
		}
	}
	for _, p := range ok {
		p.t.finish(r, nil)
	}
	for i, p := range refused {
		p.t.finish(r, errs[i])
	}
	return next
}

// appendRound stores the round's events, one AppendRequest per run of
// events of one stream, atomically when the store can
// (eventstore.AppendInOrder), and fills r.pos (0: already stored, an
// idempotent retry).
func (s *Server) appendRound(r *round) error {
	evs := make([]eventstore.StreamEvent, len(r.envs))
	for i, env := range r.envs {
		evs[i] = eventstore.StreamEvent{Stream: env.Stream, Event: eventstore.EventData{ID: env.ID, Type: env.Type, Time: env.Time, Data: env.Data}}
	}
	res, pos, err := eventstore.AppendInOrder(context.Background(), s.store, evs)
	if err != nil && len(res) > 0 {
		// Part of the round is stored (a store without multi-stream
		// appends): whatever the store says of the failed append, the
		// round's outcome is not "nothing stored" nor a clean refusal.
		return fmt.Errorf("coordinator: the round's first %d appends (one per run of a stream's events) stored, then: %v", len(res), err)
	}
	if err != nil {
		return err
	}
	r.pos = pos
	return nil
}

// refusedByStore reports whether an append error is a refusal of this
// append (nothing stored, the store still healthy) rather than a failure
// of the log.
func refusedByStore(err error) bool {
	return errors.Is(err, eventstore.ErrDuplicateID) || errors.Is(err, eventstore.ErrInvalidEvent) || errors.Is(err, eventstore.ErrWrongRevision)
}

// fail stops all appends: a failed write or fsync is sticky in the store,
// and the ledger can no longer be trusted to match the log. Restart the
// coordinator (it refolds the log) after fixing the cause.
func (s *Server) fail(err error) {
	if s.failed.CompareAndSwap(nil, &err) {
		s.log.Error("the event log failed; refusing appends until restarted", "err", err)
	}
}

// unavailable is the answer while the log has failed. The cause (often
// naming a file of the data directory) is in the coordinator's log, not in
// the body.
func unavailable(err error) error {
	return &api.Error{Status: http.StatusServiceUnavailable, Code: api.CodeUnavailable, Message: "the event log failed; appends are refused until the coordinator is restarted (its log has the cause)"}
}

// waiter is embedded by txns a handler waits for.
type waiter struct {
	ch  chan struct{}
	err error
}

func newWaiter() waiter { return waiter{ch: make(chan struct{})} }

func (w *waiter) done(err error) {
	w.err = err
	close(w.ch)
}

// submit hands t to the commit loop and waits until it is finished. Once
// handed over the txn is always waited for, even if ctx ends: it may
// already be on its way to the disk.
func (s *Server) submit(ctx context.Context, t txn, w *waiter) error {
	if err := s.Failed(); err != nil {
		return unavailable(err)
	}
	if s.closed.Load() {
		return &api.Error{Status: http.StatusServiceUnavailable, Code: api.CodeUnavailable, Message: "the coordinator is shutting down"}
	}
	select {
	case s.in <- t:
	case <-s.quit:
		return &api.Error{Status: http.StatusServiceUnavailable, Code: api.CodeUnavailable, Message: "the coordinator is shutting down"}
	case <-ctx.Done():
		return ctx.Err()
	}
	<-w.ch
	return w.err
}
