package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/scenarios/simlog"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// fold checks every event like the command layer, then applies it, and
// audits the result.
func fold(t *testing.T, b *simlog.Builder) *Ledger {
	t.Helper()
	l := New(Config{})
	for i, env := range b.Envelopes() {
		ev, err := env.Event()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if err := l.Check(env.Time, ev); err != nil {
			t.Fatalf("event %d (%s) refused: %v", i, env.Type, err)
		}
		l.Apply(uint64(i+1), ev)
	}
	if err := l.Audit(); err != nil {
		t.Fatalf("after folding: %v", err)
	}
	return l
}

// refused checks that the last event the builder added is refused with a
// message containing want.
func refused(t *testing.T, l *Ledger, b *simlog.Builder, want string) {
	t.Helper()
	envs := b.Envelopes()
	env := envs[len(envs)-1]
	ev, err := env.Event()
	if err != nil {
		t.Fatal(err)
	}
	err = l.Check(env.Time, ev)
	var ve *domain.ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), want) || ve.Event != env.Type {
		t.Fatalf("%s: got %v, want a refusal containing %q", env.Type, err, want)
	}
}

func base() *simlog.Builder {
	b := simlog.New("p", t0)
	b.Node("n1", "op-a", "100")
	b.Node("n2", "op-b", "200")
	b.Node("n3", "op-c", "50.25")
	b.Job("j", 4, "2")
	return b
}

func TestStatefulRefusals(t *testing.T) {
	cases := []struct {
		name  string
		setup func(b *simlog.Builder)
		bad   func(b *simlog.Builder)
		want  string
	}{
		{"node registered twice", nil, func(b *simlog.Builder) { b.Node("n1", "op-x", "1") }, "already registered"},
		{"job submitted twice", nil, func(b *simlog.Builder) { b.Job("j", 1, "1") }, "already exists"},
		{"frame out of range", nil, func(b *simlog.Builder) { b.Assign("j", 4, "n1") }, "out of range"},
		{"unknown node", nil, func(b *simlog.Builder) { b.Assign("j", 0, "nx") }, "not registered"},
		{"render without lease", nil, func(b *simlog.Builder) { b.Rendered("j", 0, "n1", 1000, "ok") }, "not leased"},
		{"render by another node", func(b *simlog.Builder) { b.Assign("j", 0, "n1") }, func(b *simlog.Builder) { b.Rendered("j", 0, "n2", 1000, "ok") }, `leased to node "n1"`},
		{"second live lease", func(b *simlog.Builder) { b.Assign("j", 0, "n1") }, func(b *simlog.Builder) { b.Assign("j", 0, "n2") }, "one live lease per frame"},
		{"accept without render", func(b *simlog.Builder) { b.Assign("j", 0, "n1") }, func(b *simlog.Builder) { b.Accept("j", 0, "n1") }, "no unjudged rendered result"},
		{"accepted twice", func(b *simlog.Builder) { b.Frame("j", 0, "n1", 1000) }, func(b *simlog.Builder) { b.Accept("j", 0, "n1") }, "accepted at most once"},
		{"complete early", func(b *simlog.Builder) { b.Frame("j", 0, "n1", 1000) }, func(b *simlog.Builder) { b.Complete("j") }, "1 of 4 frames accepted"},
		{"epoch out of order", nil, func(b *simlog.Builder) { b.CloseEpoch(2, 1) }, "next to close is 1"},
		{"task twice", func(b *simlog.Builder) { b.Compute("t", "n1", 1000, "1") }, func(b *simlog.Builder) { b.Compute("t", "n1", 1000, "1") }, "already reported"},
		{"burn twice", func(b *simlog.Builder) { b.Frame("j", 0, "n1", 1000); b.Burn("j", "10", "2") }, func(b *simlog.Builder) { b.Burn("j", "10", "2") }, "already has its burn"},
		// Issue #18: a burn for a job with no accepted frames.
		{"burn without accepted frames", func(b *simlog.Builder) { b.Assign("j", 0, "n1"); b.Rendered("j", 0, "n1", 1000, "ok") }, func(b *simlog.Builder) { b.Burn("j", "10", "2") }, `job "j" has no accepted frames`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := base()
			if c.setup != nil {
				c.setup(b)
			}
			l := fold(t, b)
			c.bad(b)
			refused(t, l, b, c.want)
		})
	}
}

func TestForgedSignatureRefused(t *testing.T) {
	b := base()
	b.Assign("j", 0, "n1")
	l := fold(t, b)
	// A FrameRendered whose signature was made over another output.
	b.Rendered("j", 0, "n1", 1000, "ok")
	env := b.Envelopes()[len(b.Envelopes())-1]
	ev, _ := env.Event()
	fr := ev.(*domain.FrameRendered)
	fr.OutputHash = simlog.Hash("tampered")
	err := l.Check(env.Time, fr)
	if err == nil || !strings.Contains(err.Error(), `field "signature"`) {
		t.Fatalf("tampered output hash: %v", err)
	}
}

// TestEpochRules: late work lands in the next epoch; rejected and
// duplicate frames earn nothing; a frame re-rendered after a lease expiry
// earns only for the node whose result was accepted.
func TestEpochRules(t *testing.T) {
	b := base()
	b.Frame("j", 0, "n1", 3_600_000) // 100 OBh for op-a, $200
	// Frame 1: n2 cheats and is rejected; n3 renders it again.
	b.Assign("j", 1, "n2")
	b.Rendered("j", 1, "n2", 3_600_000, "wrong")
	b.Reject("j", 1, "n2", "re-render mismatch")
	b.Frame("j", 1, "n3", 3_600_000) // 50.25 OBh for op-c
	// Frame 2: n1's lease expires (it died); n2 gets it after expiry.
	b.Assign("j", 2, "n1")
	b.Tick(11 * time.Minute)
	b.Frame("j", 2, "n2", 1_800_000) // 100 OBh for op-b
	l := fold(t, b)
	b.CloseEpoch(1, 1000)
	// The slow reporter's frame 3 is accepted after the close: epoch 2.
	b.Frame("j", 3, "n1", 3_600_000)
	l = fold(t, b)

	doc, _, err := l.Shares(1)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]OperatorShare{}
	for _, o := range doc.Operators {
		got[o.OperatorID] = o
	}
	if len(got) != 3 || got["op-a"].WorkOBh != "100" || got["op-b"].WorkOBh != "100" || got["op-c"].WorkOBh != "50.25" {
		t.Fatalf("epoch 1 shares %+v", doc.Operators)
	}
	// Values: $200, $200, $100.5 of $500.5 → 1000 base units split
	// 399.6004/399.6004/200.7992 → floors 399, 399, 200; the remainder of 2
	// goes to the largest fractions: op-c (.7992), then op-a (.6004, tie
	// with op-b broken by id).
	if got["op-a"].Allocated != "400" || got["op-b"].Allocated != "399" || got["op-c"].Allocated != "201" {
		t.Fatalf("epoch 1 allocation %+v", doc.Operators)
	}
	doc2, provisional, _ := l.Shares(2)
	if !provisional || len(doc2.Operators) != 1 || doc2.Operators[0].OperatorID != "op-a" || doc2.Operators[0].WorkOBh != "100" {
		t.Fatalf("epoch 2 (late frame) %+v", doc2)
	}
}

func TestEmptyEpochUnallocated(t *testing.T) {
	b := base()
	b.CloseEpoch(1, domain.DefaultEmission)
	l := fold(t, b)
	s := l.Summary(l.Epoch(1))
	if s.Unallocated != "4700000000000" || s.Allocated != "0" || l.Minted != 0 {
		t.Fatalf("empty epoch: %+v minted %d", s, l.Minted)
	}
}

// TestAllocationIndependentCheck folds random epochs and checks every
// allocation against an exact rational computation done here, apart from
// domain.Allocate: floor ≤ a ≤ floor+1, Σ = E, remainder to the largest
// fractions with ties by id.
func TestAllocationIndependentCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 20; round++ {
		b := simlog.New("alloc", t0)
		ops := 1 + rng.IntN(12)
		for i := 0; i < ops; i++ {
			b.Node(nodeID(i), opID(i), []string{"1", "99.99", "860", "12345.67"}[rng.IntN(4)])
		}
		b.Job("j", 40, []string{"0.01", "1", "3.333"}[rng.IntN(3)])
		for f := uint32(0); f < 40; f++ {
			b.Frame("j", f, nodeID(rng.IntN(ops)), uint64(1+rng.IntN(10_000_000)))
		}
		emission := domain.BaseUnits(1 + rng.Uint64N(10_000_000_000_000))
		b.CloseEpoch(1, emission)
		l := fold(t, b)
		ep := l.Epoch(1)
		// Independent: w_i as big.Rat from the raw events.
		w := map[string]*big.Rat{}
		total := new(big.Rat)
		for _, env := range b.Envelopes() {
			ev, _ := env.Event()
			if fa, ok := ev.(*domain.FrameAccepted); ok {
				n := l.Nodes[fa.NodeID]
				dur := renderDuration(b, fa)
				v := new(big.Rat).SetFrac(new(big.Int).SetUint64(uint64(n.OB)*dur), big.NewInt(100*3_600_000))
				v.Mul(v, ratOf(l.Jobs["j"].USDPerOBh.String()))
				if w[n.OperatorID] == nil {
					w[n.OperatorID] = new(big.Rat)
				}
				w[n.OperatorID].Add(w[n.OperatorID], v)
				total.Add(total, v)
			}
		}
		var sum domain.BaseUnits
		for id, wi := range w {
			exact := new(big.Rat).Mul(new(big.Rat).SetUint64(uint64(emission)), wi)
			exact.Quo(exact, total)
			floor := new(big.Int).Quo(exact.Num(), exact.Denom())
			a := ep.Allocations[id]
			if a < domain.BaseUnits(floor.Uint64()) || a > domain.BaseUnits(floor.Uint64())+1 {
				t.Fatalf("round %d: %s got %d, exact share %s", round, id, a, exact.FloatString(3))
			}
			sum += a
		}
		if sum != emission {
			t.Fatalf("round %d: allocations sum to %d, emission %d", round, sum, emission)
		}
	}
}

func nodeID(i int) string { return "node-" + string(rune('a'+i)) }
func opID(i int) string   { return "op-" + string(rune('a'+i)) }

func ratOf(s string) *big.Rat {
	r, _ := new(big.Rat).SetString(s)
	return r
}

// renderDuration finds the duration of the accepted render.
func renderDuration(b *simlog.Builder, fa *domain.FrameAccepted) uint64 {
	var d uint64
	for _, env := range b.Envelopes() {
		ev, _ := env.Event()
		if fr, ok := ev.(*domain.FrameRendered); ok && fr.JobID == fa.JobID && fr.Frame == fa.Frame && fr.NodeID == fa.NodeID {
			d = fr.DurationMS
		}
	}
	return d
}

// TestReplayIsByteIdentical folds the same stored log twice and compares
// every public document byte for byte.
func TestReplayIsByteIdentical(t *testing.T) {
	b := base()
	b.SetWallet("op-a")
	for f := uint32(0); f < 4; f++ {
		b.Frame("j", f, []string{"n1", "n2", "n3"}[f%3], uint64(1000+f*7919))
	}
	b.Complete("j")
	b.Burn("j", "12.34", "0.77")
	b.CloseEpoch(1, domain.DefaultEmission)
	s, err := filestore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := b.AppendTo(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	docs := func() string {
		l, err := Build(context.Background(), s, Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		sh, _, _ := l.Shares(1)
		out, _ := json.Marshal([]any{sh, l.Summaries(), l.Balances(), l.Supply(), l.JobDoc("j")})
		return string(out)
	}
	a, c := docs(), docs()
	if a != c {
		t.Fatalf("two replays differ:\n%s\n%s", a, c)
	}
	if !strings.Contains(a, `"status":"completed"`) {
		t.Fatalf("job not completed in %s", a)
	}
}

// TestCompletedJobIsFinal: completion packs the frames, keeps what the job
// view shows, and refuses any later frame event of the job.
func TestCompletedJobIsFinal(t *testing.T) {
	b := base()
	for f := uint32(0); f < 4; f++ {
		b.Frame("j", f, "n1", uint64(1000+f))
	}
	before := fold(t, b).Jobs["j"].FrameStatuses()
	b.Complete("j")
	l := fold(t, b)
	if got := l.Jobs["j"].FrameStatuses(); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("frame states changed by completion:\n%v\n%v", before, got)
	}
	b.Assign("j", 0, "n2")
	refused(t, l, b, "is completed")
}
