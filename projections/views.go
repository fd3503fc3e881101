package projections

import (
	"fmt"
	"math/big"
	"sort"

	"github.com/epochledger/epochledger/domain"
)

// The documents below are the public read forms of the ledger: what
// `shares --json`, `balances --json`, `supply --json`, `job --json` and the
// HTTP API print. Field order is fixed by the structs, numbers that can
// exceed a float are strings, and every list is sorted, so the same log
// always gives the same bytes.

// SharesDoc is the `shares --json` document of DESIGN.md.
type SharesDoc struct {
	Epoch        uint64          `json:"epoch"`
	Emission     string          `json:"emission"`
	TotalWorkOBh string          `json:"total_work_obh"`
	TotalWorkUSD string          `json:"total_work_usd"`
	Channels     ChannelTotals   `json:"channels,omitempty"` // on logs that use reward channels
	Operators    []OperatorShare `json:"operators"`
}

// OperatorShare is one operator's line of SharesDoc. Allocated is the sum
// of Channels. Channels and AvailabilityPoints are set on logs that use
// reward channels (Ledger.UsesChannels) and left out on the others, whose
// documents stay byte for byte what they were before channels.
type OperatorShare struct {
	OperatorID         string         `json:"operator_id"`
	WorkOBh            string         `json:"work_obh"`
	WorkUSD            string         `json:"work_usd"`
	Allocated          string         `json:"allocated"`
	Channels           ChannelAmounts `json:"channels,omitempty"`
	AvailabilityPoints string         `json:"availability_points,omitempty"`
}

// ErrNoEpoch is returned for an epoch the log has not reached.
type ErrNoEpoch struct {
	Epoch, Open uint64
}

func (e *ErrNoEpoch) Error() string {
	return fmt.Sprintf("epoch %d does not exist yet: epochs 1..%d are closed and %d is open", e.Epoch, e.Open-1, e.Open)
}

// Shares returns epoch n's shares. For the open epoch, allocations are
// provisional (what closing it now with the default emission would give)
// and provisional is true.
func (l *Ledger) Shares(n uint64) (doc *SharesDoc, provisional bool, err error) {
	ep := l.Epoch(n)
	if ep == nil {
		return nil, false, &ErrNoEpoch{Epoch: n, Open: l.Open().N}
	}
	emission := ep.Emission
	if !ep.Closed {
		emission = l.OpenEmission()
		provisional = true
	}
	chans := l.ChannelAllocs(ep)
	points := availabilityPoints(l.NodeAvailability(ep))
	// Every operator with work, and every one with an eligible node (an
	// idle node earns availability without any job work).
	listed := map[string]bool{}
	for id := range ep.Operators {
		listed[id] = true
	}
	for id := range points {
		listed[id] = true
	}
	ids := sortedKeys(listed)
	var tw, tv domain.Sum
	doc = &SharesDoc{Epoch: n, Emission: emission.String(), Operators: make([]OperatorShare, 0, len(ids))}
	named := l.UsesChannels()
	if named {
		doc.Channels = ChannelTotals{}
		for _, ca := range chans {
			doc.Channels[ca.Name] = ChannelTotal{Emission: ca.Amount.String(), Allocated: ca.Allocated().String(), Unallocated: ca.Unallocated.String()}
		}
	}
	for _, id := range ids {
		line := OperatorShare{OperatorID: id, WorkOBh: "0", WorkUSD: "0"}
		if named {
			line.Channels, line.AvailabilityPoints = ChannelAmounts{}, "0"
		}
		if w := ep.Operators[id]; w != nil {
			tw.AddSum(&w.Work)
			tv.AddSum(&w.Value)
			line.WorkOBh = domain.FormatOBh(w.Work.Big())
			line.WorkUSD = domain.FormatValueUSD(w.Value.Big())
		}
		var sum domain.BaseUnits
		for _, ca := range chans {
			a := ca.Allocations[id]
			if named {
				line.Channels[ca.Name] = a.String()
			}
			sum += a
		}
		line.Allocated = sum.String()
		if p := points[id]; p != nil && named {
			line.AvailabilityPoints = p.String()
		}
		doc.Operators = append(doc.Operators, line)
	}
	doc.TotalWorkOBh = domain.FormatOBh(tw.Big())
	doc.TotalWorkUSD = domain.FormatValueUSD(tv.Big())
	return doc, provisional, nil
}

// EpochSummary is one epoch's line of `replay` and GET /v1/epochs.
type EpochSummary struct {
	Epoch           uint64 `json:"epoch"`
	Status          string `json:"status"` // open, closed, settling, settled
	ClosedAt        uint64 `json:"closed_at_position,omitempty"`
	Operators       int    `json:"operators"`
	Nodes           int    `json:"nodes"`
	Frames          uint64 `json:"frames"`
	Tasks           uint64 `json:"tasks"`
	TotalWorkOBh    string `json:"total_work_obh"`
	TotalWorkUSD    string `json:"total_work_usd"`
	Emission        string `json:"emission"`
	Allocated       string `json:"allocated"`
	Unallocated     string `json:"unallocated"`
	Burned          string `json:"burned"`
	BurnedUSD       string `json:"burned_usd"`
	Minted          string `json:"minted"`
	SettlementRoot  string `json:"settlement_root,omitempty"`
	SettlementState string `json:"settlement_state"` // Settlement.State(): none, planned, in_flight, confirmed
	// Channels is set for an epoch paid through named reward channels
	// (an EpochClosed with channels, or an open epoch under a schedule);
	// an epoch of one job channel leaves it out, as before channels.
	Channels ChannelTotals `json:"channels,omitempty"`
}

// Summary returns epoch ep's summary.
func (l *Ledger) Summary(ep *Epoch) EpochSummary {
	var tw, tv domain.Sum
	var frames, tasks uint64
	for _, w := range ep.Operators {
		tw.AddSum(&w.Work)
		tv.AddSum(&w.Value)
		frames += w.Frames
		tasks += w.Tasks
	}
	s := EpochSummary{
		Epoch: ep.N, Status: "open", ClosedAt: ep.ClosedAt,
		Operators: len(ep.Operators), Nodes: len(ep.Nodes), Frames: frames, Tasks: tasks,
		TotalWorkOBh: domain.FormatOBh(tw.Big()), TotalWorkUSD: domain.FormatValueUSD(tv.Big()),
		Emission: l.OpenEmission().String(), Allocated: "0", Unallocated: "0", Minted: "0",
		Burned: ep.Burned.String(), BurnedUSD: domain.FormatValueUSD(ep.BurnedUSD.Big()),
		SettlementState: SettlementNone,
	}
	if l.namedChannels(ep) {
		s.Channels = ChannelTotals{}
		for _, ca := range l.ChannelAllocs(ep) {
			s.Channels[ca.Name] = ChannelTotal{Emission: ca.Amount.String(), Allocated: ca.Allocated().String(), Unallocated: ca.Unallocated.String()}
		}
	}
	if ep.Closed {
		s.Status = "closed"
		s.Emission = ep.Emission.String()
		s.Allocated = (ep.Emission - ep.Unallocated).String()
		s.Unallocated = ep.Unallocated.String()
		s.Minted = s.Allocated
	}
	if st := ep.Settlement; st != nil {
		s.SettlementRoot = st.Root
		s.SettlementState = st.State()
		s.Status = "settling"
		if s.SettlementState == SettlementConfirmed {
			s.Status = "settled"
		}
	}
	return s
}

// Summaries returns every epoch's summary, the open one last.
func (l *Ledger) Summaries() []EpochSummary {
	out := make([]EpochSummary, len(l.Epochs))
	for i, ep := range l.Epochs {
		out[i] = l.Summary(ep)
	}
	return out
}

// Balance is one operator's line of `balances`.
type Balance struct {
	OperatorID string `json:"operator_id"`
	Wallet     string `json:"wallet"`
	Nodes      int    `json:"nodes"`
	Allocated  string `json:"allocated"`
	Paid       string `json:"paid"`
	InFlight   string `json:"in_flight"`
	Planned    string `json:"planned"`
	Owed       string `json:"owed"`
	// CarriedForward is true when the operator is owed but has no wallet:
	// the amount waits for the first settlement after OperatorWalletSet.
	CarriedForward bool `json:"carried_forward"`
	// Channels splits Allocated by reward channel, on logs with named
	// channels (left out on logs of one job channel).
	Channels ChannelAmounts `json:"channels,omitempty"`
}

// Balances returns every operator's balance (or one), sorted by id.
func (l *Ledger) Balances() []Balance {
	ids := make([]string, 0, len(l.Operators))
	for id := range l.Operators {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]Balance, 0, len(ids))
	for _, id := range ids {
		out = append(out, l.Balance(l.Operators[id]))
	}
	return out
}

// Balance returns one operator's balance.
func (l *Ledger) Balance(o *Operator) Balance {
	reserved := l.Reserved(o.ID)
	owed := o.Owed()
	return Balance{
		OperatorID: o.ID, Wallet: o.Wallet, Nodes: len(o.Nodes),
		Allocated: o.Allocated.String(), Paid: o.Paid.String(), InFlight: o.InFlight.String(),
		Planned: reserved.String(), Owed: owed.String(),
		CarriedForward: o.Wallet == "" && owed > 0,
		Channels:       l.allocatedByChannel(o.ID),
	}
}

// SupplyDoc is the BME supply view.
type SupplyDoc struct {
	Position      uint64 `json:"position"`
	ClosedEpochs  uint64 `json:"closed_epochs"`
	Minted        string `json:"minted"`
	Burned        string `json:"burned"`
	Net           string `json:"net"` // minted − burned; negative when burns exceed emissions
	Unallocated   string `json:"unallocated"`
	MintedRender  string `json:"minted_render"`
	BurnedRender  string `json:"burned_render"`
	NetRender     string `json:"net_render"`
	BridgeCount   uint64 `json:"bridge_conversions"`
	BridgedRender string `json:"bridged_render"`
	BridgedWei    string `json:"bridged_rndr_wei"`
	BridgeDustWei string `json:"bridge_dust_wei"`
}

// Supply returns the supply view.
func (l *Ledger) Supply() SupplyDoc {
	var un domain.BaseUnits
	for _, ep := range l.Epochs {
		if ep.Closed {
			un += ep.Unallocated
		}
	}
	net := new(big.Int).Sub(new(big.Int).SetUint64(uint64(l.Minted)), new(big.Int).SetUint64(uint64(l.Burned)))
	return SupplyDoc{
		Position: l.Position, ClosedEpochs: l.ClosedEpochs(),
		Minted: l.Minted.String(), Burned: l.Burned.String(), Net: net.String(),
		Unallocated:  un.String(),
		MintedRender: l.Minted.RenderString(), BurnedRender: l.Burned.RenderString(),
		NetRender:   domain.FormatRat9(net, big.NewInt(domain.BaseUnitsPerRender)),
		BridgeCount: l.Bridge.Conversions, BridgedRender: l.Bridge.Render.RenderString(),
		BridgedWei: l.Bridge.RNDRWei.String(), BridgeDustWei: l.Bridge.Dust.String(),
	}
}

// JobDoc is the `job` document: status and Proof-of-Render provenance.
type JobDoc struct {
	JobID          string        `json:"job_id"`
	Artist         string        `json:"artist"`
	SceneHash      string        `json:"scene_hash"`
	Status         string        `json:"status"` // open, rendered, completed
	Frames         uint32        `json:"frames"`
	Accepted       uint32        `json:"accepted"`
	Rejected       uint32        `json:"rejected"`
	USDPerOBh      string        `json:"usd_per_obh"`
	ProvenanceRoot string        `json:"provenance_root,omitempty"`
	Burn           *BurnDoc      `json:"burn,omitempty"`
	FrameStates    []FrameStatus `json:"frame_states"`
}

// BurnDoc is a job's burn.
type BurnDoc struct {
	Epoch          uint64 `json:"epoch"`
	USD            string `json:"usd"`
	RenderUSDPrice string `json:"render_usd_price"`
	Burned         string `json:"burned"`
	TxSignature    string `json:"tx_signature"`
}

// JobDoc returns a job's document, or nil.
func (l *Ledger) JobDoc(id string) *JobDoc {
	j := l.Jobs[id]
	if j == nil {
		return nil
	}
	d := &JobDoc{JobID: j.ID, Artist: j.Artist, SceneHash: j.SceneHash, Status: "open", Frames: j.Frames,
		Accepted: j.Accepted, Rejected: j.Rejected, USDPerOBh: j.USDPerOBh.String(),
		ProvenanceRoot: j.ProvenanceRoot, FrameStates: j.FrameStatuses()}
	switch {
	case j.Completed:
		d.Status = "completed"
	case j.Accepted == j.Frames:
		d.Status = "rendered"
	}
	if b := j.Burn; b != nil {
		d.Burn = &BurnDoc{Epoch: j.BurnEpoch, USD: b.USD.String(), RenderUSDPrice: b.RenderUSDPrice.String(), Burned: b.Burned.String(), TxSignature: b.TxSignature}
	}
	return d
}
