package projections

import (
	"math"
	"strings"
	"testing"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/scenarios/simlog"
)

// TestEmissionOverflowRefused (issue #18 finding 8): an EpochClosed with
// emission 2^64−1 is refused, naming the event, the field and the cap.
func TestEmissionOverflowRefused(t *testing.T) {
	b := base()
	b.Frame("j", 0, "n1", 1000)
	l := fold(t, b)
	b.CloseEpoch(1, math.MaxUint64)
	refused(t, l, b, "total-supply cap of 64416876200000000 base units (644168762 RENDER, --supply-cap)")
	// The cap itself is allowed, once.
	b = base()
	b.Frame("j", 0, "n1", 1000)
	b.CloseEpoch(1, domain.MaxSupply)
	l = fold(t, b)
	b.CloseEpoch(2, 1)
	refused(t, l, b, "at most 0 may be")
}

// TestSumsNearTheCapDoNotWrap: with the cap at the top of the range, two
// epochs whose emissions sum to exactly 2^64−1 fold exactly, and one more
// base unit is refused; balances, supply and the plan stay exact.
func TestSumsNearTheCapDoNotWrap(t *testing.T) {
	half := domain.BaseUnits(1 << 63)
	b := simlog.New("cap", t0)
	b.Node("n1", "op-a", "100")
	b.Node("n2", "op-b", "100")
	b.SetWallet("op-a")
	b.SetWallet("op-b")
	b.Job("j", 4, "1")
	b.Frame("j", 0, "n1", 1000)
	b.Frame("j", 1, "n2", 1000)
	b.CloseEpoch(1, half)
	b.Frame("j", 2, "n1", 1000)
	b.Frame("j", 3, "n2", 1000)
	l := New(Config{SupplyCap: math.MaxUint64})
	for i, env := range b.Envelopes() {
		ev, _ := env.Event()
		if err := l.Check(env.Time, ev); err != nil {
			t.Fatal(err)
		}
		l.Apply(uint64(i+1), ev)
	}
	b.CloseEpoch(2, half) // 2^64: one too many
	refused(t, l, b, "at most 9223372036854775807 may be")
	b.Drain() // drop the refused close
	b.CloseEpoch(2, half-1)
	env := b.Envelopes()[0]
	ev, _ := env.Event()
	if err := l.Check(env.Time, ev); err != nil {
		t.Fatal(err)
	}
	l.Apply(l.Position+1, ev)
	if l.Minted != math.MaxUint64 {
		t.Fatalf("minted %d, want 2^64-1", l.Minted)
	}
	a, bb := l.Operators["op-a"], l.Operators["op-b"]
	if a.Allocated != 1<<63 || bb.Allocated != 1<<63-1 {
		t.Fatalf("allocated %d and %d", a.Allocated, bb.Allocated)
	}
	if a.Owed() != 1<<63 || bb.Owed() != 1<<63-1 {
		t.Fatalf("owed %d and %d", a.Owed(), bb.Owed())
	}
	if got := l.Supply().Minted; got != "18446744073709551615" {
		t.Fatalf("supply minted %s", got)
	}
	payouts, _ := l.PlanPayouts(2)
	var total domain.BaseUnits
	for _, p := range payouts {
		total += p.Amount
	}
	if len(payouts) != 2 || total != math.MaxUint64 {
		t.Fatalf("plan %v", payouts)
	}
	if err := l.Audit(); err != nil {
		t.Fatal(err)
	}
}

// TestFoldSkipsOverflowingEmission: a log stored without the checks (by an
// older version) whose emissions pass 2^64 folds without wrapping: the
// overflowing close is an anomaly, the earlier allocation stays whole.
func TestFoldSkipsOverflowingEmission(t *testing.T) {
	l := New(Config{})
	b := base()
	b.Frame("j", 0, "n1", 1000)
	b.CloseEpoch(1, math.MaxUint64)
	b.Frame("j", 1, "n1", 1000)
	b.CloseEpoch(2, math.MaxUint64)
	for i, env := range b.Envelopes() {
		ev, _ := env.Event()
		l.Apply(uint64(i+1), ev)
	}
	if l.ClosedEpochs() != 1 || l.AnomalyCount != 1 || !strings.Contains(l.Anomalies[0].Error, `field "emission"`) {
		t.Fatalf("closed %d, anomalies %v", l.ClosedEpochs(), l.Anomalies)
	}
	if o := l.Operators["op-a"]; o.Allocated != math.MaxUint64 || o.Owed() != math.MaxUint64 {
		t.Fatalf("op-a allocated %d owed %d", o.Allocated, o.Owed())
	}
	if err := l.Audit(); err != nil {
		t.Fatal(err)
	}
}

// TestAuditFindsWrappedSums: the audit compares in big integers, so a sum
// that wrapped (what the fold did before the checks) is reported.
func TestAuditFindsWrappedSums(t *testing.T) {
	b := base()
	b.Frame("j", 0, "n1", 1000)
	b.CloseEpoch(1, 10)
	l := fold(t, b)
	if err := l.Audit(); err != nil {
		t.Fatal(err)
	}
	l.Operators["op-a"].Allocated += math.MaxUint64 // wraps to 9
	if err := l.Audit(); err == nil || !strings.Contains(err.Error(), `operator "op-a" is allocated 9 base units, its epochs' allocations sum to 10`) {
		t.Fatalf("got %v", err)
	}
	l.Operators["op-a"].Allocated = 10
	l.Minted += math.MaxUint64
	if err := l.Audit(); err == nil || !strings.Contains(err.Error(), "minted is 9 base units") {
		t.Fatalf("got %v", err)
	}
}
