package settlement

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/projections"
)

// Stream returns the stream of epoch n's settlement events: the plan and
// every payout transaction's record, in order.
func Stream(epoch uint64) string { return "settlement-" + strconv.FormatUint(epoch, 10) }

// ErrConcurrent means another process appended to the epoch's settlement
// stream while this one was working: two submitters of one epoch must
// never run at once, so this one stops before sending anything more.
var ErrConcurrent = errors.New("settlement: another process is settling this epoch")

// Journal appends settlement events the way the command layer appends any
// event: each through Ledger.Check against everything folded so far, then
// one atomic store append, then the ledger folds what was stored. Appends
// to an epoch's stream carry the expected revision, so a second process
// settling the same epoch (possible on a shared store) is refused by the
// store instead of being allowed to pay twice.
type Journal struct {
	store  eventstore.Store
	ledger *projections.Ledger
	now    func() time.Time
	next   map[string]uint64 // stream → next revision, once read
	err    error             // sticky: the in-memory ledger may hold events the store refused
}

// NewJournal returns a journal over store whose events ledger has folded
// (up to any position: Append catches up first).
func NewJournal(store eventstore.Store, ledger *projections.Ledger) *Journal {
	return &Journal{store: store, ledger: ledger, now: time.Now, next: map[string]uint64{}}
}

// Ledger returns the fold, current after every Append.
func (j *Journal) Ledger() *projections.Ledger { return j.ledger }

// CatchUp folds events appended by others since the last call.
func (j *Journal) CatchUp(ctx context.Context) error {
	if j.err != nil {
		return j.err
	}
	return j.ledger.CatchUp(ctx, j.store, nil)
}

// eventID derives an event's id from what makes it unique (a transaction
// signature, an epoch's plan part), so that a retried append is a no-op
// in the store rather than a second event.
func eventID(typ, key string) string {
	s := sha256.Sum256([]byte("epochledger-settlement:" + typ + ":" + key))
	s[6] = s[6]&0x0f | 0x50 // version 5 style: name-based
	s[8] = s[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

// idKey is what makes ev unique. A PayoutConfirmed or PayoutExpired that
// supersedes an earlier resolution of the same transaction (a correction:
// the chain disagrees with the log) is a new fact, so it gets a key of its
// own; a retry of it derives the same key, since the count only moves once
// it is stored.
func (j *Journal) idKey(ev domain.Event) string {
	resolution := func(sig string) string {
		if tx := j.ledger.FindTx(sig); tx != nil && tx.State != "submitted" {
			return fmt.Sprintf("%s:correction-%d", sig, tx.Corrections+1)
		}
		return sig
	}
	switch e := ev.(type) {
	case *domain.SettlementPlanned:
		return fmt.Sprintf("%d:%s:%d", e.Epoch, e.Root, e.Part)
	case *domain.PayoutSubmitted:
		return e.Signature
	case *domain.PayoutConfirmed:
		return resolution(e.Signature)
	case *domain.PayoutExpired:
		return resolution(e.Signature)
	case *domain.LookupTableCreated:
		return e.Signature
	case *domain.LookupTableExtended:
		return e.Signature
	}
	panic("settlement: not a settlement event")
}

// Append checks evs in order and appends them to stream in one atomic
// append. Each event is checked against the ledger with the events before
// it in evs folded; nothing is appended when one is refused. After the
// append the ledger stands at the store's head: when the batch landed
// right after the ledger's position the speculative fold is kept, else the
// ledger catches up from the store (folding settlement events again is a
// no-op, so the events of the batch are not counted twice in its state).
func (j *Journal) Append(ctx context.Context, stream string, evs []domain.Event) (eventstore.AppendResult, error) {
	if j.err != nil {
		return eventstore.AppendResult{}, j.err
	}
	if len(evs) == 0 {
		return eventstore.AppendResult{}, nil
	}
	if err := j.ledger.CatchUp(ctx, j.store, nil); err != nil {
		return eventstore.AppendResult{}, err
	}
	next, err := j.revision(ctx, stream)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	now := j.now().UTC()
	t := now.Format(time.RFC3339Nano)
	data := make([]eventstore.EventData, len(evs))
	for i, ev := range evs {
		env, err := domain.NewEnvelope(eventID(ev.EventType(), j.idKey(ev)), stream, now, ev)
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		data[i] = eventstore.EventData{ID: env.ID, Type: env.Type, Time: env.Time, Data: env.Data}
	}
	// Check each event with the ones before it folded. Folding changes the
	// in-memory ledger before the store has the events, so from here on a
	// failure that leaves the fold dirty makes the journal unusable (sticky
	// error); the caller stops.
	batch := j.ledger.Speculate()
	for _, ev := range evs {
		if err := batch.Add(t, ev); err != nil {
			if batch.Dirty() {
				j.err = fmt.Errorf("settlement: journal abandoned after a refused event: %w", err)
			}
			return eventstore.AppendResult{}, err
		}
	}
	expected := eventstore.NoStream()
	if next > 0 {
		expected = eventstore.Exact(next - 1)
	}
	res, err := j.store.Append(ctx, stream, expected, data...)
	if err != nil {
		if batch.Dirty() {
			j.err = fmt.Errorf("settlement: append to %s failed: %w", stream, err)
		}
		if errors.Is(err, eventstore.ErrWrongRevision) {
			return res, fmt.Errorf("%w: stream %s moved past revision %d while this process worked (%v); nothing of this batch was appended", ErrConcurrent, stream, next, err)
		}
		return res, fmt.Errorf("settlement: append to %s: %w", stream, err)
	}
	j.next[stream] = res.NextRevision
	ids := make([]string, len(data))
	positions := make([]uint64, len(data))
	for i := range data {
		ids[i] = data[i].ID
	}
	if !res.Duplicate && res.LastPosition-res.FirstPosition == uint64(len(data)-1) {
		for i := range positions {
			positions[i] = res.FirstPosition + uint64(i)
		}
	} else if len(evs) > 1 {
		// Where the store put each event (a retried append reports the
		// first storing's positions), for the positions the speculative
		// fold recorded.
		at := make(map[string]uint64, len(data))
		err := j.store.ReadStream(ctx, stream, next, func(e *eventstore.RecordedEvent) error {
			at[e.ID] = e.Position
			return nil
		})
		if err != nil {
			j.err = fmt.Errorf("settlement: read back %s: %w", stream, err)
			return res, j.err
		}
		for i := range data {
			positions[i] = at[data[i].ID]
		}
	}
	// Right after what the ledger had folded, the speculative fold is
	// kept; else the ledger catches up from the store (folding settlement
	// events again is a no-op, so the batch is not counted twice in its
	// state).
	if err := batch.Stored(ctx, j.store, positions, ids); err != nil {
		j.err = err
		return res, err
	}
	return res, nil
}

// revision returns the stream's next revision, reading it once.
func (j *Journal) revision(ctx context.Context, stream string) (uint64, error) {
	if n, ok := j.next[stream]; ok {
		return n, nil
	}
	var n uint64
	err := j.store.ReadStream(ctx, stream, 0, func(e *eventstore.RecordedEvent) error {
		n = e.Revision + 1
		return nil
	})
	if err != nil && !errors.Is(err, eventstore.ErrStreamNotFound) {
		return 0, fmt.Errorf("settlement: read stream %s: %w", stream, err)
	}
	j.next[stream] = n
	return n, nil
}
