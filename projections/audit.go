package projections

import (
	"fmt"
	"math/big"
	"sort"
)

// Audit checks the ledger's money invariants in exact arithmetic (big
// integers, so that a wrapped uint64 sum shows as a difference instead of
// agreeing with itself):
//
//   - every closed epoch's allocations and unallocated sum to its emission;
//   - each of its reward channels' allocations and unallocated sum to the
//     channel's amount, the channels to the emission, and an operator's
//     allocation is the sum of its channels';
//   - each operator's Allocated is the sum of its epochs' allocations, and
//     its paid, in-flight and reserved amounts together do not exceed it;
//   - Minted is the emissions less what was unallocated, and Burned the sum
//     of the epochs' burns.
//
// It returns the first broken invariant, or nil. Tests run it after
// folding; a ledger folded from any log, checked or not, passes it.
func (l *Ledger) Audit() error {
	minted, burned := new(big.Int), new(big.Int)
	allocated := map[string]*big.Int{}
	for _, ep := range l.Epochs {
		burned.Add(burned, bigU(uint64(ep.Burned)))
		if !ep.Closed {
			continue
		}
		sum := bigU(uint64(ep.Unallocated))
		for id, a := range ep.Allocations {
			sum.Add(sum, bigU(uint64(a)))
			if allocated[id] == nil {
				allocated[id] = new(big.Int)
			}
			allocated[id].Add(allocated[id], bigU(uint64(a)))
		}
		if sum.Cmp(bigU(uint64(ep.Emission))) != 0 {
			return fmt.Errorf("projections: audit: epoch %d allocates %s base units (unallocated included) of an emission of %s", ep.N, sum, ep.Emission)
		}
		if err := auditChannels(ep); err != nil {
			return err
		}
		minted.Add(minted, bigU(uint64(ep.Emission-ep.Unallocated)))
	}
	if minted.Cmp(bigU(uint64(l.Minted))) != 0 {
		return fmt.Errorf("projections: audit: minted is %s base units, the epochs' emissions less unallocated are %s", l.Minted, minted)
	}
	if burned.Cmp(bigU(uint64(l.Burned))) != 0 {
		return fmt.Errorf("projections: audit: burned is %s base units, the epochs' burns sum to %s", l.Burned, burned)
	}
	ids := make([]string, 0, len(l.Operators))
	for id := range l.Operators {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		o := l.Operators[id]
		want := allocated[id]
		if want == nil {
			want = new(big.Int)
		}
		if want.Cmp(bigU(uint64(o.Allocated))) != 0 {
			return fmt.Errorf("projections: audit: operator %q is allocated %s base units, its epochs' allocations sum to %s", id, o.Allocated, want)
		}
		committed := bigU(uint64(o.Paid))
		committed.Add(committed, bigU(uint64(o.InFlight)))
		committed.Add(committed, bigU(uint64(l.Reserved(id))))
		if committed.Cmp(want) > 0 {
			return fmt.Errorf("projections: audit: operator %q has %s base units paid, in flight or reserved, more than its allocation of %s", id, committed, want)
		}
	}
	return nil
}

func bigU(v uint64) *big.Int { return new(big.Int).SetUint64(v) }

// auditChannels checks a closed epoch's reward channels against its
// emission and allocations.
func auditChannels(ep *Epoch) error {
	emission := new(big.Int)
	perOp := map[string]*big.Int{}
	for _, ca := range ep.Channels {
		sum := bigU(uint64(ca.Unallocated))
		for id, a := range ca.Allocations {
			sum.Add(sum, bigU(uint64(a)))
			if perOp[id] == nil {
				perOp[id] = new(big.Int)
			}
			perOp[id].Add(perOp[id], bigU(uint64(a)))
		}
		if sum.Cmp(bigU(uint64(ca.Amount))) != 0 {
			return fmt.Errorf("projections: audit: epoch %d channel %s allocates %s base units (unallocated included) of an amount of %s", ep.N, ca.Name, sum, ca.Amount)
		}
		emission.Add(emission, bigU(uint64(ca.Amount)))
	}
	if emission.Cmp(bigU(uint64(ep.Emission))) != 0 {
		return fmt.Errorf("projections: audit: epoch %d's channels sum to %s base units, its emission is %s", ep.N, emission, ep.Emission)
	}
	for id, a := range ep.Allocations {
		want := perOp[id]
		if want == nil {
			want = new(big.Int)
		}
		if want.Cmp(bigU(uint64(a))) != 0 {
			return fmt.Errorf("projections: audit: epoch %d operator %q is allocated %s base units, its channels sum to %s", ep.N, id, a, want)
		}
	}
	return nil
}
