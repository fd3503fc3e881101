package readapi

import (
	"math/big"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/projections"
)

// channelEpoch is an operator's line of one epoch on a log that names
// reward channels: listed when the operator has work or an eligible node
// (an idle node earns availability without job work).
func (c *caches) channelEpoch(l *projections.Ledger, ep *projections.Epoch, id string) (OperatorEpoch, bool) {
	line := OperatorEpoch{Epoch: ep.N, Status: "closed", WorkOBh: "0", WorkUSD: "0", Share: "0",
		Channels: projections.ChannelAmounts{}, AvailabilityPoints: "0"}
	w := ep.Operators[id]
	if w != nil {
		line.Frames, line.Tasks = w.Frames, w.Tasks
		line.WorkOBh, line.WorkUSD = domain.FormatOBh(w.Work.Big()), domain.FormatValueUSD(w.Value.Big())
		if total := c.epochValue(l, ep); total.Sign() > 0 {
			line.Share = domain.FormatRat9(w.Value.Big(), total)
		}
	}
	if !ep.Closed {
		line.Status, line.Provisional = "open", true
	}
	var sum domain.BaseUnits
	for _, ca := range l.ChannelAllocs(ep) {
		a := ca.Allocations[id]
		line.Channels[ca.Name] = a.String()
		sum += a
	}
	line.Allocated = sum.String()
	points := new(big.Int)
	for _, na := range l.NodeAvailability(ep) {
		if na.OperatorID != id {
			continue
		}
		p, _ := new(big.Int).SetString(na.Points, 10)
		if p != nil {
			points.Add(points, p)
		}
		line.Availability = append(line.Availability, NodeAvailabilityDoc{NodeID: na.NodeID, Idle: na.Idle,
			IdlePercent: idlePercent(na.Idle), Points: na.Points, Rank: na.Rank, Penalty: penaltyText(na.Rank)})
	}
	line.AvailabilityPoints = points.String()
	if w == nil && line.Availability == nil {
		return line, false
	}
	return line, true
}

// idlePercent is 100 × a/b rounded half-even to 9 places.
func idlePercent(frac string) string {
	r, ok := new(big.Rat).SetString(frac)
	if !ok {
		return ""
	}
	r.Mul(r, big.NewRat(100, 1))
	return domain.FormatRat9(r.Num(), r.Denom())
}

func penaltyText(rank int) string {
	if rank <= 3 {
		return "1"
	}
	return domain.CentralisationPenalty(rank)
}
