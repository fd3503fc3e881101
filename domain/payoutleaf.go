package domain

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"sync"
)

// PayoutLeaf returns the settlement leaf of one payout:
//
//	sha256(0x00 || epoch (u64 BE) || operator_id || 0x00 || wallet (32 bytes) || amount (u64 BE))
//
// operator_id cannot hold a NUL (see the id rule), so the encoding is
// unambiguous; the 0x00 prefix keeps leaves apart from inner nodes (0x01).
func PayoutLeaf(epoch uint64, operatorID string, wallet [32]byte, amount BaseUnits) [32]byte {
	b := make([]byte, 0, 1+8+len(operatorID)+1+32+8)
	b = append(b, 0x00)
	b = binary.BigEndian.AppendUint64(b, epoch)
	b = append(b, operatorID...)
	b = append(b, 0x00)
	b = append(b, wallet[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(amount))
	return sha256.Sum256(b)
}

// Leaf returns the payout's Merkle leaf for epoch; the wallet must be valid.
func (p *Payout) Leaf(epoch uint64) ([32]byte, error) {
	w, err := ParseWallet(p.Wallet)
	if err != nil {
		return [32]byte{}, err
	}
	return PayoutLeaf(epoch, p.OperatorID, w, p.Amount), nil
}

// parallelLeaves is the plan size from which PayoutLeaves hashes on every
// CPU: decoding a base58 wallet and hashing is most of the time of
// planning, proving or folding a plan, and a plan of a million payouts is
// then done in a fraction of it. Below it the goroutines cost more than
// they save.
const parallelLeaves = 4096

// PayoutLeaves returns the Merkle leaves of a plan of epoch whose payouts
// (sorted by operator_id) are the concatenation of lists: a plan folded
// from several SettlementPlanned parts passes them as they came. The
// result does not depend on how the work is split; a bad wallet is
// reported for the first payout that has one.
func PayoutLeaves(epoch uint64, lists ...[]Payout) ([][32]byte, error) {
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	leaves := make([][32]byte, n)
	workers := 1
	if n >= parallelLeaves {
		workers = runtime.GOMAXPROCS(0)
	}
	var err error
	if workers == 1 {
		err = hashLeaves(epoch, lists, 0, leaves)
	} else {
		// A copy goes to the goroutines, so that lists (PlanRoot's
		// variadic slice) stays on the caller's stack.
		err = hashParallel(epoch, slices.Clone(lists), leaves, workers)
	}
	if err != nil {
		return nil, err
	}
	return leaves, nil
}

// hashParallel is hashLeaves over all of leaves, split among workers
// goroutines; the error is the first bad payout's.
func hashParallel(epoch uint64, lists [][]Payout, leaves [][32]byte, workers int) error {
	n := len(leaves)
	chunk := (n + workers - 1) / workers
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*chunk, min((w+1)*chunk, n)
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = hashLeaves(epoch, lists, lo, leaves[lo:hi])
		}()
	}
	wg.Wait()
	for _, err := range errs { // in index order: the first bad payout's
		if err != nil {
			return err
		}
	}
	return nil
}

// hashLeaves fills out with the leaves of the payouts at indexes from, …,
// from+len(out)-1 of the concatenation of lists, stopping at the first
// bad wallet.
func hashLeaves(epoch uint64, lists [][]Payout, from int, out [][32]byte) error {
	i, k := from, 0 // i: index in the concatenation; k: in out
	for _, l := range lists {
		if from >= len(l) {
			from -= len(l)
			continue
		}
		for j := from; j < len(l) && k < len(out); j, k, i = j+1, k+1, i+1 {
			leaf, err := l[j].Leaf(epoch)
			if err != nil {
				return fmt.Errorf("payout of %s (payouts[%d]): %w", l[j].OperatorID, i, err)
			}
			out[k] = leaf
		}
		from = 0
		if k == len(out) {
			break
		}
	}
	return nil
}

// PlanRoot returns the Merkle root over PayoutLeaves(epoch, lists...): the
// root of a settlement plan.
func PlanRoot(epoch uint64, lists ...[]Payout) ([32]byte, error) {
	leaves, err := PayoutLeaves(epoch, lists...)
	if err != nil {
		return [32]byte{}, err
	}
	return MerkleRoot(leaves), nil
}
