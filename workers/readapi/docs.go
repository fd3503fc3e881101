package readapi

import (
	"math/big"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/projections"
)

// The documents of the read API that are not already projections' public
// read forms (SharesDoc, EpochSummary, Balance, SupplyDoc, JobDoc, which
// are served as they are). Amounts in base units and decimals are strings,
// like everywhere in epochledger's JSON.

// EpochList is GET /v1/epochs: epoch summaries in epoch order.
type EpochList struct {
	Epochs     []projections.EpochSummary `json:"epochs"`
	NextCursor string                     `json:"next_cursor,omitempty"`
}

// EpochDoc is GET /v1/epochs/{n}: the summary and the settlement batch.
type EpochDoc struct {
	projections.EpochSummary
	// Provisional is true for the open epoch: its emission and allocations
	// are what closing it now with the default emission would give.
	Provisional bool           `json:"provisional"`
	Settlement  *SettlementDoc `json:"settlement,omitempty"`
}

// SettlementDoc is an epoch's settlement plan and its transactions.
type SettlementDoc struct {
	Root         string  `json:"root"`
	Total        string  `json:"total"`
	Payouts      int     `json:"payouts"`
	PlannedAt    uint64  `json:"planned_at_position"`
	Complete     bool    `json:"complete"` // false while a split plan lacks parts
	Transactions []TxDoc `json:"transactions"`
}

// TxDoc is one payout transaction.
type TxDoc struct {
	Signature   string `json:"signature"`
	State       string `json:"state"` // submitted, confirmed, expired
	Recipients  int    `json:"recipients"`
	Amount      string `json:"amount"`
	SubmittedAt uint64 `json:"submitted_at_position"`
	Slot        uint64 `json:"slot,omitempty"`
}

// OperatorList is GET /v1/operators: balances sorted by operator id.
type OperatorList struct {
	Operators  []projections.Balance `json:"operators"`
	NextCursor string                `json:"next_cursor,omitempty"`
}

// OperatorDoc is GET /v1/operators/{id}: one operator across epochs.
type OperatorDoc struct {
	OperatorID     string           `json:"operator_id"`
	Wallet         string           `json:"wallet"`
	EthAddress     string           `json:"eth_address,omitempty"`
	Allocated      string           `json:"allocated"`
	Paid           string           `json:"paid"`
	InFlight       string           `json:"in_flight"`
	Planned        string           `json:"planned"`
	Owed           string           `json:"owed"`
	CarriedForward bool             `json:"carried_forward"`
	Nodes          []NodeDoc        `json:"nodes"`
	Epochs         []OperatorEpoch  `json:"epochs"`
	Settlements    []OperatorPayout `json:"settlements"`
	// NextCursor pages over the ledger's epochs: Epochs and Settlements
	// hold the lines of the epochs of this page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// NodeDoc is one of an operator's nodes.
type NodeDoc struct {
	NodeID       string `json:"node_id"`
	GPU          string `json:"gpu"`
	OBScore      string `json:"ob_score"`
	RegisteredAt uint64 `json:"registered_at_position"`
	VRAMGB       uint32 `json:"vram_gb,omitempty"`
}

// OperatorEpoch is an operator's work and allocation in one epoch.
type OperatorEpoch struct {
	Epoch       uint64 `json:"epoch"`
	Status      string `json:"status"` // open or closed
	Provisional bool   `json:"provisional"`
	Frames      uint64 `json:"frames"`
	Tasks       uint64 `json:"tasks"`
	WorkOBh     string `json:"work_obh"`
	WorkUSD     string `json:"work_usd"`
	// Share is the operator's part of the epoch's work value (what the
	// emission is split by), rounded half-even to 9 decimals.
	Share     string `json:"share"`
	Allocated string `json:"allocated"`
	// On logs that name reward channels: Allocated per channel, the
	// operator's availability points and each eligible node's result.
	Channels           projections.ChannelAmounts `json:"channels,omitempty"`
	AvailabilityPoints string                     `json:"availability_points,omitempty"`
	Availability       []NodeAvailabilityDoc      `json:"availability,omitempty"`
}

// NodeAvailabilityDoc is one eligible node's availability in an epoch:
// idle share of the window (exact fraction and percent), points and its
// rank within the operator (ranks above 3 carry the centralisation
// penalty exp(−0.65·(rank − 3))).
type NodeAvailabilityDoc struct {
	NodeID      string `json:"node_id"`
	Idle        string `json:"idle"`         // exact fraction a/b
	IdlePercent string `json:"idle_percent"` // rounded half-even to 9 places
	Points      string `json:"points"`
	Rank        int    `json:"rank"`
	Penalty     string `json:"penalty"` // 1, or exp(−0.65·(rank−3)) to 20 places
}

// OperatorPayout is an operator's line of one epoch's settlement plan.
type OperatorPayout struct {
	Epoch        uint64      `json:"epoch"`
	Root         string      `json:"root"`
	Index        int         `json:"index"`
	Count        int         `json:"count"`
	Wallet       string      `json:"wallet"`
	Amount       string      `json:"amount"`
	CoversEpochs []uint64    `json:"covers_epochs,omitempty"`
	State        string      `json:"state"` // planned, in_flight, confirmed
	Reserved     string      `json:"reserved"`
	InFlight     string      `json:"in_flight"`
	Confirmed    string      `json:"confirmed"`
	Transactions []TxPayment `json:"transactions"`
}

// TxPayment is a transaction that carried (part of) a payout.
type TxPayment struct {
	Signature string `json:"signature"`
	State     string `json:"state"`
	Slot      uint64 `json:"slot,omitempty"`
}

// FrameList is GET /v1/operators/{id}/frames: the frames the operator's
// nodes hold or rendered, newest job first.
type FrameList struct {
	Frames     []OperatorFrame `json:"frames"`
	NextCursor string          `json:"next_cursor,omitempty"`
}

// OperatorFrame is a frame with its job.
type OperatorFrame struct {
	JobID       string `json:"job_id"`
	SubmittedAt uint64 `json:"job_submitted_at_position"`
	projections.FrameStatus
}

// caches holds what the documents reuse between requests: facts of closed
// epochs, which never change once folded, and the jobs in submission
// order. Everything is dropped when the source hands out another ledger.
type caches struct {
	mu      sync.Mutex
	ledger  *projections.Ledger
	totals  map[uint64]*big.Int // closed epoch → total work value
	jobs    []*projections.Job  // ascending by Submitted
	jobsLen int
}

// reset forgets everything when the source hands out another ledger.
func (c *caches) reset(l *projections.Ledger) {
	if c.ledger != l {
		c.ledger, c.totals, c.jobs, c.jobsLen = l, map[uint64]*big.Int{}, nil, 0
	}
}

// epochValue returns the total work value of ep.
func (c *caches) epochValue(l *projections.Ledger, ep *projections.Epoch) *big.Int {
	if ep.Closed {
		c.mu.Lock()
		c.reset(l)
		v := c.totals[ep.N]
		c.mu.Unlock()
		if v != nil {
			return v
		}
	}
	var tv domain.Sum
	for _, w := range ep.Operators {
		tv.AddSum(&w.Value)
	}
	v := tv.Big()
	if ep.Closed {
		c.mu.Lock()
		c.reset(l)
		c.totals[ep.N] = v
		c.mu.Unlock()
	}
	return v
}

// jobsBySubmission returns the ledger's jobs in submission order. Jobs are
// only ever added, each at a later position, so the list grows at its end.
func (c *caches) jobsBySubmission(l *projections.Ledger) []*projections.Job {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reset(l)
	if len(l.Jobs) < c.jobsLen {
		c.jobs, c.jobsLen = nil, 0
	}
	if len(l.Jobs) != c.jobsLen {
		var last uint64
		if n := len(c.jobs); n > 0 {
			last = c.jobs[n-1].Submitted
		}
		var add []*projections.Job
		for _, j := range l.Jobs {
			if j.Submitted > last {
				add = append(add, j)
			}
		}
		sort.Slice(add, func(i, k int) bool { return add[i].Submitted < add[k].Submitted })
		c.jobs = append(c.jobs, add...)
		c.jobsLen = len(l.Jobs)
	}
	return c.jobs
}

// epochDoc builds GET /v1/epochs/{n}.
func epochDoc(l *projections.Ledger, ep *projections.Epoch) *EpochDoc {
	d := &EpochDoc{EpochSummary: l.Summary(ep), Provisional: !ep.Closed}
	if s := ep.Settlement; s != nil {
		sd := &SettlementDoc{Root: s.Root, Total: s.Total.String(), Payouts: len(s.Payouts), PlannedAt: s.PlannedAt,
			Complete: !s.Incomplete(), Transactions: make([]TxDoc, 0, len(s.Txs))}
		for _, tx := range s.Txs {
			var amt domain.BaseUnits
			for _, r := range tx.Recipients {
				amt += r.Amount
			}
			sd.Transactions = append(sd.Transactions, TxDoc{Signature: tx.Signature, State: tx.State,
				Recipients: len(tx.Recipients), Amount: amt.String(), SubmittedAt: tx.SubmittedAt, Slot: tx.Slot})
		}
		d.Settlement = sd
	}
	return d
}

// operatorDoc builds GET /v1/operators/{id} for the epochs after `after`,
// at most limit of them.
func (c *caches) operatorDoc(l *projections.Ledger, o *projections.Operator, after uint64, limit int) *OperatorDoc {
	b := l.Balance(o)
	d := &OperatorDoc{
		OperatorID: o.ID, Wallet: o.Wallet, EthAddress: o.EthAddress,
		Allocated: b.Allocated, Paid: b.Paid, InFlight: b.InFlight, Planned: b.Planned, Owed: b.Owed,
		CarriedForward: b.CarriedForward,
		Nodes:          make([]NodeDoc, 0, len(o.Nodes)), Epochs: []OperatorEpoch{}, Settlements: []OperatorPayout{},
	}
	for _, id := range o.Nodes {
		if n := l.Nodes[id]; n != nil {
			d.Nodes = append(d.Nodes, NodeDoc{NodeID: n.ID, GPU: n.GPU, OBScore: n.OB.String(), RegisteredAt: n.Registered, VRAMGB: n.VRAMGB})
		}
	}
	last := after + uint64(limit)
	if n := uint64(len(l.Epochs)); last >= n {
		last = n
	} else {
		d.NextCursor = strconv.FormatUint(last, 10)
	}
	named := l.UsesChannels()
	for n := after + 1; n <= last; n++ {
		ep := l.Epoch(n)
		if named {
			if line, ok := c.channelEpoch(l, ep, o.ID); ok {
				d.Epochs = append(d.Epochs, line)
			}
		} else if w := ep.Operators[o.ID]; w != nil {
			line := OperatorEpoch{Epoch: n, Status: "closed", Frames: w.Frames, Tasks: w.Tasks,
				WorkOBh: domain.FormatOBh(w.Work.Big()), WorkUSD: domain.FormatValueUSD(w.Value.Big()), Share: "0"}
			if total := c.epochValue(l, ep); total.Sign() > 0 {
				line.Share = domain.FormatRat9(w.Value.Big(), total)
			}
			if ep.Closed {
				line.Allocated = ep.Allocations[o.ID].String()
			} else {
				alloc, _ := l.Provisional()
				line.Status, line.Provisional, line.Allocated = "open", true, alloc[o.ID].String()
			}
			d.Epochs = append(d.Epochs, line)
		}
		s := ep.Settlement
		if s == nil {
			continue
		}
		p := s.Operator(o.ID)
		if p == nil {
			continue
		}
		line := OperatorPayout{Epoch: n, Root: s.Root, Index: p.Index, Count: len(s.Payouts),
			Wallet: p.Payout.Wallet, Amount: p.Payout.Amount.String(), CoversEpochs: p.Payout.Epochs,
			State: "planned", Reserved: p.Reserved.String(), InFlight: p.InFlight.String(), Confirmed: p.Confirmed.String(),
			Transactions: make([]TxPayment, 0, len(p.Signatures))}
		switch {
		case p.Confirmed == p.Payout.Amount:
			line.State = "confirmed"
		case p.InFlight > 0:
			line.State = "in_flight"
		}
		for _, sig := range p.Signatures {
			tp := TxPayment{Signature: sig, State: "submitted"}
			if tx := s.Tx(sig); tx != nil {
				tp.State, tp.Slot = tx.State, tx.Slot
			}
			line.Transactions = append(line.Transactions, tp)
		}
		d.Settlements = append(d.Settlements, line)
	}
	return d
}

// frameCursor is the position of the last frame of a FrameList page.
type frameCursor struct {
	submitted uint64
	frame     uint32
}

func parseFrameCursor(s string) (frameCursor, bool) {
	p, f, ok := strings.Cut(s, ":")
	if !ok {
		return frameCursor{}, false
	}
	pos, err1 := strconv.ParseUint(p, 10, 64)
	fr, err2 := strconv.ParseUint(f, 10, 32)
	return frameCursor{pos, uint32(fr)}, err1 == nil && err2 == nil && pos > 0
}

func (c frameCursor) String() string {
	return strconv.FormatUint(c.submitted, 10) + ":" + strconv.FormatUint(uint64(c.frame), 10)
}

// operatorFrames lists the frames held or rendered by o's nodes, newest
// job first, frames in order, starting after cursor (nil: from the newest).
func (c *caches) operatorFrames(l *projections.Ledger, o *projections.Operator, cur *frameCursor, limit int) *FrameList {
	mine := make(map[string]bool, len(o.Nodes))
	for _, n := range o.Nodes {
		mine[n] = true
	}
	jobs := c.jobsBySubmission(l)
	i := len(jobs) - 1
	if cur != nil {
		// The first job at or before the cursor's.
		i = sort.Search(len(jobs), func(k int) bool { return jobs[k].Submitted > cur.submitted }) - 1
	}
	out := &FrameList{Frames: []OperatorFrame{}}
	for ; i >= 0 && len(mine) > 0; i-- {
		j := jobs[i]
		for _, f := range j.FrameStatuses() {
			if cur != nil && j.Submitted == cur.submitted && f.Frame <= cur.frame {
				continue
			}
			if f.Node == "" || !mine[f.Node] {
				continue
			}
			out.Frames = append(out.Frames, OperatorFrame{JobID: j.ID, SubmittedAt: j.Submitted, FrameStatus: f})
			if len(out.Frames) == limit {
				out.NextCursor = frameCursor{j.Submitted, f.Frame}.String()
				return out
			}
		}
	}
	return out
}
