package settlement

import (
	"fmt"
	"testing"

	"github.com/gagliardetto/solana-go"

	"github.com/epochledger/epochledger/domain"
)

// TestV0Limits: the computed v0 limits, and that a transaction built at
// each limit is within 1,232 bytes and 64 locks while one more transfer is
// over a limit (the sizer agrees with solana-go's compiler byte for byte).
func TestV0Limits(t *testing.T) {
	tr := &Treasury{Authority: solana.NewWallet().PublicKey(), Source: solana.NewWallet().PublicKey(), Mint: solana.NewWallet().PublicKey()}
	for _, epoch := range []uint64{1, 1000} {
		for _, memo := range []string{
			domain.MemoV0(epoch, fmt.Sprintf("%064x", 7), 1, 1),
			// 1/n carries the log's anchor: the longest memo a batch has.
			domain.MemoV0Anchor(epoch, fmt.Sprintf("%064x", 7), 1, 1, fmt.Sprintf("%064x", 9)),
		} {
			for _, create := range []bool{false, true} {
				n := MaxTransfersV0(tr, create, len(memo))
				t.Logf("epoch %d, create=%v: %d transfers per v0 transaction", epoch, create, n)
				for _, k := range []int{n, n + 1} {
					ts := make([]Transfer, k)
					for i := range ts {
						ts[i] = syntheticTransfer(i+1, create)
						ts[i].Amount = 1
					}
					tables := Tables{solana.NewWallet().PublicKey(): tableAddresses(tr, ts)}
					tx, err := BuildTxV0(tr, ts, memo, solana.Hash{}, tables, Budget{Units: 200_000, Price: 1})
					if err != nil {
						t.Fatal(err)
					}
					size, err := TxSize(tx)
					if err != nil {
						t.Fatal(err)
					}
					locks := len(tx.Message.AccountKeys) + tx.Message.NumLookups()
					z := newSizer0(tr, len(memo), tables.tableOf())
					fitsAll := true
					for i := range ts {
						fitsAll = fitsAll && z.fits(tr, &ts[i])
					}
					if k == n {
						if size > MaxTxSize || locks > MaxAccountLocks || !fitsAll {
							t.Fatalf("%d transfers (create=%v): %d bytes, %d locks", k, create, size, locks)
						}
						s, l := z.measure(delta0{})
						if s != size || l != locks {
							t.Fatalf("sizer says %d bytes %d locks, the built transaction has %d bytes %d locks", s, l, size, locks)
						}
					} else if trace := 3 + k*(1+map[bool]int{true: createTrace}[create]); size <= MaxTxSize && locks <= MaxAccountLocks && trace <= MaxInstructionTrace {
						t.Fatalf("%d transfers (create=%v) fit (%d bytes, %d locks) but the limit says %d", k, create, size, locks, n)
					}
				}
			}
		}
	}
}

// TestPercentileAndPriority: nearest-rank percentiles and the fee rounding
// the runtime applies (price × units / 10⁶, rounded up).
func TestPercentileAndPriority(t *testing.T) {
	vals := []uint64{500, 10, 20, 0, 40}
	for _, c := range []struct {
		p    int
		want uint64
	}{{1, 0}, {20, 0}, {21, 10}, {50, 20}, {75, 40}, {80, 40}, {81, 500}, {100, 500}} {
		if got := Percentile(vals, c.p); got != c.want {
			t.Errorf("p%d = %d, want %d", c.p, got, c.want)
		}
	}
	if Percentile(nil, 50) != 0 || vals[0] != 500 {
		t.Fatal("Percentile of none, or it sorted its input")
	}
	if got := (Budget{Units: 200_000, Price: 1}).PriorityLamports(); got != 1 {
		t.Fatalf("200,000 CU at 1 µlamport: %d lamports, want 1 (rounded up)", got)
	}
	if got := (Budget{Units: 150_000, Price: 2_000_000}).PriorityLamports(); got != 300_000 {
		t.Fatalf("got %d", got)
	}
}
