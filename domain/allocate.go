package domain

import (
	"cmp"
	"math/big"
	"math/bits"
	"slices"
	"strings"
)

// Share is an operator's work value w_i in an epoch, at any scale common to
// all shares of one allocation (value units of FrameValue/ComputeValue, for
// instance). A nil Value is zero.
type Share struct {
	OperatorID string
	Value      *big.Int
}

// Allocate splits an epoch's emission E between operators pro rata to their
// work values, exactly (DESIGN "Emissions allocation"):
//
//  1. a_i = floor(E × w_i / W) with W = Σ w_i;
//  2. the remainder R = E − Σ a_i (< number of operators) goes one base unit
//     each to the operators with the largest (E × w_i) mod W, ties broken by
//     operator_id ascending (byte order);
//  3. Σ a_i = E. If W = 0 nothing is allocated and unallocated = E.
//
// alloc is aligned with shares; the result does not depend on the order of
// shares. Operator ids must be unique (with repeats, ties between them fall
// to the earlier share). It panics on a negative value.
func Allocate(emission BaseUnits, shares []Share) (alloc []BaseUnits, unallocated BaseUnits) {
	n := len(shares)
	alloc = make([]BaseUnits, n)
	total := new(big.Int)
	for i := range shares {
		v := shares[i].Value
		if v == nil {
			continue
		}
		if v.Sign() < 0 {
			panic("domain: Allocate: negative work value for operator " + shares[i].OperatorID)
		}
		total.Add(total, v)
	}
	if total.Sign() == 0 || emission == 0 {
		if total.Sign() == 0 {
			return alloc, emission
		}
		return alloc, 0
	}
	E := uint64(emission)

	var (
		given  uint64
		remCmp func(i, j int32) int
	)
	if total.IsUint64() {
		// Every w_i ≤ W < 2^64: E × w_i fits in 128 bits and its quotient
		// by W fits in 64 (hi < W because w_i ≤ W and E < 2^64).
		W := total.Uint64()
		rems := make([]uint64, n)
		for i := range shares {
			if shares[i].Value == nil {
				continue
			}
			hi, lo := bits.Mul64(E, shares[i].Value.Uint64())
			q, r := bits.Div64(hi, lo, W)
			alloc[i] = BaseUnits(q)
			rems[i] = r
			given += q
		}
		remCmp = func(i, j int32) int { return cmp.Compare(rems[i], rems[j]) }
	} else {
		// Remainders are < W: k words each, zero padded, in one arena so
		// that the loop allocates nothing per operator.
		k := len(total.Bits())
		arena := make([]big.Word, n*k)
		var (
			e    = new(big.Int).SetUint64(E)
			prod big.Int
			q    big.Int
			r    big.Int
		)
		for i := range shares {
			if shares[i].Value == nil {
				continue
			}
			prod.Mul(e, shares[i].Value)
			q.QuoRem(&prod, total, &r)
			a := q.Uint64() // ≤ E
			alloc[i] = BaseUnits(a)
			given += a
			copy(arena[i*k:], r.Bits())
		}
		remCmp = func(i, j int32) int {
			a, b := arena[int(i)*k:int(i+1)*k], arena[int(j)*k:int(j+1)*k]
			for w := k - 1; w >= 0; w-- {
				if a[w] != b[w] {
					return cmp.Compare(a[w], b[w])
				}
			}
			return 0
		}
	}

	rest := E - given // < n
	if rest == 0 {
		return alloc, 0
	}
	// Order: remainder descending, then operator_id ascending, then index.
	order := func(i, j int32) int {
		if c := remCmp(j, i); c != 0 {
			return c
		}
		if c := strings.Compare(shares[i].OperatorID, shares[j].OperatorID); c != 0 {
			return c
		}
		return cmp.Compare(i, j)
	}
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	selectTop(idx, int(rest), order)
	for _, i := range idx[:rest] {
		alloc[i]++
	}
	return alloc, 0
}

// selectTop reorders idx so that its first k elements are the k smallest
// under order (in any order among themselves). order must be a strict total
// order. It is an in-place quickselect with a deterministic median-of-three
// pivot, falling back to sorting small ranges; it runs in linear time on
// average, O(n log n) at worst, and never allocates.
func selectTop(idx []int32, k int, order func(i, j int32) int) {
	lo, hi := 0, len(idx) // the k-th boundary lies in idx[lo:hi]
	// Introselect: after 2·log2(n) rounds without converging (a pattern
	// that defeats the pivot choice), sort what is left: O(n log n) worst case.
	budget := 2 * bits.Len(uint(len(idx)))
	for hi-lo > 32 && budget > 0 {
		budget--
		// Median of three as pivot, moved to lo.
		mid := lo + (hi-lo)/2
		a, b, c := lo, mid, hi-1
		if order(idx[b], idx[a]) < 0 {
			a, b = b, a
		}
		if order(idx[c], idx[b]) < 0 {
			b, c = c, b
			if order(idx[b], idx[a]) < 0 {
				a, b = b, a
			}
		}
		idx[lo], idx[b] = idx[b], idx[lo]
		pivot := idx[lo]
		// Hoare-style partition around pivot (all keys are distinct).
		i, j := lo+1, hi-1
		for {
			for i <= j && order(idx[i], pivot) < 0 {
				i++
			}
			for i <= j && order(idx[j], pivot) > 0 {
				j--
			}
			if i >= j {
				break
			}
			idx[i], idx[j] = idx[j], idx[i]
			i++
			j--
		}
		// idx[lo+1:i] < pivot, idx[j+1:hi] > pivot, i == j+1.
		idx[lo], idx[j] = idx[j], idx[lo]
		switch {
		case j == k || j == k-1:
			// idx[:j] are all smaller than idx[j]; with j ∈ {k-1, k} the
			// first k are the k smallest.
			return
		case j < k:
			lo = j + 1
		default:
			hi = j
		}
	}
	slices.SortFunc(idx[lo:hi], order)
}
