package projections

import "fmt"

// Audit checks the ledger's money invariants and returns the first one
// broken: every closed epoch's channel allocations plus unallocated equal
// the channel's amount, its channels sum to its emission and its
// per-operator allocations to their channel sums; what the operators were
// allocated equals what was minted; no operator is paid, in flight or
// planned beyond its allocation. A ledger folded from a log that passed
// Check always passes; tests run it after their folds.
func (l *Ledger) Audit() error {
	var minted uint64
	for _, ep := range l.Epochs {
		if !ep.Closed {
			continue
		}
		var emission, unallocated uint64
		perOp := map[string]uint64{}
		for _, ca := range ep.Channels {
			var sum uint64
			for id, a := range ca.Allocations {
				sum += uint64(a)
				perOp[id] += uint64(a)
			}
			if sum+uint64(ca.Unallocated) != uint64(ca.Amount) {
				return fmt.Errorf("projections: audit: epoch %d channel %s: allocated %d + unallocated %d != amount %d", ep.N, ca.Name, sum, ca.Unallocated, ca.Amount)
			}
			emission += uint64(ca.Amount)
			unallocated += uint64(ca.Unallocated)
		}
		if emission != uint64(ep.Emission) || unallocated != uint64(ep.Unallocated) {
			return fmt.Errorf("projections: audit: epoch %d: channels sum to %d (unallocated %d), emission %d (unallocated %d)", ep.N, emission, unallocated, ep.Emission, ep.Unallocated)
		}
		for id, a := range ep.Allocations {
			if perOp[id] != uint64(a) {
				return fmt.Errorf("projections: audit: epoch %d operator %s: allocation %d != its channels' %d", ep.N, id, a, perOp[id])
			}
		}
		minted += emission - unallocated
	}
	if minted != uint64(l.Minted) {
		return fmt.Errorf("projections: audit: epochs minted %d, ledger %d", minted, l.Minted)
	}
	var allocated uint64
	for _, o := range l.Operators {
		allocated += uint64(o.Allocated)
		if o.Paid+o.InFlight+l.Reserved(o.ID) > o.Allocated {
			return fmt.Errorf("projections: audit: operator %s: paid %d + in flight %d + planned %d > allocated %d", o.ID, o.Paid, o.InFlight, l.Reserved(o.ID), o.Allocated)
		}
	}
	if allocated != minted {
		return fmt.Errorf("projections: audit: operators allocated %d, minted %d", allocated, minted)
	}
	return nil
}
