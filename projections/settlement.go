package projections

import (
	"fmt"
	"slices"
	"strings"

	"github.com/epochledger/epochledger/domain"
)

// Settlement is the state of one epoch's payout batch.
//
// Money moves through four buckets per operator: owed (allocated, not yet
// planned) → reserved (in a plan, not in a sent transaction) → in flight
// (in a PayoutSubmitted transaction) → paid (PayoutConfirmed). An expired
// transaction moves its amounts from in flight back to reserved, so only
// those recipients are sent again. Every Check below keeps the buckets
// from overlapping: an amount can be in one transaction at a time, which
// is what makes paying twice impossible at the ledger level.
type Settlement struct {
	Epoch     uint64
	PlannedAt uint64
	Root      string
	Total     domain.BaseUnits
	Payouts   []domain.Payout // sorted by operator_id
	// LogHead is the plan's log_head: the log's chain hash when the plan
	// was made ("" for plans recorded without it).
	LogHead string
	byOp    map[string]*PayoutState
	Txs     []*PayoutTx // in submission order
	bySig   map[string]*PayoutTx
	// nextPart is the part expected next while a plan split over several
	// SettlementPlanned events is folded (parts of them); 0 once complete.
	// Parts are appended in one atomic append, so a stored log never ends
	// between them and a complete plan needs neither field.
	nextPart, parts uint64
	partTotal       domain.BaseUnits // Σ amounts of the parts folded so far
}

// Replaceable reports whether a new plan of root may replace this one (a
// re-plan, e.g. after an operator changed wallet): only while nothing of
// it was ever sent, once it is complete, and with another root.
func (s *Settlement) Replaceable(root string) bool {
	return len(s.Txs) == 0 && !s.Incomplete() && s.Root != root
}

// Incomplete reports whether the settlement is a split plan whose last
// part has not been folded yet.
func (s *Settlement) Incomplete() bool { return s.nextPart != 0 }

// PayoutState is one operator's line of a plan and its progress.
type PayoutState struct {
	Payout     domain.Payout
	Index      int              // leaf index in the plan
	Reserved   domain.BaseUnits // planned, not in a live transaction
	InFlight   domain.BaseUnits
	Confirmed  domain.BaseUnits
	Signatures []string
}

// PayoutTx is one submitted payout transaction.
type PayoutTx struct {
	Signature            string
	Recipients           []domain.Recipient
	Blockhash            string
	LastValidBlockHeight uint64
	State                string // submitted, confirmed, expired
	SubmittedAt          uint64
	Slot                 uint64
	// Transaction is the signed wire transaction (base64) recorded with
	// it, kept only while it is in flight: what a restarted submitter
	// re-sends.
	Transaction string `json:",omitempty"`
	// Corrections counts the PayoutConfirmed/PayoutExpired events that
	// superseded an earlier resolution of this transaction: a submitter
	// that found the chain disagreeing with the log (a forged or damaged
	// record) recorded what the chain says. 0 in an honest log.
	Corrections int `json:",omitempty"`
}

// Operator returns the plan line of an operator, or nil.
func (s *Settlement) Operator(id string) *PayoutState { return s.byOp[id] }

// Done reports whether every planned amount is confirmed.
func (s *Settlement) Done() bool {
	for _, p := range s.byOp {
		if p.Confirmed != p.Payout.Amount {
			return false
		}
	}
	return true
}

// The settlement states of an epoch, in the order they are reached: what
// `settle status`, `replay` and GET /v1/epochs print (EpochSummary's
// settlement_state). SettlementNone is an epoch without a plan.
const (
	SettlementNone      = "none"
	SettlementPlanned   = "planned"
	SettlementInFlight  = "in_flight"
	SettlementConfirmed = "confirmed"
)

// State is the one rule for an epoch's settlement state: confirmed once
// every planned amount is confirmed; in_flight once sending has begun
// (something is in flight or confirmed) and not everything is confirmed,
// so a partly paid epoch whose rest is waiting to be re-sent stays
// in_flight; planned before anything was sent (or when every transaction
// sent so far expired and nothing is paid).
func (s *Settlement) State() string {
	_, inflight, confirmed := s.Totals()
	switch {
	case s.Done():
		return SettlementConfirmed
	case inflight > 0 || confirmed > 0:
		return SettlementInFlight
	}
	return SettlementPlanned
}

// Totals returns the plan's amounts by bucket: reserved (planned, not in
// a live transaction), in flight and confirmed.
func (s *Settlement) Totals() (reserved, inflight, confirmed domain.BaseUnits) {
	for _, p := range s.byOp {
		reserved += p.Reserved
		inflight += p.InFlight
		confirmed += p.Confirmed
	}
	return reserved, inflight, confirmed
}

// Tx returns a submitted transaction by signature, or nil.
func (s *Settlement) Tx(sig string) *PayoutTx { return s.bySig[sig] }

// Reserved is what operator id has planned but not in a live transaction,
// across every epoch's plan.
func (l *Ledger) Reserved(id string) domain.BaseUnits {
	var r domain.BaseUnits
	for _, ep := range l.Epochs {
		if s := ep.Settlement; s != nil {
			if p := s.byOp[id]; p != nil {
				r += p.Reserved
			}
		}
	}
	return r
}

// Payable is what a new plan may pay operator o: allocated, minus paid,
// in flight and reserved in other plans.
func (l *Ledger) Payable(o *Operator) domain.BaseUnits {
	return o.Allocated - o.Paid - o.InFlight - l.Reserved(o.ID)
}

// PayableThrough is what a plan of epoch n may pay operator o: what the
// epochs up to n allocated them, minus what is paid, in flight or reserved
// (amounts are paid oldest epoch first), and the epochs that amount comes
// from. A plan of epoch n never pays an allocation of a later epoch, even
// when that epoch closed before the plan was made.
func (l *Ledger) PayableThrough(o *Operator, n uint64) (domain.BaseUnits, []uint64) {
	amt, epochs := l.payableThrough(o, n, nil)
	return amt, epochs
}

// payableThrough is PayableThrough appending the epochs to dst (one
// backing array for a whole plan instead of an allocation per operator).
func (l *Ledger) payableThrough(o *Operator, n uint64, dst []uint64) (domain.BaseUnits, []uint64) {
	committed := o.Paid + o.InFlight + l.Reserved(o.ID)
	var cum domain.BaseUnits
	epochs := dst[len(dst):]
	for k := uint64(1); k <= n && k <= l.ClosedEpochs(); k++ {
		a := l.Epochs[k-1].Allocations[o.ID]
		if a == 0 {
			continue
		}
		cum += a
		if cum > committed { // (cum−a, cum] overlaps what is still to pay
			epochs = append(epochs, k)
		}
	}
	if cum <= committed {
		return 0, nil
	}
	return cum - committed, epochs
}

// PlanPayouts derives the payout list of a settlement of epoch n: every
// operator with a wallet and an amount payable through epoch n, sorted by
// operator_id, each with the epochs it covers. Operators without a wallet
// keep accruing (carried forward); carried lists them.
func (l *Ledger) PlanPayouts(n uint64) (payouts []domain.Payout, carried []string) {
	ops := make([]*Operator, 0, len(l.Operators))
	for _, o := range l.Operators {
		if o.Allocated > o.Paid+o.InFlight {
			ops = append(ops, o)
		}
	}
	slices.SortFunc(ops, func(a, b *Operator) int { return strings.Compare(a.ID, b.ID) })
	payouts = make([]domain.Payout, 0, len(ops))
	var buf []uint64
	for _, o := range ops {
		if cap(buf)-len(buf) < int(n) {
			buf = make([]uint64, 0, max(4096, int(n)))
		}
		amt, epochs := l.payableThrough(o, n, buf)
		if amt == 0 {
			continue
		}
		if o.Wallet == "" {
			carried = append(carried, o.ID)
			continue
		}
		buf = buf[:len(buf)+len(epochs)]
		payouts = append(payouts, domain.Payout{OperatorID: o.ID, Wallet: o.Wallet, Amount: amt, Epochs: slices.Clip(epochs)})
	}
	return payouts, carried
}

// ReplanPayouts is PlanPayouts of epoch n as if its recorded plan did not
// exist: what a plan replacing it would pay (it takes over the recorded
// plan's reservations). The ledger is left as it was.
func (l *Ledger) ReplanPayouts(n uint64) (payouts []domain.Payout, carried []string) {
	if ep := l.Epoch(n); ep != nil && ep.Settlement != nil {
		s := ep.Settlement
		ep.Settlement = nil
		defer func() { ep.Settlement = s }()
	}
	return l.PlanPayouts(n)
}

func (l *Ledger) checkSettlement(ev domain.Event) error {
	switch e := ev.(type) {
	case *domain.SettlementPlanned:
		ep := l.Epoch(e.Epoch)
		if ep == nil {
			return refuse(ev, "epoch", "epoch %d does not exist (the open epoch is %d)", e.Epoch, l.Open().N)
		}
		if !ep.Closed {
			return refuse(ev, "epoch", "epoch %d is not closed; only closed epochs are settled", e.Epoch)
		}
		var prior []domain.Payout // earlier parts of a split plan
		switch s := ep.Settlement; {
		case e.Part > 1:
			if s == nil || s.nextPart != e.Part || s.parts != e.Parts {
				want := "part 1"
				if s != nil && s.nextPart != 0 {
					want = fmt.Sprintf("part %d of %d", s.nextPart, s.parts)
				}
				return refuse(ev, "part", "part %d of %d of epoch %d's plan is out of order: the next is %s", e.Part, e.Parts, e.Epoch, want)
			}
			if s.Root != e.Root || s.Total != e.Total {
				return refuse(ev, "root", "every part of a split plan carries the root and total of part 1 (%s, %s)", s.Root, s.Total)
			}
			prior = s.Payouts
		case s != nil && !s.Replaceable(e.Root):
			return refuse(ev, "epoch", "epoch %d already has a settlement plan (position %d); expired payouts are re-sent under the same plan", e.Epoch, s.PlannedAt)
		case s != nil:
			// A re-plan: checked against the ledger without the plan it
			// replaces, whose reservations it takes over.
			ep.Settlement = nil
			defer func() { ep.Settlement = s }()
		}
		var total domain.BaseUnits
		if len(prior) > 0 {
			total = ep.Settlement.partTotal
		}
		var scratch [8]uint64
		for i, p := range e.Payouts {
			prev := ""
			if i > 0 {
				prev = e.Payouts[i-1].OperatorID
			} else if len(prior) > 0 {
				prev = prior[len(prior)-1].OperatorID
			}
			if (i > 0 || len(prior) > 0) && prev >= p.OperatorID {
				return refuse(ev, "payouts", "must be sorted by operator_id with each operator once (%q after %q)", p.OperatorID, prev)
			}
			o := l.Operators[p.OperatorID]
			if o == nil {
				return refuse(ev, "payouts", "operator %q does not exist", p.OperatorID)
			}
			if o.Wallet != p.Wallet {
				return refuse(ev, "payouts", "operator %q's wallet is %q, not %q", p.OperatorID, o.Wallet, p.Wallet)
			}
			pay, epochs := l.payableThrough(o, e.Epoch, scratch[:0])
			if p.Amount != pay || pay == 0 {
				return refuse(ev, "payouts", "operator %q is owed %s base units through epoch %d not planned elsewhere, not %s", p.OperatorID, pay, e.Epoch, p.Amount)
			}
			if p.Epochs != nil && !slices.Equal(p.Epochs, epochs) {
				return refuse(ev, "payouts", "operator %q's payout covers epochs %v, not %v", p.OperatorID, epochs, p.Epochs)
			}
			// Each amount is what the operator is owed, so the sum is
			// bounded by the emissions (under the supply cap); checked all
			// the same, like every sum of money.
			var ok bool
			if total, ok = domain.AddBaseUnits(total, p.Amount); !ok {
				return refuse(ev, "payouts", "the payouts' sum passes the range of base units")
			}
		}
		if e.Part != e.Parts { // a part before the last: the rest is checked with the last
			return nil
		}
		if total != e.Total {
			return refuse(ev, "total", "must be the sum of the payouts, %s", total)
		}
		root, err := domain.PlanRoot(e.Epoch, prior, e.Payouts)
		if err != nil {
			return refuse(ev, "payouts", "%v", err)
		}
		if got := domain.HashHex(root); got != e.Root {
			return refuse(ev, "root", "must be the Merkle root of the payout leaves, %s", got)
		}
	case *domain.PayoutSubmitted:
		s := l.settlement(e.Epoch)
		if s == nil {
			return refuse(ev, "epoch", "epoch %d has no settlement plan", e.Epoch)
		}
		if s.Incomplete() {
			return refuse(ev, "epoch", "epoch %d's plan lacks parts %d..%d", e.Epoch, s.nextPart, s.parts)
		}
		if l.findTx(e.Signature) != nil {
			return refuse(ev, "signature", "transaction %s is already recorded", e.Signature)
		}
		seen := map[string]bool{}
		for _, r := range e.Recipients {
			p := s.byOp[r.OperatorID]
			if p == nil {
				return refuse(ev, "recipients", "operator %q is not in epoch %d's plan", r.OperatorID, e.Epoch)
			}
			if seen[r.OperatorID] {
				return refuse(ev, "recipients", "operator %q appears twice in one transaction", r.OperatorID)
			}
			seen[r.OperatorID] = true
			if r.Wallet != p.Payout.Wallet {
				return refuse(ev, "recipients", "operator %q is planned to wallet %q, not %q", r.OperatorID, p.Payout.Wallet, r.Wallet)
			}
			if r.Amount != p.Reserved || r.Amount == 0 {
				return refuse(ev, "recipients", "operator %q has %s base units planned and not in a live transaction, not %s (paying twice is refused)", r.OperatorID, p.Reserved, r.Amount)
			}
		}
	case *domain.PayoutConfirmed:
		tx := l.findTx(e.Signature)
		s := l.settlement(e.Epoch)
		if tx == nil || s == nil || s.bySig[e.Signature] == nil {
			return refuse(ev, "signature", "transaction %s was not submitted for epoch %d", e.Signature, e.Epoch)
		}
		switch tx.State {
		case "submitted":
		case "expired":
			// A correction: the chain has the transaction finalized although
			// the log says it expired. Only while none of its amounts was sent
			// again, so the correction never counts an amount paid twice.
			for _, r := range tx.Recipients {
				if p := s.byOp[r.OperatorID]; p == nil || p.Reserved < r.Amount {
					return refuse(ev, "signature", "transaction %s is recorded expired and operator %q's amount was sent again since; it cannot be confirmed", e.Signature, r.OperatorID)
				}
			}
		default:
			return refuse(ev, "signature", "transaction %s is already %s", e.Signature, tx.State)
		}
	case *domain.PayoutExpired:
		tx := l.findTx(e.Signature)
		if tx == nil || l.settlement(e.Epoch) == nil || l.settlement(e.Epoch).bySig[e.Signature] == nil {
			return refuse(ev, "signature", "transaction %s was not submitted for epoch %d", e.Signature, e.Epoch)
		}
		// After "confirmed" it is a correction: the chain does not have the
		// transaction (or it does not carry the recorded transfers), so its
		// amounts are unpaid and planned again.
		if tx.State == "expired" {
			return refuse(ev, "signature", "transaction %s is already %s", e.Signature, tx.State)
		}
	}
	return nil
}

func (l *Ledger) settlement(epoch uint64) *Settlement {
	if ep := l.Epoch(epoch); ep != nil {
		return ep.Settlement
	}
	return nil
}

// FindTx returns the payout transaction of any epoch with signature sig,
// or nil.
func (l *Ledger) FindTx(sig string) *PayoutTx { return l.findTx(sig) }

func (l *Ledger) findTx(sig string) *PayoutTx {
	for _, ep := range l.Epochs {
		if ep.Settlement != nil {
			if tx := ep.Settlement.bySig[sig]; tx != nil {
				return tx
			}
		}
	}
	return nil
}

func (l *Ledger) applySettlement(pos uint64, ev domain.Event) {
	switch e := ev.(type) {
	case *domain.SettlementPlanned:
		ep := l.Epoch(e.Epoch)
		if ep == nil {
			return
		}
		s := ep.Settlement
		switch {
		case (s == nil || s.Replaceable(e.Root)) && e.Part <= 1:
			size := len(e.Payouts) * int(max(e.Parts, 1)) // parts are about equal
			s = &Settlement{Epoch: e.Epoch, PlannedAt: pos, Root: e.Root, Total: e.Total, LogHead: e.LogHead, Payouts: make([]domain.Payout, 0, size),
				byOp: make(map[string]*PayoutState, size), bySig: map[string]*PayoutTx{}}
			ep.Settlement = s
		case s != nil && e.Part > 1 && s.nextPart == e.Part && s.parts == e.Parts:
		default:
			return
		}
		states := make([]PayoutState, len(e.Payouts)) // one allocation per part
		for i, p := range e.Payouts {
			if s.byOp[p.OperatorID] != nil {
				continue
			}
			states[i] = PayoutState{Payout: p, Index: len(s.Payouts), Reserved: p.Amount}
			s.byOp[p.OperatorID] = &states[i]
			s.Payouts = append(s.Payouts, p)
			s.partTotal += p.Amount
		}
		s.nextPart, s.parts = 0, 0
		if e.Part < e.Parts {
			s.nextPart, s.parts = e.Part+1, e.Parts
		} else {
			s.partTotal = 0
		}
	case *domain.PayoutSubmitted:
		s := l.settlement(e.Epoch)
		if s == nil || s.bySig[e.Signature] != nil {
			return
		}
		tx := &PayoutTx{Signature: e.Signature, Recipients: e.Recipients, Blockhash: e.Blockhash, LastValidBlockHeight: e.LastValidBlockHeight, State: "submitted", SubmittedAt: pos, Transaction: e.Transaction}
		s.Txs = append(s.Txs, tx)
		s.bySig[e.Signature] = tx
		for _, r := range e.Recipients {
			if p := s.byOp[r.OperatorID]; p != nil {
				p.Reserved -= r.Amount
				p.InFlight += r.Amount
				p.Signatures = append(p.Signatures, e.Signature)
				l.operator(r.OperatorID).InFlight += r.Amount
			}
		}
	case *domain.PayoutConfirmed:
		s := l.settlement(e.Epoch)
		if s == nil || s.bySig[e.Signature] == nil {
			return
		}
		tx := s.bySig[e.Signature]
		switch tx.State {
		case "submitted":
			l.endFlight(s, tx)
		case "expired": // correction (checkSettlement: every amount is still reserved)
			for _, r := range tx.Recipients {
				if p := s.byOp[r.OperatorID]; p != nil {
					p.Reserved -= r.Amount
				}
			}
			tx.Corrections++
		default:
			return
		}
		tx.State, tx.Slot, tx.Transaction = "confirmed", e.Slot, ""
		for _, r := range tx.Recipients {
			if p := s.byOp[r.OperatorID]; p != nil {
				p.Confirmed += r.Amount
				l.operator(r.OperatorID).Paid += r.Amount
			}
		}
	case *domain.PayoutExpired:
		s := l.settlement(e.Epoch)
		if s == nil || s.bySig[e.Signature] == nil {
			return
		}
		tx := s.bySig[e.Signature]
		switch tx.State {
		case "submitted":
			l.endFlight(s, tx)
		case "confirmed": // correction: the chain does not have it
			for _, r := range tx.Recipients {
				if p := s.byOp[r.OperatorID]; p != nil {
					p.Confirmed -= r.Amount
					l.operator(r.OperatorID).Paid -= r.Amount
				}
			}
			tx.Corrections++
			tx.Slot = 0
		default:
			return
		}
		tx.State, tx.Transaction = "expired", ""
		for _, r := range tx.Recipients {
			if p := s.byOp[r.OperatorID]; p != nil {
				p.Reserved += r.Amount
			}
		}
	}
}

// endFlight takes a submitted transaction's amounts out of flight, for
// the confirmation or expiry that resolves it.
func (l *Ledger) endFlight(s *Settlement, tx *PayoutTx) {
	for _, r := range tx.Recipients {
		if p := s.byOp[r.OperatorID]; p != nil {
			p.InFlight -= r.Amount
			l.operator(r.OperatorID).InFlight -= r.Amount
		}
	}
}
