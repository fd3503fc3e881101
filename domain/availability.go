package domain

import (
	"math/big"
	"sort"
	"strconv"
	"sync"
)

// TypeNodeAvailability records how long a node was online and busy in the
// open epoch; the availability channel is split by it.
const TypeNodeAvailability = "NodeAvailability"

// NodeAvailability is one node's availability in one epoch, measured by
// the coordinator: online from signed heartbeats, busy from leases held.
type NodeAvailability struct {
	Epoch    uint64 `json:"epoch"`
	NodeID   string `json:"node_id"`
	WindowMS uint64 `json:"window_ms"`
	OnlineMS uint64 `json:"online_ms"`
	BusyMS   uint64 `json:"busy_ms"`
}

// EventType implements Event.
func (*NodeAvailability) EventType() string { return TypeNodeAvailability }

// Validate checks the stateless rules of NodeAvailability: 0 ≤ busy_ms ≤
// online_ms ≤ window_ms and window_ms > 0. That epoch is the open one, the
// node registered and the record the node's first of the epoch needs the
// log: the command layer checks it.
func (e *NodeAvailability) Validate() error {
	c := checker{event: TypeNodeAvailability}
	c.epoch(e.Epoch)
	c.id("node_id", e.NodeID)
	c.check(e.WindowMS > 0, "window_ms", rulePositive)
	c.check(e.OnlineMS <= e.WindowMS, "online_ms", "must not exceed window_ms ("+strconv.FormatUint(e.WindowMS, 10)+")")
	c.check(e.BusyMS <= e.OnlineMS, "busy_ms", "must not exceed online_ms ("+strconv.FormatUint(e.OnlineMS, 10)+")")
	return c.result()
}

// nodeAvailabilityFields are NodeAvailability's members in catalogue order.
var nodeAvailabilityFields = fieldsOf(
	required("epoch", func(d *decoder, e *NodeAvailability, v jsonValue) { e.Epoch = d.uint(v) }),
	required("node_id", func(d *decoder, e *NodeAvailability, v jsonValue) { e.NodeID = d.str(v) }),
	required("window_ms", func(d *decoder, e *NodeAvailability, v jsonValue) { e.WindowMS = d.uint(v) }),
	required("online_ms", func(d *decoder, e *NodeAvailability, v jsonValue) { e.OnlineMS = d.uint(v) }),
	required("busy_ms", func(d *decoder, e *NodeAvailability, v jsonValue) { e.BusyMS = d.uint(v) }),
)

// AvailabilityInput is one node's availability record with what the
// formula needs from its registration.
type AvailabilityInput struct {
	NodeID     string
	OperatorID string
	OB         OBScore // registered score
	VRAMGB     uint32  // 0: not stated, no availability reward
	Age        uint64  // N − r + 1, r the epoch open at registration
	WindowMS   uint64
	OnlineMS   uint64
	BusyMS     uint64
}

// Eligible reports whether the node takes part in the availability split:
// a vram_gb and some idle online time.
func (in *AvailabilityInput) Eligible() bool {
	return in.VRAMGB > 0 && in.Age >= 1 && in.WindowMS > 0 && in.OnlineMS > in.BusyMS
}

// NodePoints is an eligible node's result of the availability formula.
type NodePoints struct {
	NodeID     string
	OperatorID string
	// Idle is (online_ms − busy_ms) / window_ms, exact.
	Idle *big.Rat
	// Rank is the node's place within its operator (1 = highest raw).
	Rank int
	// Points is floor(raw × penalty × 10^18).
	Points *big.Int
}

// Availability precision: every ln and exp is evaluated with
// availabilityPrec bits (about 96 significant digits), well beyond the 40
// DESIGN requires, so that the floor to integer points is the same for
// every correct implementation.
const availabilityPrec = 320

// PointsScale is the scale of availability points: 10^18.
var PointsScale = new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)

// AvailabilityPoints evaluates RNP-015 as DESIGN makes it exact, for the
// records of one epoch (any order; the result is sorted by operator_id,
// then rank). Nodes that are not eligible are left out.
//
//	idle  = (online_ms − busy_ms) / window_ms
//	raw   = idle × (3·ratio(ob, mOB) + 3·ratio(vram, mVRAM) + ratio(age, mAge))
//	ratio(x, m) = 1 if m ≤ 1, else max(0, ln x / ln m)
//	penalty = 1 for ranks 1..3 within the operator, else exp(−0.65·(k − 3))
//	points  = floor(raw × penalty × 10^18)
func AvailabilityPoints(nodes []AvailabilityInput) []NodePoints {
	var el []*AvailabilityInput
	for i := range nodes {
		if nodes[i].Eligible() {
			el = append(el, &nodes[i])
		}
	}
	if len(el) == 0 {
		return nil
	}
	n := big.NewRat(int64(len(el)), 1)
	sumOB, sumVRAM, sumAge := new(big.Int), new(big.Int), new(big.Int)
	for _, in := range el {
		sumOB.Add(sumOB, new(big.Int).SetUint64(uint64(in.OB)))
		sumVRAM.Add(sumVRAM, big.NewInt(int64(in.VRAMGB)))
		sumAge.Add(sumAge, new(big.Int).SetUint64(in.Age))
	}
	mOB := new(big.Rat).SetFrac(sumOB, big.NewInt(100))
	mOB.Quo(mOB, n)
	mVRAM := new(big.Rat).Quo(new(big.Rat).SetInt(sumVRAM), n)
	mAge := new(big.Rat).Quo(new(big.Rat).SetInt(sumAge), n)
	rOB, rVRAM, rAge := newRatioer(mOB), newRatioer(mVRAM), newRatioer(mAge)

	type scored struct {
		in  *AvailabilityInput
		raw *big.Float
		idl *big.Rat
	}
	byOp := map[string][]scored{}
	three := new(big.Float).SetPrec(availabilityPrec).SetInt64(3)
	for _, in := range el {
		sum := new(big.Float).SetPrec(availabilityPrec)
		sum.Mul(three, rOB.ratio(new(big.Rat).SetFrac(new(big.Int).SetUint64(uint64(in.OB)), big.NewInt(100))))
		sum.Add(sum, new(big.Float).SetPrec(availabilityPrec).Mul(three, rVRAM.ratio(new(big.Rat).SetInt64(int64(in.VRAMGB)))))
		sum.Add(sum, rAge.ratio(new(big.Rat).SetInt(new(big.Int).SetUint64(in.Age))))
		idle := new(big.Rat).SetFrac(new(big.Int).SetUint64(in.OnlineMS-in.BusyMS), new(big.Int).SetUint64(in.WindowMS))
		raw := new(big.Float).SetPrec(availabilityPrec).Mul(sum, new(big.Float).SetPrec(availabilityPrec).SetRat(idle))
		byOp[in.OperatorID] = append(byOp[in.OperatorID], scored{in, raw, idle})
	}
	ops := make([]string, 0, len(byOp))
	for op := range byOp {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	out := make([]NodePoints, 0, len(el))
	for _, op := range ops {
		list := byOp[op]
		sort.Slice(list, func(i, j int) bool {
			if c := list[i].raw.Cmp(list[j].raw); c != 0 {
				return c > 0
			}
			return list[i].in.NodeID < list[j].in.NodeID
		})
		for k, s := range list {
			rank := k + 1
			v := new(big.Float).SetPrec(availabilityPrec).Mul(s.raw, centralisationPenalty(rank))
			v.Mul(v, new(big.Float).SetPrec(availabilityPrec).SetInt(PointsScale))
			out = append(out, NodePoints{NodeID: s.in.NodeID, OperatorID: op, Idle: s.idl, Rank: rank, Points: floorPoints(v)})
		}
	}
	return out
}

// floorPoints returns floor(v) for v ≥ 0. A value within 10^-40 below an
// integer is taken as that integer: the exact result is an integer there
// (idle × a whole sum of ratios that are exactly 1), and the last bits of
// a binary evaluation must not floor it one below.
func floorPoints(v *big.Float) *big.Int {
	if v.Sign() <= 0 {
		return new(big.Int)
	}
	i, _ := v.Int(nil) // truncation = floor for v ≥ 0
	frac := new(big.Float).SetPrec(availabilityPrec).Sub(v, new(big.Float).SetPrec(availabilityPrec).SetInt(i))
	if frac.Cmp(snapEpsilon) > 0 && new(big.Float).SetPrec(availabilityPrec).Sub(one(), frac).Cmp(snapEpsilon) < 0 {
		i.Add(i, big.NewInt(1))
	}
	return i
}

var snapEpsilon = func() *big.Float {
	f, _, _ := big.ParseFloat("1e-40", 10, availabilityPrec, big.ToNearestEven)
	return f
}()

func one() *big.Float { return new(big.Float).SetPrec(availabilityPrec).SetInt64(1) }

// ratioer evaluates ratio(x, m) = max(0, ln x / ln m) for one mean m,
// with ln m computed once.
type ratioer struct {
	m     *big.Rat
	flat  bool // m ≤ 1: every ratio is 1
	lnM   *big.Float
	cache map[string]*big.Float
}

func newRatioer(m *big.Rat) *ratioer {
	r := &ratioer{m: m, cache: map[string]*big.Float{}}
	if m.Cmp(big.NewRat(1, 1)) <= 0 {
		r.flat = true
		return r
	}
	r.lnM = lnRat(m)
	return r
}

func (r *ratioer) ratio(x *big.Rat) *big.Float {
	if r.flat || x.Cmp(r.m) == 0 {
		return one()
	}
	key := x.RatString()
	if v := r.cache[key]; v != nil {
		return v
	}
	v := new(big.Float).SetPrec(availabilityPrec).Quo(lnRat(x), r.lnM)
	if v.Sign() < 0 {
		v.SetInt64(0)
	}
	r.cache[key] = v
	return v
}

// centralisationPenalty is 1 for ranks 1..3, else exp(−0.65·(k − 3)).
func centralisationPenalty(rank int) *big.Float {
	if rank <= 3 {
		return one()
	}
	// 0.65·(k−3) = 13·(k−3)/20, exact before the exp.
	x := new(big.Float).SetPrec(availabilityPrec + 64).SetInt64(int64(13 * (rank - 3)))
	x.Quo(x, new(big.Float).SetPrec(availabilityPrec+64).SetInt64(20))
	e := expPos(x)
	return new(big.Float).SetPrec(availabilityPrec).Quo(one(), e)
}

// CentralisationPenalty returns the penalty of rank k as decimal text
// with 20 decimal places, for display.
func CentralisationPenalty(rank int) string {
	return centralisationPenalty(rank).Text('f', 20)
}

// lnRat returns ln x for x > 0 at availabilityPrec bits: x = f × 2^k with
// f in [1/√2, √2), ln x = k·ln 2 + 2·atanh((f−1)/(f+1)).
func lnRat(x *big.Rat) *big.Float {
	const prec = availabilityPrec + 64
	f := new(big.Float).SetPrec(prec).SetRat(x)
	k := f.MantExp(f) // f in [0.5, 1)
	if f.Cmp(invSqrt2) < 0 {
		f.Mul(f, big.NewFloat(2).SetPrec(prec))
		k--
	}
	num := new(big.Float).SetPrec(prec).Sub(f, big.NewFloat(1))
	den := new(big.Float).SetPrec(prec).Add(f, big.NewFloat(1))
	res := atanh2(num.Quo(num, den))
	if k != 0 {
		t := new(big.Float).SetPrec(prec).SetInt64(int64(k))
		res.Add(res, t.Mul(t, ln2()))
	}
	return new(big.Float).SetPrec(availabilityPrec).Set(res)
}

// invSqrt2 is 1/√2 at working precision.
var invSqrt2 = func() *big.Float {
	s := new(big.Float).SetPrec(availabilityPrec + 64).SetInt64(2)
	s.Sqrt(s)
	return s.Quo(big.NewFloat(1).SetPrec(availabilityPrec+64), s)
}()

// atanh2 returns 2·atanh(z) = 2·Σ z^(2i+1)/(2i+1) for |z| < 1/3.
func atanh2(z *big.Float) *big.Float {
	prec := z.Prec()
	sum := new(big.Float).SetPrec(prec).Set(z)
	z2 := new(big.Float).SetPrec(prec).Mul(z, z)
	pow := new(big.Float).SetPrec(prec).Set(z)
	term := new(big.Float).SetPrec(prec)
	limit := new(big.Float).SetPrec(prec).SetMantExp(big.NewFloat(1), -int(prec)-8)
	for i := int64(3); ; i += 2 {
		pow.Mul(pow, z2)
		term.Quo(pow, new(big.Float).SetPrec(prec).SetInt64(i))
		sum.Add(sum, term)
		if new(big.Float).Abs(term).Cmp(limit) < 0 || pow.Sign() == 0 {
			break
		}
	}
	return sum.Mul(sum, big.NewFloat(2))
}

var (
	ln2Once sync.Once
	ln2Val  *big.Float
)

// ln2 is 2·atanh(1/3).
func ln2() *big.Float {
	ln2Once.Do(func() {
		z := new(big.Float).SetPrec(availabilityPrec + 64).SetInt64(1)
		ln2Val = atanh2(z.Quo(z, new(big.Float).SetPrec(availabilityPrec+64).SetInt64(3)))
	})
	return ln2Val
}

// expPos returns e^x for x ≥ 0: e^x = (e^(x/2^s))^(2^s) with x/2^s < 2^-8,
// the inner value by its Taylor series.
func expPos(x *big.Float) *big.Float {
	prec := x.Prec() + 32
	s := 8
	if e := x.MantExp(nil); e > 0 {
		s += e
	}
	y := new(big.Float).SetPrec(prec).SetMantExp(x, -s)
	sum := new(big.Float).SetPrec(prec).SetInt64(1)
	term := new(big.Float).SetPrec(prec).SetInt64(1)
	limit := new(big.Float).SetPrec(prec).SetMantExp(big.NewFloat(1), -int(prec)-8)
	for i := int64(1); ; i++ {
		term.Mul(term, y)
		term.Quo(term, new(big.Float).SetPrec(prec).SetInt64(i))
		sum.Add(sum, term)
		if term.Cmp(limit) < 0 {
			break
		}
	}
	for ; s > 0; s-- {
		sum.Mul(sum, sum)
	}
	return sum
}

// AllocateAvailability splits amount over the operators' summed points by
// the largest-remainder rule of the job channel. It returns the operators
// (sorted) with their points and allocations; with no points at all the
// whole amount is unallocated.
func AllocateAvailability(amount BaseUnits, points []NodePoints) (ops []string, opPoints []*big.Int, alloc []BaseUnits, unallocated BaseUnits) {
	sum := map[string]*big.Int{}
	for _, p := range points {
		s := sum[p.OperatorID]
		if s == nil {
			s = new(big.Int)
			sum[p.OperatorID] = s
			ops = append(ops, p.OperatorID)
		}
		s.Add(s, p.Points)
	}
	sort.Strings(ops)
	shares := make([]Share, len(ops))
	opPoints = make([]*big.Int, len(ops))
	for i, op := range ops {
		opPoints[i] = sum[op]
		shares[i] = Share{OperatorID: op, Value: sum[op]}
	}
	alloc, unallocated = Allocate(amount, shares)
	return ops, opPoints, alloc, unallocated
}
