package projections

import (
	"context"
	"fmt"

	"github.com/epochledger/epochledger/domain"
)

// Pending is a batch of events on its way to the log, checked against the
// ledger with the events before it in the batch folded: the speculative
// fold that settlement's Journal and import do before one atomic append.
// Once the store has the batch, Stored commits the fold at the positions
// the store gave it. Writers outside this package go through Pending (or
// ApplyStored) and never set the ledger's position, counters or recorded
// positions themselves.
//
// Event i of the batch is folded as if stored at Position+1+i, the
// position it gets when nothing else is appended first, so the common
// case costs nothing more than the checks. An event is folded only when
// the next one is added (its fold is what the next one is checked
// against) or at Stored: a batch of one event never changes the ledger
// before it is stored.
//
// While a batch is open nothing else may fold into the ledger. A batch
// that is never stored leaves the ledger holding events the log does not
// when Dirty says so: the ledger must then be discarded.
type Pending struct {
	l      *Ledger
	base   uint64 // the ledger's position when the batch began
	events uint64 // the ledger's event count then
	evs    []domain.Event
	folded int // evs[:folded] are folded into the ledger
	done   bool
}

// Speculate begins a batch of events to append after everything the
// ledger has folded.
func (l *Ledger) Speculate() *Pending {
	return &Pending{l: l, base: l.Position, events: l.Events}
}

// Add checks ev (t is its envelope's time, RFC 3339) against the ledger
// and the events added before it, and adds it to the batch. A refused
// event is not added; the batch stays usable.
func (p *Pending) Add(t string, ev domain.Event) error {
	if p.done {
		return fmt.Errorf("projections: event %s added to a batch already stored", ev.EventType())
	}
	p.foldTo(len(p.evs))
	if err := p.l.Check(t, ev); err != nil {
		return err
	}
	p.evs = append(p.evs, ev)
	return nil
}

// foldTo folds the batch's events up to (not including) index n at their
// presumed positions.
func (p *Pending) foldTo(n int) {
	for ; p.folded < n; p.folded++ {
		p.l.Apply(p.base+1+uint64(p.folded), p.evs[p.folded])
	}
}

// Len is the number of events in the batch.
func (p *Pending) Len() int { return len(p.evs) }

// Dirty reports whether the ledger holds the fold of events of the batch
// that are not stored: after a refused event or a failed append of a
// batch of more than one event, the ledger no longer matches the log.
func (p *Pending) Dirty() bool { return p.folded > 0 && !p.done }

// Stored commits the batch: the store holds its i-th event at
// positions[i] with id ids[i]. When the batch directly follows what the
// ledger had folded (positions Position+1, +2, … of Speculate's time), the
// speculative fold is the fold of these positions and is kept: reading
// the events back (a large plan is 100 MB of JSON) would change nothing.
// Otherwise others appended first: the ledger catches up from r, which
// folds the events of the batch already folded a second time (so a batch
// stored apart from the ledger's position must be of events whose second
// fold changes nothing, like settlement events), and the positions the
// speculative fold recorded in the settlement state (a plan's PlannedAt, a
// transaction's SubmittedAt) are set to the stored ones.
func (p *Pending) Stored(ctx context.Context, r Reader, positions []uint64, ids []string) error {
	if p.done {
		return fmt.Errorf("projections: a batch stored twice")
	}
	if len(positions) != len(p.evs) || len(ids) != len(p.evs) {
		return fmt.Errorf("projections: a batch of %d events stored with %d positions and %d ids", len(p.evs), len(positions), len(ids))
	}
	if len(p.evs) == 0 {
		p.done = true
		return nil
	}
	l := p.l
	if p.follows(positions) {
		p.foldTo(len(p.evs))
		p.done = true
		l.LastID = ids[len(ids)-1]
		if l.cfg.TrackIDs {
			for i, id := range ids {
				l.IDs[id] = positions[i]
			}
		}
		return nil
	}
	// The events folded so far count again as the catch-up reads them.
	l.Position, l.Events = p.base, p.events
	if err := l.CatchUp(ctx, r, nil); err != nil {
		return err
	}
	p.done = true
	for i := range p.folded {
		l.repositionSettlement(p.evs[i], positions[i])
	}
	return nil
}

// follows reports whether positions are those right after the batch's base.
func (p *Pending) follows(positions []uint64) bool {
	for i, pos := range positions {
		if pos != p.base+1+uint64(i) {
			return false
		}
	}
	return true
}

// repositionSettlement sets the positions the fold of ev recorded to pos,
// the position the store gave it.
func (l *Ledger) repositionSettlement(ev domain.Event, pos uint64) {
	switch e := ev.(type) {
	case *domain.SettlementPlanned:
		if ep := l.Epoch(e.Epoch); ep != nil && ep.Settlement != nil && e.Part <= 1 {
			ep.Settlement.PlannedAt = pos
		}
	case *domain.PayoutSubmitted:
		if ep := l.Epoch(e.Epoch); ep != nil && ep.Settlement != nil {
			if tx := ep.Settlement.Tx(e.Signature); tx != nil {
				tx.SubmittedAt = pos
			}
		}
	}
}

// ApplyStored folds ev, stored at pos with id: what a writer that checks
// its events, appends them and only then folds (the coordinator) calls for
// each event the store took. Unlike Apply it keeps the ledger's last id
// and, when tracked, its ids, so the ledger equals a fold of the log.
func (l *Ledger) ApplyStored(pos uint64, id string, ev domain.Event) {
	if l.cfg.TrackIDs {
		l.IDs[id] = pos
	}
	l.Apply(pos, ev)
	l.LastID = id
}
