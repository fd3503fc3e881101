package projections

import (
	"errors"
	"fmt"

	"github.com/epochledger/epochledger/domain"
)

// Payout proofs are a read of the ledger: an operator's line of a recorded
// plan, its Merkle path to the plan's root and the confirmed transactions
// that paid it. They live here, beside the settlement state they read,
// so that `proof`, the read API and settlement build them the same way.

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
func BuildProof(s *Settlement, operatorID string) (*Proof, error) {
	st := s.Operator(operatorID)
	if st == nil {
		return nil, fmt.Errorf("%w: epoch %d's plan has no payout for operator %q (%d payouts; an operator without a wallet is carried forward)", ErrNotInPlan, s.Epoch, operatorID, len(s.Payouts))
	}
	leaves, err := domain.PayoutLeaves(s.Epoch, s.Payouts)
	if err != nil {
		return nil, fmt.Errorf("settlement: epoch %d's plan: %w", s.Epoch, err)
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
