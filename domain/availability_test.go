package domain

import (
	"math/big"
	"math/rand"
	"sort"
	"strconv"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// oraclePoints is an independent evaluation of DESIGN's availability
// formula in decimal arithmetic (shopspring/decimal's Ln and ExpTaylor at
// 80 places), not in binary floats: the points of every eligible node.
func oraclePoints(t testing.TB, nodes []AvailabilityInput) map[string]string {
	const places = 80
	dec := func(u uint64) decimal.Decimal { return decimal.NewFromBigInt(new(big.Int).SetUint64(u), 0) }
	var el []AvailabilityInput
	for _, n := range nodes {
		if n.VRAMGB > 0 && n.OnlineMS > n.BusyMS {
			el = append(el, n)
		}
	}
	out := map[string]string{}
	if len(el) == 0 {
		return out
	}
	cnt := decimal.NewFromInt(int64(len(el)))
	var sOB, sV, sA decimal.Decimal
	for _, n := range el {
		sOB = sOB.Add(decimal.New(int64(n.OB), -2))
		sV = sV.Add(decimal.NewFromInt(int64(n.VRAMGB)))
		sA = sA.Add(dec(n.Age))
	}
	mOB, mV, mA := sOB.DivRound(cnt, places), sV.DivRound(cnt, places), sA.DivRound(cnt, places)
	ln := func(x decimal.Decimal) decimal.Decimal {
		v, err := x.Ln(places)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	one := decimal.NewFromInt(1)
	ratio := func(x, m decimal.Decimal) decimal.Decimal {
		if m.LessThanOrEqual(one) {
			return one
		}
		r := ln(x).DivRound(ln(m), places)
		if r.IsNegative() {
			return decimal.Zero
		}
		return r
	}
	type sc struct {
		n   AvailabilityInput
		raw decimal.Decimal
	}
	byOp := map[string][]sc{}
	three := decimal.NewFromInt(3)
	for _, n := range el {
		idle := dec(n.OnlineMS-n.BusyMS).DivRound(dec(n.WindowMS), places)
		s := three.Mul(ratio(decimal.New(int64(n.OB), -2), mOB)).
			Add(three.Mul(ratio(decimal.NewFromInt(int64(n.VRAMGB)), mV))).
			Add(ratio(dec(n.Age), mA))
		byOp[n.OperatorID] = append(byOp[n.OperatorID], sc{n, idle.Mul(s)})
	}
	scale := decimal.New(1, 18)
	eps := decimal.New(1, -40)
	for _, list := range byOp {
		sort.Slice(list, func(i, j int) bool {
			if c := list[i].raw.Cmp(list[j].raw); c != 0 {
				return c > 0
			}
			return list[i].n.NodeID < list[j].n.NodeID
		})
		for k, s := range list {
			pen := one
			if k+1 > 3 {
				e, err := decimal.RequireFromString("-0.65").Mul(decimal.NewFromInt(int64(k + 1 - 3))).ExpTaylor(places)
				if err != nil {
					t.Fatal(err)
				}
				pen = e
			}
			v := s.raw.Mul(pen).Mul(scale)
			fl := v.Floor()
			if fl.Add(one).Sub(v).LessThan(eps) {
				fl = fl.Add(one)
			}
			out[s.n.NodeID] = fl.String()
		}
	}
	return out
}

func pointsOf(res []NodePoints) map[string]string {
	m := map[string]string{}
	for _, p := range res {
		m[p.NodeID] = p.Points.String()
	}
	return m
}

func node(id, op string, ob OBScore, vram uint32, age, window, online, busy uint64) AvailabilityInput {
	return AvailabilityInput{NodeID: id, OperatorID: op, OB: ob, VRAMGB: vram, Age: age, WindowMS: window, OnlineMS: online, BusyMS: busy}
}

// TestAvailabilityPointsOracle: random epochs, every node's points equal
// the independent decimal evaluation's, and the split of the channel books
// every base unit.
func TestAvailabilityPointsOracle(t *testing.T) {
	rng := rand.New(rand.NewSource(20))
	vrams := []uint32{0, 8, 12, 16, 24, 24, 48, 80, 141}
	for round := 0; round < 60; round++ {
		var nodes []AvailabilityInput
		ops := 1 + rng.Intn(5)
		for i := 0; i < 1+rng.Intn(14); i++ {
			w := uint64(1 + rng.Intn(604_800_000))
			on := uint64(rng.Int63n(int64(w) + 1))
			busy := uint64(0)
			if on > 0 && rng.Intn(3) > 0 {
				busy = uint64(rng.Int63n(int64(on) + 1))
			}
			nodes = append(nodes, node("n"+strconv.Itoa(i), "op"+strconv.Itoa(rng.Intn(ops)),
				OBScore(1+rng.Intn(5_000_000)), vrams[rng.Intn(len(vrams))], uint64(1+rng.Intn(60)), w, on, busy))
		}
		got := AvailabilityPoints(nodes)
		assert.Equal(t, oraclePoints(t, nodes), pointsOf(got), "round %d", round)
		amount := BaseUnits(rng.Int63n(1 << 50))
		_, _, alloc, un := AllocateAvailability(amount, got)
		var sum BaseUnits
		for _, a := range alloc {
			sum += a
		}
		assert.Equal(t, amount, sum+un, "round %d: every base unit booked", round)
	}
}

func TestAvailabilityEdgeCases(t *testing.T) {
	const week = 604_800_000
	t.Run("all nodes new: mean age 1, every age ratio 1", func(t *testing.T) {
		nodes := []AvailabilityInput{
			node("a", "op1", 100000, 24, 1, week, week, 0),
			node("b", "op2", 50000, 48, 1, week, week/2, 0),
		}
		assert.Equal(t, oraclePoints(t, nodes), pointsOf(AvailabilityPoints(nodes)))
	})
	t.Run("one eligible node: every ratio 1, points = idle × 7 × 10^18", func(t *testing.T) {
		nodes := []AvailabilityInput{
			node("a", "op1", 12345, 24, 9, 1000, 700, 400), // idle 0.3
			node("b", "op2", 12345, 0, 9, 1000, 1000, 0),   // no vram_gb
			node("c", "op3", 12345, 24, 9, 1000, 500, 500), // never idle
		}
		got := AvailabilityPoints(nodes)
		assert.Equal(t, 1, len(got))
		assert.Equal(t, "2100000000000000000", got[0].Points.String())
		ops, pts, alloc, un := AllocateAvailability(288461538000, got)
		assert.Equal(t, []string{"op1"}, ops)
		assert.Equal(t, "2100000000000000000", pts[0].String())
		assert.Equal(t, []BaseUnits{288461538000}, alloc)
		assert.Equal(t, BaseUnits(0), un)
	})
	t.Run("an operator with 6 nodes: ranks 4-6 penalised", func(t *testing.T) {
		var nodes []AvailabilityInput
		for i := 0; i < 6; i++ {
			nodes = append(nodes, node("big-"+strconv.Itoa(i), "op-big", 100000, 24, 5, week, week, uint64(i)*1000))
		}
		nodes = append(nodes, node("solo", "op-solo", 100000, 24, 5, week, week, 0))
		got := AvailabilityPoints(nodes)
		assert.Equal(t, oraclePoints(t, nodes), pointsOf(got))
		m := map[string]NodePoints{}
		for _, p := range got {
			m[p.NodeID] = p
		}
		// Identical nodes but for busy time: rank by raw, then the
		// penalty e^-0.65, e^-1.3, e^-1.95.
		for i := 0; i < 6; i++ {
			assert.Equal(t, i+1, m["big-"+strconv.Itoa(i)].Rank)
		}
		// big-0 is the solo node's twin; ranks 1..3 carry no penalty.
		assert.Equal(t, m["solo"].Points.String(), m["big-0"].Points.String())
		// rank 4: raw × e^-0.65 (raw ≈ 7 × (1 − 3000/604800000)).
		p4, _ := new(big.Float).SetInt(m["big-3"].Points).Float64()
		p1, _ := new(big.Float).SetInt(m["big-0"].Points).Float64()
		assert.True(t, p4/p1 > 0.5220 && p4/p1 < 0.5221, "rank 4 ratio %v", p4/p1)
	})
	t.Run("no eligible node: the whole channel unallocated", func(t *testing.T) {
		nodes := []AvailabilityInput{node("a", "op1", 100, 0, 1, 10, 10, 0), node("b", "op1", 100, 8, 1, 10, 4, 4)}
		got := AvailabilityPoints(nodes)
		assert.Equal(t, 0, len(got))
		ops, _, _, un := AllocateAvailability(1000, got)
		assert.Equal(t, 0, len(ops))
		assert.Equal(t, BaseUnits(1000), un)
	})
	t.Run("a node below the means gets ratio 0, not a negative", func(t *testing.T) {
		nodes := []AvailabilityInput{
			node("a", "op1", 50, 1, 1, 100, 100, 0),      // ob 0.5, vram 1: ln < 0
			node("b", "op2", 900000, 80, 3, 100, 100, 0), // well above
		}
		got := AvailabilityPoints(nodes)
		assert.Equal(t, oraclePoints(t, nodes), pointsOf(got))
		for _, p := range got {
			assert.True(t, p.Points.Sign() >= 0)
		}
	})
}

func TestLnExpAgainstKnownDigits(t *testing.T) {
	// ln 2 and e^-0.65 to 45 digits (from the series at 320 bits, checked
	// against decimal.Ln / ExpTaylor below).
	l := lnRat(big.NewRat(2, 1))
	d, _ := decimal.NewFromInt(2).Ln(60)
	assert.Equal(t, d.StringFixed(45), decimal.RequireFromString(l.Text('f', 60)).StringFixed(45))
	p := centralisationPenalty(4)
	e, _ := decimal.RequireFromString("-0.65").ExpTaylor(60)
	assert.Equal(t, e.StringFixed(45), decimal.RequireFromString(p.Text('f', 60)).StringFixed(45))
	assert.Equal(t, "0.693147180559945309417232121458176568075500134", l.Text('f', 45))
}

func TestNewEventsStatelessRules(t *testing.T) {
	cases := []struct{ typ, data, field, rule string }{
		{TypeNodeRegistered, `{"node_id":"n","operator_id":"o","node_pubkey":"Bg5YxXTNk1eMzMqxBu9RE9ST4D37T3a5kE33GiNiCHpf","gpu":"g","ob_score":"1","vram_gb":0}`, "vram_gb", ruleVRAM},
		{TypeNodeRegistered, `{"node_id":"n","operator_id":"o","node_pubkey":"Bg5YxXTNk1eMzMqxBu9RE9ST4D37T3a5kE33GiNiCHpf","gpu":"g","ob_score":"1","vram_gb":4097}`, "vram_gb", ruleVRAM},
		{TypeNodeRegistered, `{"node_id":"n","operator_id":"o","node_pubkey":"Bg5YxXTNk1eMzMqxBu9RE9ST4D37T3a5kE33GiNiCHpf","gpu":"g","ob_score":"1","vram_gb":"24"}`, "vram_gb", ruleInteger},
		{TypeEmissionScheduleSet, `{"rnp":"RNP-1","effective_epoch":2,"channels":{"job":"1","upgrade":"2"}}`, "channels.upgrade", ruleChannel},
		{TypeEmissionScheduleSet, `{"rnp":"RNP-1","effective_epoch":2,"channels":{"job":"1.000000001"}}`, "channels.job", "must have at most 8 decimal places"},
		{TypeEmissionScheduleSet, `{"rnp":"RNP-1","effective_epoch":0,"channels":{"job":"1"}}`, "effective_epoch", ruleEpoch},
		{TypeEmissionScheduleSet, `{"rnp":"RNP-1","effective_epoch":3,"channels":{}}`, "channels", ruleChannels},
		{TypeEmissionScheduleSet, `{"rnp":"RNP 1","effective_epoch":3,"channels":{"job":"1"}}`, "rnp", ruleRNP},
		{TypeEmissionScheduleSet, `{"rnp":"RNP-1","effective_epoch":3,"channels":{"job":"-1"}}`, "channels.job", "must not be negative"},
		{TypeEpochClosed, `{"epoch":1,"emission":"10","channels":{"job":"4","availability":"5"}}`, "emission", "must equal the sum of channels = 9 base units"},
		{TypeEpochClosed, `{"epoch":1,"emission":"10","channels":{"jobs":"10"}}`, "channels.jobs", ruleChannel},
		{TypeEpochClosed, `{"epoch":1,"emission":"10","channels":{"job":"1.5"}}`, "channels.job", "must be an integer number of base units (a string of digits or a JSON integer)"},
		{TypeNodeAvailability, `{"epoch":1,"node_id":"n","window_ms":100,"online_ms":50,"busy_ms":51}`, "busy_ms", "must not exceed online_ms (50)"},
		{TypeNodeAvailability, `{"epoch":1,"node_id":"n","window_ms":100,"online_ms":101,"busy_ms":0}`, "online_ms", "must not exceed window_ms (100)"},
		{TypeNodeAvailability, `{"epoch":1,"node_id":"n","window_ms":0,"online_ms":0,"busy_ms":0}`, "window_ms", rulePositive},
		{TypeNodeAvailability, `{"epoch":0,"node_id":"n","window_ms":1,"online_ms":0,"busy_ms":0}`, "epoch", ruleEpoch},
		{TypeNodeAvailability, `{"epoch":1,"node_id":"n","window_ms":1,"online_ms":0}`, "busy_ms", ruleRequired},
	}
	for _, c := range cases {
		_, err := DecodeEvent(c.typ, []byte(c.data))
		assert.EqualError(t, err, (&ValidationError{Event: c.typ, Field: c.field, Rule: c.rule}).Error(), c.data)
	}
	// The valid forms, and their canonical encodings.
	ev, err := DecodeEvent(TypeEmissionScheduleSet, []byte(`{"rnp":"RNP-015","effective_epoch":29,"channels":{"job":15000,"availability":"2884.61538"}}`))
	require.NoError(t, err)
	assert.Equal(t, BaseUnits(288461538000), BaseUnits(ev.(*EmissionScheduleSet).Channels[ChannelAvailability]))
	b, err := EncodeEvent(ev)
	require.NoError(t, err)
	assert.Equal(t, `{"rnp":"RNP-015","effective_epoch":29,"channels":{"availability":"2884.61538","job":"15000"}}`, string(b))
	ev, err = DecodeEvent(TypeEpochClosed, []byte(`{"epoch":3,"emission":"1788461538000","channels":{"job":"1500000000000","availability":"288461538000"}}`))
	require.NoError(t, err)
	b, _ = EncodeEvent(ev)
	assert.Equal(t, `{"epoch":3,"emission":"1788461538000","channels":{"availability":"288461538000","job":"1500000000000"}}`, string(b))
	// Old forms are unchanged.
	ev, err = DecodeEvent(TypeEpochClosed, []byte(`{"epoch":3,"emission":"47"}`))
	require.NoError(t, err)
	b, _ = EncodeEvent(ev)
	assert.Equal(t, `{"epoch":3,"emission":"47"}`, string(b))
	assert.Equal(t, map[string]BaseUnits{ChannelJob: 47}, ev.(*EpochClosed).ChannelAmounts())
	ev, err = DecodeEvent(TypeNodeRegistered, []byte(`{"node_id":"n","operator_id":"o","node_pubkey":"Bg5YxXTNk1eMzMqxBu9RE9ST4D37T3a5kE33GiNiCHpf","gpu":"g","ob_score":"1","vram_gb":24}`))
	require.NoError(t, err)
	assert.Equal(t, uint32(24), ev.(*NodeRegistered).VRAMGB)
}
