package domain

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// allocateRat is an independent reference: big.Rat arithmetic and a full
// sort, no shared code with Allocate.
func allocateRat(emission BaseUnits, shares []Share) ([]BaseUnits, BaseUnits) {
	W := new(big.Rat)
	for _, s := range shares {
		if s.Value != nil {
			W.Add(W, new(big.Rat).SetInt(s.Value))
		}
	}
	out := make([]BaseUnits, len(shares))
	if W.Sign() == 0 {
		return out, emission
	}
	E := new(big.Rat).SetInt(new(big.Int).SetUint64(uint64(emission)))
	fracs := make([]*big.Rat, len(shares))
	var given uint64
	for i, s := range shares {
		v := new(big.Rat)
		if s.Value != nil {
			v.SetInt(s.Value)
		}
		x := new(big.Rat).Mul(E, v)
		x.Quo(x, W)
		fl := new(big.Int).Quo(x.Num(), x.Denom())
		out[i] = BaseUnits(fl.Uint64())
		given += fl.Uint64()
		fracs[i] = x.Sub(x, new(big.Rat).SetInt(fl))
	}
	order := make([]int, len(shares))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if c := fracs[b].Cmp(fracs[a]); c != 0 {
			return c
		}
		return strings.Compare(shares[a].OperatorID, shares[b].OperatorID)
	})
	for _, i := range order[:uint64(emission)-given] {
		out[i]++
	}
	return out, 0
}

func TestAllocateWorkedExample(t *testing.T) {
	one := big.NewInt(1)
	shares := []Share{{"C", one}, {"A", one}, {"B", one}}
	alloc, un := Allocate(10, shares)
	assert.Equal(t, []BaseUnits{3, 4, 3}, alloc, "A 4, B 3, C 3")
	assert.Equal(t, BaseUnits(0), un)
}

func TestAllocateEdges(t *testing.T) {
	alloc, un := Allocate(10, nil)
	assert.Equal(t, 0, len(alloc))
	assert.Equal(t, BaseUnits(10), un)

	alloc, un = Allocate(DefaultEmission, []Share{{"a", big.NewInt(0)}, {"b", nil}})
	assert.Equal(t, []BaseUnits{0, 0}, alloc)
	assert.Equal(t, DefaultEmission, un, "W = 0: nothing allocated")

	alloc, un = Allocate(0, []Share{{"a", big.NewInt(5)}})
	assert.Equal(t, []BaseUnits{0}, alloc)
	assert.Equal(t, BaseUnits(0), un)

	alloc, _ = Allocate(DefaultEmission, []Share{{"solo", big.NewInt(7)}, {"idle", nil}})
	assert.Equal(t, []BaseUnits{DefaultEmission, 0}, alloc)

	// Max emission, values beyond 64 bits.
	huge := new(big.Int).Lsh(big.NewInt(1), 300)
	alloc, _ = Allocate(BaseUnits(^uint64(0)), []Share{{"x", huge}, {"y", huge}, {"z", big.NewInt(1)}})
	want, _ := allocateRat(BaseUnits(^uint64(0)), []Share{{"x", huge}, {"y", huge}, {"z", big.NewInt(1)}})
	assert.Equal(t, want, alloc)

	// Ties on remainder go to the smallest id in byte order ("B" < "a").
	alloc, _ = Allocate(2, []Share{{"a", big.NewInt(1)}, {"b", big.NewInt(1)}, {"B", big.NewInt(1)}})
	assert.Equal(t, []BaseUnits{1, 0, 1}, alloc)

	defer func() { assert.True(t, recover() != nil, "negative value panics") }()
	Allocate(1, []Share{{"neg", big.NewInt(-1)}})
}

// randomShares makes n shares with unique ids and values drawn from one of
// several shapes (tiny, equal, 64-bit, value units of realistic frames).
func randomShares(r *rand.Rand, n int, shape int) []Share {
	shares := make([]Share, n)
	perm := r.Perm(n)
	for i := range shares {
		var v *big.Int
		switch shape {
		case 0: // small values, many ties
			v = big.NewInt(int64(r.IntN(4)))
		case 1: // all equal
			v = big.NewInt(1000)
		case 2: // fits 64 bits in total
			v = new(big.Int).SetUint64(r.Uint64() >> 24)
		default: // realistic value units (hundreds of bits)
			var s Sum
			for range 1 + r.IntN(4) {
				usd := USD{lo: r.Uint64() >> 2}
				s.Add(FrameValue(OBScore(1000+r.IntN(200000)), uint64(1+r.IntN(MaxDurationMS)), usd))
			}
			v = s.Big()
		}
		shares[i] = Share{OperatorID: fmt.Sprintf("op-%07d", perm[i]), Value: v}
	}
	return shares
}

func checkAllocation(t *testing.T, emission BaseUnits, shares []Share, alloc []BaseUnits, un BaseUnits) {
	t.Helper()
	W := new(big.Int)
	for _, s := range shares {
		W.Add(W, s.Value)
	}
	var sum uint64
	E := new(big.Int).SetUint64(uint64(emission))
	for i, s := range shares {
		sum += uint64(alloc[i])
		if W.Sign() == 0 {
			continue
		}
		fl := new(big.Int).Mul(E, s.Value)
		fl.Quo(fl, W)
		a := uint64(alloc[i])
		if a != fl.Uint64() && a != fl.Uint64()+1 {
			t.Fatalf("share %d: %d not in [floor, floor+1] = %s", i, a, fl)
		}
	}
	if W.Sign() == 0 {
		require.Equal(t, uint64(0), sum)
		require.Equal(t, emission, un)
	} else {
		require.Equal(t, uint64(emission), sum, "Σ a_i == E")
		require.Equal(t, BaseUnits(0), un)
	}
}

func TestAllocateProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	sizes := []int{1, 2, 3, 5, 17, 100, 1000, 10_000, 100_000}
	if testing.Short() {
		sizes = sizes[:7]
	}
	for _, n := range sizes {
		for shape := range 4 {
			emissions := []BaseUnits{DefaultEmission, 10, BaseUnits(r.Uint64()), 1_500_000_000_000 + 280_000_000_000}
			if n >= 10_000 {
				emissions = emissions[:1] // the reference is slow; one emission per shape
			}
			for _, E := range emissions {
				shares := randomShares(r, n, shape)
				alloc, un := Allocate(E, shares)
				checkAllocation(t, E, shares, alloc, un)
				want, wantUn := allocateRat(E, shares)
				if !slices.Equal(want, alloc) || wantUn != un {
					t.Fatalf("n=%d shape=%d E=%d: differs from the big.Rat reference", n, shape, E)
				}
				// Independent of the input order.
				perm := r.Perm(n)
				shuffled := make([]Share, n)
				for i, p := range perm {
					shuffled[i] = shares[p]
				}
				alloc2, _ := Allocate(E, shuffled)
				for i, p := range perm {
					if alloc2[i] != alloc[p] {
						t.Fatalf("n=%d shape=%d: allocation depends on input order", n, shape)
					}
				}
			}
		}
	}
}

func TestSelectTopAdversarial(t *testing.T) {
	// Sorted, reversed, organ-pipe and constant-remainder inputs against a
	// full sort, for every k, with the introselect budget exercised.
	for _, n := range []int{1, 2, 33, 100, 1000} {
		keys := map[string][]int{}
		asc := make([]int, n)
		for i := range asc {
			asc[i] = i
		}
		keys["asc"] = asc
		keys["desc"] = slices.Clone(asc)
		slices.Reverse(keys["desc"])
		pipe := make([]int, n)
		for i := range pipe {
			pipe[i] = min(i, n-1-i)*2 + i%2
		}
		keys["pipe"] = pipe
		for name, key := range keys {
			for _, k := range []int{1, n / 3, n / 2, n - 1, n} {
				if k < 1 {
					continue
				}
				idx := make([]int32, n)
				for i := range idx {
					idx[i] = int32(i)
				}
				order := func(a, b int32) int {
					if key[a] != key[b] {
						return key[a] - key[b]
					}
					return int(a - b)
				}
				selectTop(idx, k, order)
				all := slices.Clone(idx)
				slices.SortFunc(all, order)
				got := slices.Clone(idx[:k])
				slices.SortFunc(got, order)
				if !slices.Equal(got, all[:k]) {
					t.Fatalf("%s n=%d k=%d: wrong selection", name, n, k)
				}
			}
		}
	}
}

// TestAllocate1M checks the 1,000,000-operator target (< 1 s) when
// EPOCHLEDGER_LONG_TESTS is set; the benchmark covers it otherwise.
func TestAllocate1M(t *testing.T) {
	if os.Getenv("EPOCHLEDGER_LONG_TESTS") == "" || testing.Short() {
		t.Skip("set EPOCHLEDGER_LONG_TESTS=1")
	}
	r := rand.New(rand.NewPCG(13, 14))
	shares := randomShares(r, 1_000_000, 3)
	start := time.Now()
	alloc, un := Allocate(DefaultEmission, shares)
	el := time.Since(start)
	checkAllocation(t, DefaultEmission, shares, alloc, un)
	t.Logf("Allocate 1M operators: %v", el)
	if el > time.Second {
		t.Errorf("Allocate of 1M operators took %v, want < 1s", el)
	}
}

func BenchmarkAllocate1M(b *testing.B) {
	r := rand.New(rand.NewPCG(13, 14))
	shares := randomShares(r, 1_000_000, 3)
	b.ResetTimer()
	for b.Loop() {
		Allocate(DefaultEmission, shares)
	}
}
