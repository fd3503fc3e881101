package domain

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/mr-tron/base58"
)

// goldenPayouts is a deterministic plan of n payouts.
func goldenPayouts(n int) []Payout {
	ps := make([]Payout, n)
	for i := range ps {
		w := sha256.Sum256([]byte(fmt.Sprint(i)))
		ps[i] = Payout{OperatorID: fmt.Sprintf("op-%06d", i), Wallet: base58.Encode(w[:]), Amount: BaseUnits(i*1000 + 7)}
	}
	return ps
}

// TestPlanRootGolden: the one payout-leaf/root implementation gives, on
// its sequential and its parallel path and for a plan split in parts, the
// roots that the three implementations it replaced (domain.PlanRoot,
// projections' planRoot over two part lists, settlement.Leaves) all gave
// at 97b2153 (computed there with each of them).
func TestPlanRootGolden(t *testing.T) {
	for _, c := range []struct {
		n    int
		root string
	}{
		{0, strings.Repeat("0", 64)},
		{1, "f45c60d2539fb0184d9c76067ae4bf562d15ab802e1d19723fa111de1decf340"},
		{3, "6f7067a6ac69a19fb17b364a31c177c50ce2a56511c3ce362dc086b8315726eb"},
		{parallelLeaves - 1, "cc611e350f809afb3a9c2a624c942891832e462a083f65a0f9eb1ac9c2bce721"},
		{parallelLeaves, "c3e917c6131c06a871916456caf22285be72586a14355b6129c8c3f1bc670e8e"},
		{10001, "7bdc4b85f54e02917481a4a46fd90665979034717f5a9997c782f647e20e6754"},
	} {
		ps := goldenPayouts(c.n)
		splits := [][][]Payout{
			{ps},
			{ps[:c.n/3], ps[c.n/3:]},
			{nil, ps[:c.n/2], nil, ps[c.n/2 : c.n-c.n/5], ps[c.n-c.n/5:]},
		}
		for k, lists := range splits {
			root, err := PlanRoot(9, lists...)
			if err != nil {
				t.Fatal(err)
			}
			if got := HashHex(root); got != c.root {
				t.Fatalf("%d payouts, split %d: root %s, want %s", c.n, k, got, c.root)
			}
			leaves, err := PayoutLeaves(9, lists...)
			if err != nil {
				t.Fatal(err)
			}
			for i := range leaves {
				if want, _ := ps[i].Leaf(9); leaves[i] != want {
					t.Fatalf("%d payouts, split %d: leaf %d is not payout %d's", c.n, k, i, i)
				}
			}
		}
	}
}

// TestPayoutLeavesFirstBadWallet: whichever path and split, the error
// names the first payout with a bad wallet, by operator and index.
func TestPayoutLeavesFirstBadWallet(t *testing.T) {
	for _, n := range []int{10, 3 * parallelLeaves} {
		ps := goldenPayouts(n)
		ps[n-2].Wallet = "not-base58!"
		ps[n/2+1].Wallet = "0OIl"
		want := fmt.Sprintf("payout of %s (payouts[%d]): domain: wallet %q", ps[n/2+1].OperatorID, n/2+1, "0OIl")
		for _, lists := range [][][]Payout{{ps}, {ps[:n/2], ps[n/2:]}} {
			_, err := PayoutLeaves(1, lists...)
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("%d payouts in %d lists: error %v, want it to begin %q", n, len(lists), err, want)
			}
			if _, err := PlanRoot(1, lists...); err == nil {
				t.Fatal("PlanRoot accepted a bad wallet")
			}
		}
	}
}
