package scenarios

import (
	"sort"

	"github.com/epochledger/epochledger/projections"
)

// NodeAvailabilityReport is one node's availability record of a closed
// epoch (what the coordinator measured from heartbeats and leases) and, if
// it was eligible, its points and rank within its operator.
type NodeAvailabilityReport struct {
	Epoch      uint64 `json:"epoch"`
	NodeID     string `json:"node_id"`
	OperatorID string `json:"operator_id"`
	WindowMS   uint64 `json:"window_ms"`
	OnlineMS   uint64 `json:"online_ms"`
	BusyMS     uint64 `json:"busy_ms"`
	Points     string `json:"points"` // "0" when not eligible
	Rank       int    `json:"rank,omitempty"`
}

// availabilityReport lists the availability records of l's closed epochs,
// by epoch and node.
func availabilityReport(l *projections.Ledger) []NodeAvailabilityReport {
	var out []NodeAvailabilityReport
	for _, ep := range l.Epochs {
		if !ep.Closed {
			continue
		}
		pts := map[string]projections.NodeAvail{}
		for _, na := range l.NodeAvailability(ep) {
			pts[na.NodeID] = na
		}
		for id, rec := range ep.Availability {
			r := NodeAvailabilityReport{Epoch: ep.N, NodeID: id, WindowMS: rec.WindowMS, OnlineMS: rec.OnlineMS, BusyMS: rec.BusyMS, Points: "0"}
			if n := l.Nodes[id]; n != nil {
				r.OperatorID = n.OperatorID
			}
			if na, ok := pts[id]; ok {
				r.Points, r.Rank = na.Points, na.Rank
			}
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Epoch != out[j].Epoch {
			return out[i].Epoch < out[j].Epoch
		}
		return out[i].NodeID < out[j].NodeID
	})
	return out
}
