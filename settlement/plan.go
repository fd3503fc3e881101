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
	return derive(l, n)
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
	ep.Settlement = nil
	defer func() { ep.Settlement = s }()
	p, err := derive(l, n)
	if err == nil && p.RootHex() == s.Root {
		return nil, fmt.Errorf("%w: a new plan of epoch %d would be the recorded one (root %s): nothing changed since", ErrAlreadyPlanned, n, s.Root)
	}
	return p, err
}

func derive(l *projections.Ledger, n uint64) (*Plan, error) {
	var err error
	payouts, carried := l.PlanPayouts(n)
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

// Proof is an operator's Merkle inclusion proof of one payout, what
// `epochledger proof --json` prints and `proof verify` reads.
type Proof struct {
	Epoch      uint64           `json:"epoch"`
	OperatorID string           `json:"operator_id"`
	Wallet     string           `json:"wallet"`
	Amount     domain.BaseUnits `json:"amount"`
	LeafIndex  int              `json:"leaf_index"`
	LeafCount  int              `json:"leaf_count"`
	Leaf       string           `json:"leaf"`
	Proof      []string         `json:"proof"`
	Root       string           `json:"root"`
	// Memo is the memo of the epoch's payout transactions, which carries
	// the root on chain.
	Memo string `json:"memo"`
	// Signatures are the operator's confirmed payout transactions.
	Signatures []string `json:"signatures,omitempty"`
}

// ErrNotInPlan means the operator has no payout in the epoch's plan.
var ErrNotInPlan = errors.New("settlement: operator not in the plan")

// BuildProof returns the inclusion proof of an operator's payout in a plan.
func BuildProof(s *projections.Settlement, operatorID string) (*Proof, error) {
	st := s.Operator(operatorID)
	if st == nil {
		return nil, fmt.Errorf("%w: epoch %d's plan has no payout for operator %q (%d payouts; an operator without a wallet is carried forward)", ErrNotInPlan, s.Epoch, operatorID, len(s.Payouts))
	}
	leaves, err := domain.PayoutLeaves(s.Epoch, s.Payouts)
	if err != nil {
		return nil, fmt.Errorf("settlement: epoch %d: %w", s.Epoch, err)
	}
	hashes := domain.MerkleProof(leaves, st.Index)
	p := &Proof{
		Epoch: s.Epoch, OperatorID: operatorID, Wallet: st.Payout.Wallet, Amount: st.Payout.Amount,
		LeafIndex: st.Index, LeafCount: len(leaves), Leaf: domain.HashHex(leaves[st.Index]),
		Proof: make([]string, len(hashes)), Root: s.Root, Memo: domain.Memo(s.Epoch, s.Root),
	}
	for i, h := range hashes {
		p.Proof[i] = domain.HashHex(h)
	}
	for _, sig := range st.Signatures {
		if tx := s.Tx(sig); tx != nil && tx.State == "confirmed" {
			p.Signatures = append(p.Signatures, sig)
		}
	}
	return p, nil
}

// ErrBadProof is returned by Verify.
var ErrBadProof = errors.New("settlement: proof does not verify")

// Verify checks the proof against root (lowercase hex, from the memo on
// chain): the leaf is recomputed from epoch, operator, wallet and amount,
// so a proof cannot vouch for an amount other than the one hashed.
func (p *Proof) Verify(root string) error {
	r, err := domain.ParseHash(root)
	if err != nil {
		return fmt.Errorf("%w: root: %v", ErrBadProof, err)
	}
	w, err := domain.ParseWallet(p.Wallet)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadProof, err)
	}
	leaf := domain.PayoutLeaf(p.Epoch, p.OperatorID, w, p.Amount)
	if p.Leaf != "" && p.Leaf != domain.HashHex(leaf) {
		return fmt.Errorf("%w: leaf %s is not the hash of (epoch %d, %q, %s, %s) = %s", ErrBadProof, p.Leaf, p.Epoch, p.OperatorID, p.Wallet, p.Amount, domain.HashHex(leaf))
	}
	hashes := make([][32]byte, len(p.Proof))
	for i, h := range p.Proof {
		if hashes[i], err = domain.ParseHash(h); err != nil {
			return fmt.Errorf("%w: proof[%d]: %v", ErrBadProof, i, err)
		}
	}
	if !domain.VerifyMerkleProof(leaf, p.LeafIndex, p.LeafCount, hashes, r) {
		return fmt.Errorf("%w: leaf %d of %d with %d proof hashes does not lead to root %s", ErrBadProof, p.LeafIndex, p.LeafCount, len(hashes), root)
	}
	return nil
}
