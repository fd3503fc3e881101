package projections

import (
	"sort"

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
	byOp      map[string]*PayoutState
	Txs       []*PayoutTx // in submission order
	bySig     map[string]*PayoutTx
}

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

// PlanPayouts derives the payout list of a settlement of epoch n: every
// operator with a wallet and a payable amount, sorted by operator_id.
// Operators without a wallet keep accruing (carried forward).
func (l *Ledger) PlanPayouts() (payouts []domain.Payout, carried []string) {
	ids := make([]string, 0, len(l.Operators))
	for id := range l.Operators {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		o := l.Operators[id]
		amt := l.Payable(o)
		if amt == 0 {
			continue
		}
		if o.Wallet == "" {
			carried = append(carried, id)
			continue
		}
		payouts = append(payouts, domain.Payout{OperatorID: id, Wallet: o.Wallet, Amount: amt})
	}
	return payouts, carried
}

func (l *Ledger) checkSettlement(ev domain.Event) error {
	switch e := ev.(type) {
	case *domain.SettlementPlanned:
		ep := l.Epoch(e.Epoch)
		if ep == nil || !ep.Closed {
			return refuse(ev, "epoch", "epoch %d is not closed; only closed epochs are settled", e.Epoch)
		}
		if ep.Settlement != nil {
			return refuse(ev, "epoch", "epoch %d already has a settlement plan (position %d); expired payouts are re-sent under the same plan", e.Epoch, ep.Settlement.PlannedAt)
		}
		var total domain.BaseUnits
		for i, p := range e.Payouts {
			if i > 0 && e.Payouts[i-1].OperatorID >= p.OperatorID {
				return refuse(ev, "payouts", "must be sorted by operator_id with each operator once (%q after %q)", p.OperatorID, e.Payouts[i-1].OperatorID)
			}
			o := l.Operators[p.OperatorID]
			if o == nil {
				return refuse(ev, "payouts", "operator %q does not exist", p.OperatorID)
			}
			if o.Wallet != p.Wallet {
				return refuse(ev, "payouts", "operator %q's wallet is %q, not %q", p.OperatorID, o.Wallet, p.Wallet)
			}
			if pay := l.Payable(o); p.Amount != pay || pay == 0 {
				return refuse(ev, "payouts", "operator %q is owed %s base units not planned elsewhere, not %s", p.OperatorID, pay, p.Amount)
			}
			total += p.Amount
		}
		if total != e.Total {
			return refuse(ev, "total", "must be the sum of the payouts, %s", total)
		}
		root, err := domain.PlanRoot(e.Epoch, e.Payouts)
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
		if tx == nil || l.settlement(e.Epoch) == nil || l.settlement(e.Epoch).bySig[e.Signature] == nil {
			return refuse(ev, "signature", "transaction %s was not submitted for epoch %d", e.Signature, e.Epoch)
		}
		if tx.State != "submitted" {
			return refuse(ev, "signature", "transaction %s is already %s", e.Signature, tx.State)
		}
	case *domain.PayoutExpired:
		tx := l.findTx(e.Signature)
		if tx == nil || l.settlement(e.Epoch) == nil || l.settlement(e.Epoch).bySig[e.Signature] == nil {
			return refuse(ev, "signature", "transaction %s was not submitted for epoch %d", e.Signature, e.Epoch)
		}
		if tx.State != "submitted" {
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
		if ep == nil || ep.Settlement != nil {
			return
		}
		s := &Settlement{Epoch: e.Epoch, PlannedAt: pos, Root: e.Root, Total: e.Total, Payouts: e.Payouts, byOp: map[string]*PayoutState{}, bySig: map[string]*PayoutTx{}}
		for i, p := range e.Payouts {
			s.byOp[p.OperatorID] = &PayoutState{Payout: p, Index: i, Reserved: p.Amount}
		}
		ep.Settlement = s
	case *domain.PayoutSubmitted:
		s := l.settlement(e.Epoch)
		if s == nil || s.bySig[e.Signature] != nil {
			return
		}
		tx := &PayoutTx{Signature: e.Signature, Recipients: e.Recipients, Blockhash: e.Blockhash, LastValidBlockHeight: e.LastValidBlockHeight, State: "submitted", SubmittedAt: pos}
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
		if s == nil || s.bySig[e.Signature] == nil || s.bySig[e.Signature].State != "submitted" {
			return
		}
		tx := s.bySig[e.Signature]
		tx.State, tx.Slot = "confirmed", e.Slot
		for _, r := range tx.Recipients {
			if p := s.byOp[r.OperatorID]; p != nil {
				p.InFlight -= r.Amount
				p.Confirmed += r.Amount
				o := l.operator(r.OperatorID)
				o.InFlight -= r.Amount
				o.Paid += r.Amount
			}
		}
	case *domain.PayoutExpired:
		s := l.settlement(e.Epoch)
		if s == nil || s.bySig[e.Signature] == nil || s.bySig[e.Signature].State != "submitted" {
			return
		}
		tx := s.bySig[e.Signature]
		tx.State = "expired"
		for _, r := range tx.Recipients {
			if p := s.byOp[r.OperatorID]; p != nil {
				p.InFlight -= r.Amount
				p.Reserved += r.Amount
				l.operator(r.OperatorID).InFlight -= r.Amount
			}
		}
	}
}
