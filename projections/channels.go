package projections

import (
	"encoding/json"
	"maps"
	"math/big"
	"time"

	"github.com/epochledger/epochledger/domain"
)

// Reward channels (DESIGN "Reward channels and the emission schedule
// (v2)"): the schedules of the log, each epoch's availability records,
// and the per-channel allocation made when an epoch closes. An epoch
// closed without channels is one job channel of its whole emission, which
// is how every log written before channels folds exactly as it did.

// Schedule is one stored EmissionScheduleSet.
type Schedule struct {
	RNP            string                      `json:"rnp"`
	EffectiveEpoch uint64                      `json:"effective_epoch"`
	Channels       map[string]domain.BaseUnits `json:"channels"`
	Position       uint64                      `json:"position"`
}

// ChannelAlloc is one channel's allocation in one epoch.
type ChannelAlloc struct {
	Name        string                      `json:"name"`
	Amount      domain.BaseUnits            `json:"amount"`
	Allocations map[string]domain.BaseUnits `json:"allocations"` // operator → base units
	Unallocated domain.BaseUnits            `json:"unallocated"`
}

// Allocated is the part of the channel's amount given to operators.
func (c *ChannelAlloc) Allocated() domain.BaseUnits { return c.Amount - c.Unallocated }

// NodeAvail is an eligible node's availability result in an epoch.
type NodeAvail struct {
	NodeID     string `json:"node_id"`
	OperatorID string `json:"operator_id"`
	Idle       string `json:"idle"` // exact fraction, "a/b"
	Rank       int    `json:"rank"`
	Points     string `json:"points"`
}

// channelResult is what allocating an epoch's channels gives.
type channelResult struct {
	channels []ChannelAlloc
	nodes    []NodeAvail
	points   map[string]*big.Int // operator → summed availability points
}

// ScheduleFor returns the schedule in force for epoch n: the greatest
// effective_epoch ≤ n, of equal ones the later stored; nil when none.
func (l *Ledger) ScheduleFor(n uint64) *Schedule {
	var best *Schedule
	for i := range l.Schedules {
		s := &l.Schedules[i]
		if s.EffectiveEpoch <= n && (best == nil || s.EffectiveEpoch >= best.EffectiveEpoch) {
			best = s
		}
	}
	return best
}

// ClosingAmounts returns what the EpochClosed of epoch n must carry: the
// channels of the schedule in force and their sum, or (without a schedule)
// the given default emission and no channels.
func (l *Ledger) ClosingAmounts(n uint64, defaultEmission domain.BaseUnits) (domain.BaseUnits, map[string]domain.BaseUnits) {
	s := l.ScheduleFor(n)
	if s == nil {
		return defaultEmission, nil
	}
	sum, _ := domain.ChannelsSum(s.Channels)
	ch := make(map[string]domain.BaseUnits, len(s.Channels))
	for k, v := range s.Channels {
		ch[k] = v
	}
	return sum, ch
}

// openChannels are the channel amounts the open epoch would close with.
func (l *Ledger) openChannels() map[string]domain.BaseUnits {
	em, ch := l.ClosingAmounts(l.Open().N, l.cfg.DefaultEmission)
	if ch == nil {
		ch = map[string]domain.BaseUnits{domain.ChannelJob: em}
	}
	return ch
}

func (l *Ledger) checkSchedule(e *domain.EmissionScheduleSet) error {
	if c := l.ClosedEpochs(); e.EffectiveEpoch <= c {
		return refuse(e, "effective_epoch", "must be greater than the last closed epoch (%d): a schedule never changes a closed epoch", c)
	}
	return nil
}

func (l *Ledger) checkAvailability(e *domain.NodeAvailability) error {
	open := l.Open()
	if e.Epoch != open.N {
		return refuse(e, "epoch", "must be the open epoch (%d)", open.N)
	}
	if l.Nodes[e.NodeID] == nil {
		return refuse(e, "node_id", "node %q is not registered", e.NodeID)
	}
	if _, dup := open.Availability[e.NodeID]; dup {
		return refuse(e, "node_id", "node %q already has an availability record for epoch %d; at most one per node per epoch", e.NodeID, e.Epoch)
	}
	return nil
}

// checkClosingChannels: where a schedule is in force, EpochClosed carries
// exactly its channels (and, by the stateless rule, emission = their sum).
func (l *Ledger) checkClosingChannels(e *domain.EpochClosed) error {
	s := l.ScheduleFor(e.Epoch)
	if s == nil {
		return nil
	}
	if e.Channels == nil || !maps.Equal(e.Channels, s.Channels) { // none recorded is not the same
		got := "none"
		if e.Channels != nil {
			got = domain.FormatChannels(e.Channels)
		}
		return refuse(e, "channels", "must equal the schedule in force for epoch %d (%s from epoch %d, position %d): %s; got %s",
			e.Epoch, s.RNP, s.EffectiveEpoch, s.Position, domain.FormatChannels(s.Channels), got)
	}
	return nil
}

func (l *Ledger) applySchedule(pos uint64, e *domain.EmissionScheduleSet) {
	l.Schedules = append(l.Schedules, Schedule{RNP: e.RNP, EffectiveEpoch: e.EffectiveEpoch, Channels: e.Amounts(), Position: pos})
}

func (l *Ledger) applyAvailability(e *domain.NodeAvailability) {
	open := l.Open()
	n := l.Nodes[e.NodeID]
	if e.Epoch != open.N || n == nil {
		return
	}
	if _, dup := open.Availability[n.ID]; dup {
		return
	}
	if open.Availability == nil {
		open.Availability = map[string]*domain.NodeAvailability{}
	}
	r := *e
	r.NodeID = n.ID
	open.Availability[n.ID] = &r
}

// allocateChannels splits each channel of ep: job by work value,
// availability by points. It changes nothing.
func (l *Ledger) allocateChannels(ep *Epoch, amounts map[string]domain.BaseUnits) channelResult {
	var res channelResult
	for _, name := range domain.SortChannels(amounts) {
		ca := ChannelAlloc{Name: name, Amount: amounts[name], Allocations: map[string]domain.BaseUnits{}}
		switch name {
		case domain.ChannelJob:
			ids, shares := ep.shares()
			alloc, un := domain.Allocate(ca.Amount, shares)
			for i, id := range ids {
				ca.Allocations[id] = alloc[i]
			}
			ca.Unallocated = un
		case domain.ChannelAvailability:
			pts := domain.AvailabilityPoints(l.availabilityInputs(ep))
			ops, opPts, alloc, un := domain.AllocateAvailability(ca.Amount, pts)
			res.points = make(map[string]*big.Int, len(ops))
			for i, op := range ops {
				ca.Allocations[op] = alloc[i]
				res.points[op] = opPts[i]
			}
			ca.Unallocated = un
			for _, p := range pts {
				res.nodes = append(res.nodes, NodeAvail{NodeID: p.NodeID, OperatorID: p.OperatorID, Idle: p.Idle.String(), Rank: p.Rank, Points: p.Points.String()})
			}
		default:
			// Validation admits only known channels; a log that holds
			// another leaves it unallocated rather than guess its rule.
			ca.Unallocated = ca.Amount
		}
		res.channels = append(res.channels, ca)
	}
	return res
}

// availabilityInputs pairs ep's availability records with their nodes'
// registrations, in node order.
func (l *Ledger) availabilityInputs(ep *Epoch) []domain.AvailabilityInput {
	ids := sortedKeys(ep.Availability)
	out := make([]domain.AvailabilityInput, 0, len(ids))
	for _, id := range ids {
		r, n := ep.Availability[id], l.Nodes[id]
		if n == nil {
			continue
		}
		age := uint64(0)
		if ep.N >= n.RegEpoch && n.RegEpoch >= 1 {
			age = ep.N - n.RegEpoch + 1
		}
		out = append(out, domain.AvailabilityInput{NodeID: id, OperatorID: n.OperatorID, OB: n.OB, VRAMGB: n.VRAMGB, Age: age,
			WindowMS: r.WindowMS, OnlineMS: r.OnlineMS, BusyMS: r.BusyMS})
	}
	return out
}

// closeChannels records the allocation of ep's channels and credits the
// operators.
func (l *Ledger) closeChannels(ep *Epoch, e *domain.EpochClosed) {
	ep.ChannelsRecorded = e.Channels != nil
	res := l.allocateChannels(ep, e.ChannelAmounts())
	ep.Channels, ep.AvailNodes = res.channels, res.nodes
	ep.Allocations = map[string]domain.BaseUnits{}
	ep.Unallocated = 0
	for _, ca := range ep.Channels {
		for id, a := range ca.Allocations {
			ep.Allocations[id] += a
			l.operator(id).Allocated += a
		}
		ep.Unallocated += ca.Unallocated
	}
}

// ChannelAllocs returns epoch ep's channels: those recorded at its close,
// or for the open epoch the provisional split under its schedule.
func (l *Ledger) ChannelAllocs(ep *Epoch) []ChannelAlloc {
	if ep.Closed {
		return ep.Channels
	}
	return l.allocateChannels(ep, l.openChannels()).channels
}

// NodeAvailability returns ep's availability results of eligible nodes
// (provisional for the open epoch), sorted by operator then rank.
func (l *Ledger) NodeAvailability(ep *Epoch) []NodeAvail {
	if ep.Closed {
		return ep.AvailNodes
	}
	if ep.Availability == nil {
		return nil
	}
	return l.allocateChannels(ep, map[string]domain.BaseUnits{domain.ChannelAvailability: 0}).nodes
}

// availabilityPoints sums nodes' points per operator.
func availabilityPoints(nodes []NodeAvail) map[string]*big.Int {
	m := map[string]*big.Int{}
	for _, n := range nodes {
		p, ok := new(big.Int).SetString(n.Points, 10)
		if !ok {
			continue
		}
		if s := m[n.OperatorID]; s != nil {
			s.Add(s, p)
		} else {
			m[n.OperatorID] = p
		}
	}
	return m
}

// OperatorChannels is one operator's amounts per channel in one epoch.
type OperatorChannels struct {
	Epoch       uint64
	Closed      bool
	Channels    map[string]domain.BaseUnits
	Points      *big.Int
	Nodes       []NodeAvail
	Allocated   domain.BaseUnits
	Provisional bool
}

// OperatorEpochs returns, for every epoch in which operator id has an
// allocation, availability or work, its per-channel amounts (the open
// epoch's provisional).
func (l *Ledger) OperatorEpochs(id string) []OperatorChannels {
	var out []OperatorChannels
	for _, ep := range l.Epochs {
		chans := l.ChannelAllocs(ep)
		nodes := l.NodeAvailability(ep)
		oc := OperatorChannels{Epoch: ep.N, Closed: ep.Closed, Provisional: !ep.Closed, Channels: map[string]domain.BaseUnits{}, Points: new(big.Int)}
		_, worked := ep.Operators[id]
		seen := worked
		for _, ca := range chans {
			a, ok := ca.Allocations[id]
			seen = seen || ok
			oc.Channels[ca.Name] = a
			oc.Allocated += a
		}
		for _, n := range nodes {
			if n.OperatorID == id {
				seen = true
				oc.Nodes = append(oc.Nodes, n)
				if p, ok := new(big.Int).SetString(n.Points, 10); ok {
					oc.Points.Add(oc.Points, p)
				}
			}
		}
		if seen {
			out = append(out, oc)
		}
	}
	return out
}

// ChannelTotal is one channel's line at the top of SharesDoc.
type ChannelTotal struct {
	Emission    string `json:"emission"`
	Allocated   string `json:"allocated"`
	Unallocated string `json:"unallocated"`
}

// ChannelTotals maps channel → totals; JSON lists the channels in their
// fixed order (job, availability), as DESIGN writes them.
type ChannelTotals map[string]ChannelTotal

// MarshalJSON writes the channels in the fixed order.
func (m ChannelTotals) MarshalJSON() ([]byte, error) { return marshalOrdered(m) }

// ChannelAmounts maps channel → base units (decimal digits).
type ChannelAmounts map[string]string

// MarshalJSON writes the channels in the fixed order.
func (m ChannelAmounts) MarshalJSON() ([]byte, error) { return marshalOrdered(m) }

func marshalOrdered[V any](m map[string]V) ([]byte, error) {
	b := []byte{'{'}
	for i, k := range domain.SortChannels(m) {
		if i > 0 {
			b = append(b, ',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(m[k])
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, kb...), ':'), vb...)
	}
	return append(b, '}'), nil
}

// namedChannels reports whether ep is paid through named channels: closed
// with channels in its EpochClosed, or open under a schedule.
func (l *Ledger) namedChannels(ep *Epoch) bool {
	if ep.Closed {
		return ep.ChannelsRecorded
	}
	return l.ScheduleFor(ep.N) != nil
}

// allocatedByChannel sums an operator's allocations of closed epochs per
// channel; nil when no closed epoch named its channels.
func (l *Ledger) allocatedByChannel(id string) ChannelAmounts {
	named := false
	sums := map[string]domain.BaseUnits{}
	for _, ep := range l.Epochs {
		if !ep.Closed {
			continue
		}
		named = named || ep.ChannelsRecorded
		for _, ca := range ep.Channels {
			sums[ca.Name] += ca.Allocations[id]
		}
	}
	if !named {
		return nil
	}
	out := ChannelAmounts{}
	for k, v := range sums {
		out[k] = v.String()
	}
	return out
}

// UsesChannels reports whether the log names reward channels: it holds an
// EmissionScheduleSet or an EpochClosed with channels. The shares
// documents of such a log list every epoch's channels (an epoch closed
// without them as job = emission); those of a log written before channels
// keep exactly the form they had.
func (l *Ledger) UsesChannels() bool {
	if len(l.Schedules) > 0 {
		return true
	}
	for _, ep := range l.Epochs {
		if ep.ChannelsRecorded {
			return true
		}
	}
	return false
}

// TimeReallocation allocates closed epoch ep's channels again, as its
// close did, and returns the seconds it took and the eligible nodes of its
// availability channel (for bench replay).
func TimeReallocation(l *Ledger, ep *Epoch) (float64, int) {
	start := time.Now()
	res := l.allocateChannels(ep, channelAmounts(ep.Channels))
	return time.Since(start).Seconds(), len(res.nodes)
}

func channelAmounts(cs []ChannelAlloc) map[string]domain.BaseUnits {
	m := make(map[string]domain.BaseUnits, len(cs))
	for _, c := range cs {
		m[c.Name] = c.Amount
	}
	return m
}
