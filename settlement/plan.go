package settlement

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/projections"
)

// Refusals of a plan or submit, matched with errors.Is.
var (
	ErrUnknownEpoch   = errors.New("settlement: no such epoch")
	ErrEpochOpen      = errors.New("settlement: epoch not closed")
	ErrAlreadyPlanned = errors.New("settlement: epoch already planned")
	ErrNotPlanned     = errors.New("settlement: epoch not planned")
)

// Plan is an epoch's payout list as derived from the ledger.
type Plan struct {
	Epoch   uint64
	Root    [32]byte
	Total   domain.BaseUnits
	Payouts []domain.Payout // sorted by operator_id
	// Carried are the operators owed through this epoch who have no
	// wallet: their amount waits for the first plan after OperatorWalletSet.
	Carried []string
	// Leaves are the Merkle leaves of Payouts.
	Leaves [][32]byte
	// LogHead is the log's chain hash (lowercase hex) when the plan is
	// made, recorded as the plan's log_head and anchored on chain by the
	// memo of the batch's first v0 transaction; "" leaves it out (a
	// backend without a chain hash).
	LogHead string
}

// RootHex returns the root as lowercase hex.
func (p *Plan) RootHex() string { return domain.HashHex(p.Root) }

// ClosedEpoch returns epoch n if it exists and is closed.
func ClosedEpoch(l *projections.Ledger, n uint64) (*projections.Epoch, error) {
	ep := l.Epoch(n)
	switch {
	case n == 0:
		return nil, fmt.Errorf("%w: epochs count from 1", ErrUnknownEpoch)
	case ep == nil:
		return nil, fmt.Errorf("%w: epoch %d does not exist; the log has %d closed epochs and epoch %d is open", ErrUnknownEpoch, n, l.ClosedEpochs(), l.Open().N)
	case !ep.Closed:
		return nil, fmt.Errorf("%w: epoch %d is still open; it is settled after its EpochClosed", ErrEpochOpen, n)
	}
	return ep, nil
}

// Derive computes the plan of epoch n from the ledger: every operator
// with a wallet and an amount allocated through epoch n that is neither
// paid, in flight nor planned elsewhere (projections.PlanPayouts), and the
// Merkle root over their leaves (domain.PayoutLeaf). The ledger is not
// changed; Record stores the plan.
func Derive(l *projections.Ledger, n uint64) (*Plan, error) {
	ep, err := ClosedEpoch(l, n)
	if err != nil {
		return nil, err
	}
	if s := ep.Settlement; s != nil {
		return nil, fmt.Errorf("%w: epoch %d was planned at position %d (root %s)", ErrAlreadyPlanned, n, s.PlannedAt, s.Root)
	}
	payouts, carried := l.PlanPayouts(n)
	return derive(n, payouts, carried)
}

// ErrCannotReplan refuses a re-plan of an epoch part of whose plan was sent.
var ErrCannotReplan = errors.New("settlement: epoch cannot be re-planned")

// Replan derives a new plan of epoch n to replace its recorded one, as
// Derive would if the recorded plan did not exist: from the ledger as it
// is now (an operator's new wallet, say). Only while nothing of the
// recorded plan was sent: once a payout transaction is recorded, the plan
// is fixed and expired payouts are re-sent under it. Record stores it;
// the ledger then folds it in place of the old one.
func Replan(l *projections.Ledger, n uint64) (*Plan, error) {
	ep, err := ClosedEpoch(l, n)
	if err != nil {
		return nil, err
	}
	s := ep.Settlement
	switch {
	case s == nil:
		return nil, fmt.Errorf("%w: epoch %d has no plan to replace; run settle plan --epoch %d", ErrNotPlanned, n, n)
	case len(s.Txs) > 0:
		return nil, fmt.Errorf("%w: %d payout transactions of epoch %d's plan (position %d) are recorded; a plan is fixed once sending starts", ErrCannotReplan, len(s.Txs), n, s.PlannedAt)
	case s.Incomplete():
		return nil, fmt.Errorf("%w: epoch %d's plan is incomplete", ErrCannotReplan, n)
	}
	payouts, carried := l.ReplanPayouts(n)
	p, err := derive(n, payouts, carried)
	if err == nil && p.RootHex() == s.Root {
		return nil, fmt.Errorf("%w: a new plan of epoch %d would be the recorded one (root %s): nothing changed since", ErrAlreadyPlanned, n, s.Root)
	}
	return p, err
}

// derive makes the plan of epoch n paying payouts.
func derive(n uint64, payouts []domain.Payout, carried []string) (*Plan, error) {
	var err error
	p := &Plan{Epoch: n, Payouts: payouts, Carried: carried}
	for i := range payouts {
		var ok bool
		if p.Total, ok = domain.AddBaseUnits(p.Total, payouts[i].Amount); !ok {
			return nil, fmt.Errorf("settlement: epoch %d: the plan's total exceeds the range of base units", n)
		}
	}
	if p.Leaves, err = domain.PayoutLeaves(n, payouts); err != nil {
		return nil, fmt.Errorf("settlement: epoch %d: %w", n, err)
	}
	p.Root = domain.MerkleRoot(p.Leaves)
	return p, nil
}

// partBudget bounds the data of one SettlementPlanned event, below
// domain.MaxDataLen with room for the fields besides payouts.
const partBudget = domain.MaxDataLen - 4096

// Events returns the plan as SettlementPlanned events: one when it fits
// an event, else parts of at most partBudget bytes of payouts each.
func (p *Plan) Events() []*domain.SettlementPlanned {
	root := p.RootHex()
	var parts [][]domain.Payout
	start, size := 0, 0
	for i := range p.Payouts {
		n := payoutJSONLen(&p.Payouts[i]) + 1
		if size+n > partBudget && i > start {
			parts = append(parts, p.Payouts[start:i])
			start, size = i, 0
		}
		size += n
	}
	parts = append(parts, p.Payouts[start:])
	if len(parts) == 1 {
		return []*domain.SettlementPlanned{{Epoch: p.Epoch, Root: root, Total: p.Total, Payouts: p.Payouts, LogHead: p.LogHead}}
	}
	out := make([]*domain.SettlementPlanned, len(parts))
	for i, part := range parts {
		out[i] = &domain.SettlementPlanned{Epoch: p.Epoch, Root: root, Total: p.Total, Payouts: part, Part: uint64(i + 1), Parts: uint64(len(parts)), LogHead: p.LogHead}
	}
	return out
}

// payoutJSONLen is an upper bound of the canonical JSON of a payout (ids
// are printable without whitespace; the six bytes of \u escapes bound
// every other escape).
func payoutJSONLen(p *domain.Payout) int {
	n := len(`{"operator_id":"","wallet":"","amount":""}`) + len(p.Wallet) + len(strconv.FormatUint(uint64(p.Amount), 10))
	for i := 0; i < len(p.OperatorID); i++ {
		switch c := p.OperatorID[i]; {
		case c == '"' || c == '\\':
			n += 2
		case c == '<' || c == '>' || c == '&' || c >= 0x80:
			n += 6 // at worst escaped
		default:
			n++
		}
	}
	if len(p.Epochs) > 0 {
		n += len(`,"epochs":[]`)
		for _, e := range p.Epochs {
			n += len(strconv.FormatUint(e, 10)) + 1
		}
	}
	return n
}

// Record appends the plan's events in one atomic append after the ledger
// checked each, and returns their first position.
func Record(ctx context.Context, j *Journal, p *Plan) (uint64, error) {
	evs := p.Events()
	batch := make([]domain.Event, len(evs))
	for i, e := range evs {
		batch[i] = e
	}
	res, err := j.Append(ctx, Stream(p.Epoch), batch)
	if err != nil {
		return 0, fmt.Errorf("settlement: record the plan of epoch %d: %w", p.Epoch, err)
	}
	return res.FirstPosition, nil
}
