package settlement

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/gagliardetto/solana-go"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/projections"
)

// AnchorCheck is verify --anchors' finding for one planned epoch.
type AnchorCheck struct {
	Epoch     uint64 `json:"epoch"`
	PlannedAt uint64 `json:"planned_at"`
	LogHead   string `json:"log_head,omitempty"`
	// Signature is the landed 1/n transaction whose memo carries the anchor.
	Signature string `json:"signature,omitempty"`
	MemoHead  string `json:"memo_head,omitempty"`
	// Position is where the log holds log_head now (0: nowhere).
	Position uint64 `json:"position,omitempty"`
	// Status: "ok", "unanchored" (no log_head, or no landed transaction
	// carries one: nothing to check) or "failed".
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// chainAnchor is an anchored 1/n memo found on chain.
type chainAnchor struct {
	sig, root, head string
	finalized       bool
	status          string
}

// Located is where a log holds a chain hash.
type Located struct {
	Position uint64 // 0: nowhere
	Events   uint64 // the log's events
	HeadHash string // the head's chain hash, hex
}

// CheckAnchors holds the log (any store), folded into l, against every settled epoch's
// anchor on chain: the memo of the epoch's landed 1/n transaction must
// carry the plan's log_head, and the log must still hold that chain hash
// before the plan's position. Both chains commit to every event before
// (the embedded store's frame chain to positions too, the networked
// stores' content chain to the order), so holding the hash means every
// event up to it is as it was at plan time: a log rewritten (chain hashes
// recomputed) fails. The anchors are found
// from the log's payout transactions and, where the treasury's token
// account is known (treasury non-zero), from its history on chain, so a
// log cut before an anchored position, plan and payouts gone with it,
// fails too. locate finds a chain hash in the log (the embedded store's
// frame chain or a networked store's content chain); l should be folded from
// scratch (no checkpoint).
func CheckAnchors(ctx context.Context, l *projections.Ledger, chain *Chain, treasury solana.PublicKey, locate func(hash [32]byte) (Located, error)) ([]AnchorCheck, error) {
	anchors := map[uint64]*chainAnchor{}
	seen := map[string]bool{}
	// read reads sig once; a payout of the log's also names the treasury's
	// token account when none was given (the one it paid from).
	read := func(sig solana.Signature, payout bool) error {
		if seen[sig.String()] {
			return nil
		}
		seen[sig.String()] = true
		ct, err := chain.ReadTx(ctx, sig)
		if err != nil {
			return fmt.Errorf("read transaction %s: %w", sig, err)
		}
		if _, src, ok := ct.Payer(); payout && ok && treasury.IsZero() {
			treasury = src
		}
		for _, m := range ct.Memos {
			if pm, ok := domain.ParseMemo(m); ok && pm.LogHead != "" && anchors[pm.Epoch] == nil {
				anchors[pm.Epoch] = &chainAnchor{sig: sig.String(), root: pm.Root, head: pm.LogHead, finalized: ct.Finalized(), status: ct.Status}
			}
		}
		return nil
	}
	for _, ep := range l.Epochs {
		if st := ep.Settlement; st != nil {
			for _, tx := range st.Txs {
				if tx.State != "confirmed" {
					continue
				}
				sig, err := solana.SignatureFromBase58(tx.Signature)
				if err != nil {
					return nil, fmt.Errorf("epoch %d: payout signature %q: %v", st.Epoch, tx.Signature, err)
				}
				if err := read(sig, true); err != nil {
					return nil, fmt.Errorf("epoch %d: %w", st.Epoch, err)
				}
			}
		}
	}
	if !treasury.IsZero() {
		sigs, _, err := chain.SignaturesFor(ctx, treasury, 100)
		if err != nil {
			return nil, err
		}
		for _, ts := range sigs {
			if ts.Err == nil {
				if err := read(ts.Signature, false); err != nil {
					return nil, err
				}
			}
		}
	}
	epochs := map[uint64]bool{}
	for ep := range anchors {
		epochs[ep] = true
	}
	for _, ep := range l.Epochs {
		if ep.Settlement != nil {
			epochs[ep.Settlement.Epoch] = true
		}
	}
	order := make([]uint64, 0, len(epochs))
	for ep := range epochs {
		order = append(order, ep)
	}
	slices.Sort(order)
	out := []AnchorCheck{}
	for _, epoch := range order {
		c := AnchorCheck{Epoch: epoch, Status: "unanchored"}
		a := anchors[epoch]
		var st *projections.Settlement
		if ep := l.Epoch(epoch); ep != nil {
			st = ep.Settlement
		}
		if st != nil {
			c.PlannedAt, c.LogHead = st.PlannedAt, st.LogHead
		}
		if a != nil {
			c.Signature, c.MemoHead = a.sig, a.head
		}
		switch {
		case a == nil && st.LogHead == "":
			c.Reason = "the plan records no log_head (planned before anchoring)"
		case a == nil:
			c.Reason = "no landed transaction of the epoch carries an anchor (not settled yet, or sent as legacy)"
		case !a.finalized:
			c.Status, c.Reason = "failed", fmt.Sprintf("transaction %s carrying the anchor is not finalized on chain (status %q)", a.sig, a.status)
		case st == nil:
			c.Status, c.Reason = "failed", fmt.Sprintf("the chain anchors epoch %d (transaction %s, log head %s) but the log holds no plan of it: it was cut before the plan, or rewritten", epoch, a.sig, a.head)
		case a.root != st.Root:
			c.Status, c.Reason = "failed", fmt.Sprintf("the memo of transaction %s anchors root %s, the log's plan has root %s", a.sig, a.root, st.Root)
		case a.head != st.LogHead:
			c.Status, c.Reason = "failed", fmt.Sprintf("the memo of transaction %s on chain anchors log head %s, the log's plan records log_head %q", a.sig, a.head, st.LogHead)
		}
		if a == nil || !a.finalized {
			out = append(out, c)
			continue
		}
		// The anchor is the chain's: look for its hash in the log.
		b, err := hex.DecodeString(a.head)
		if err != nil || len(b) != 32 {
			c.Status, c.Reason = "failed", fmt.Sprintf("the memo of transaction %s carries %q, not a chain hash", a.sig, a.head)
			out = append(out, c)
			continue
		}
		found, err := locate(*(*[32]byte)(b))
		if err != nil {
			return nil, err
		}
		c.Position = found.Position
		rep := found
		switch {
		case c.Position == 0:
			c.Status, c.Reason = "failed", joinReason(c.Reason, fmt.Sprintf("the log holds no event with the chain hash %s anchored for epoch %d (it ends at position %d, head hash %s): it was cut before the position it had when the epoch was planned, or rewritten up to it", a.head, epoch, rep.Events, rep.HeadHash))
		case st != nil && c.Position >= st.PlannedAt:
			c.Status, c.Reason = "failed", joinReason(c.Reason, fmt.Sprintf("the log holds the anchored chain hash at position %d, not before the plan at position %d", c.Position, st.PlannedAt))
		case c.Status != "failed":
			c.Status = "ok"
		}
		out = append(out, c)
	}
	return out, nil
}

// joinReason joins two reasons of one failed anchor.
func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
