package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gagliardetto/solana-go"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/settlement"
)

// anchorCheck is verify --anchors' finding for one planned epoch.
type anchorCheck struct {
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

// checkAnchors holds the log (any store) against every settled epoch's
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
// fails too. The log is read from scratch (no checkpoint).
func checkAnchors(ctx context.Context, e *env, sf *storeFlags, chain *settlement.Chain, treasury solana.PublicKey) ([]anchorCheck, error) {
	locate := locateFrames
	if sf.store != "" {
		locate = locateContent
	}
	s, err := openStore(ctx, sf, true)
	if err != nil {
		return nil, err
	}
	l, err := loadLedger(ctx, e, s, sf, false, true)
	s.Close()
	if err != nil {
		return nil, err
	}
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
	out := []anchorCheck{}
	for _, epoch := range order {
		c := anchorCheck{Epoch: epoch, Status: "unanchored"}
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
		found, err := locate(ctx, sf, *(*[32]byte)(b))
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		c.Position = found.position
		rep := found
		switch {
		case c.Position == 0:
			c.Status, c.Reason = "failed", joinReason(c.Reason, fmt.Sprintf("the log holds no event with the chain hash %s anchored for epoch %d (it ends at position %d, head hash %s): it was cut before the position it had when the epoch was planned, or rewritten up to it", a.head, epoch, rep.events, rep.headHash))
		case st != nil && c.Position >= st.PlannedAt:
			c.Status, c.Reason = "failed", joinReason(c.Reason, fmt.Sprintf("the log holds the anchored chain hash at position %d, not before the plan at position %d", c.Position, st.PlannedAt))
		case c.Status != "failed":
			c.Status = "ok"
		}
		out = append(out, c)
	}
	return out, nil
}

// located is where a log holds a chain hash.
type located struct {
	position uint64 // 0: nowhere
	events   uint64 // the log's events
	headHash string // the head's chain hash, hex
}

// locateFrames finds hash in the embedded log's frame chain (what verify
// prints and an embedded plan records as log_head).
func locateFrames(_ context.Context, sf *storeFlags, hash [32]byte) (located, error) {
	rep, err := filestore.VerifyHead(sf.data, nil, nil, hash)
	if err != nil {
		return located{}, err
	}
	l := located{events: rep.Events, headHash: rep.HeadHash}
	if rep.HeadCheck != nil {
		l.position = rep.HeadCheck.Position
	}
	return l, nil
}

// locateContent finds hash in a networked store's content chain
// (eventstore.ChainHash over every event in log order: PostgreSQL's stored
// chain, which a PostgreSQL plan records as log_head), recomputed from the
// events read, not taken from the stored column: verify has just checked
// the two agree.
func locateContent(ctx context.Context, sf *storeFlags, hash [32]byte) (located, error) {
	s, err := openStore(ctx, sf, true)
	if err != nil {
		return located{}, err
	}
	defer s.Close()
	var l located
	var h [32]byte
	err = s.ReadAll(ctx, 1, func(ev *eventstore.RecordedEvent) error {
		h = eventstore.ChainHash(h, ev)
		l.events++
		if h == hash && l.position == 0 {
			l.position = ev.Position
		}
		return nil
	})
	l.headHash = hex.EncodeToString(h[:])
	return l, err
}

// verifyStoreAnchors is verify --store URL --anchors: the backend's own
// check (verify, printing as it does without --anchors), then, when the
// log is intact, its anchors on chain; --json prints the backend's
// document with "anchors" added and "ok" false when an anchor fails.
func verifyStoreAnchors(ctx context.Context, e *env, sf *storeFlags, cf *chainFlags, verify func(context.Context, *env, *storeFlags) error) error {
	if err := cf.resolve(); err != nil {
		return err
	}
	treasury, err := cf.anchorTreasury()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	sub := *e
	sub.stdout = &buf
	if err := verify(ctx, &sub, sf); err != nil {
		_, _ = e.stdout.Write(buf.Bytes())
		return err // the log itself fails: its anchors are beside the point
	}
	chain := cf.dial()
	checks, err := checkAnchors(ctx, e, sf, chain, treasury)
	chain.Close()
	if err != nil {
		return fmt.Errorf("verify --anchors: %w", err)
	}
	failed := false
	for _, c := range checks {
		failed = failed || c.Status == "failed"
	}
	if sf.json {
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
			return fmt.Errorf("verify --anchors: the store's report: %w", err)
		}
		b, _ := json.Marshal(checks)
		doc["anchors"] = b
		if failed {
			doc["ok"] = json.RawMessage("false")
		}
		if err := writeJSON(e.stdout, doc); err != nil {
			return err
		}
	} else {
		_, _ = e.stdout.Write(buf.Bytes())
		printAnchors(e, checks)
	}
	return anchorFailures(e, checks)
}

// anchorTreasury is the token account whose history holds the anchors:
// --token-account, else the localnet's, else none (learned from a landed
// payout).
func (c *chainFlags) anchorTreasury() (solana.PublicKey, error) {
	src := c.source
	if src == "" {
		src = c.localnetSource
	}
	if src == "" {
		return solana.PublicKey{}, nil
	}
	k, err := solana.PublicKeyFromBase58(src)
	if err != nil {
		return k, usagef("verify: --token-account %q: %v", src, err)
	}
	return k, nil
}

// printAnchors prints the epochs that hold and those unanchored.
func printAnchors(e *env, checks []anchorCheck) {
	for _, c := range checks {
		switch c.Status {
		case "ok":
			fmt.Fprintf(e.stdout, "ok: epoch %d's anchor (transaction %s) holds: the log has log head %s at position %d, before the plan at %d\n", c.Epoch, c.Signature, c.LogHead, c.Position, c.PlannedAt)
		case "unanchored":
			fmt.Fprintf(e.stdout, "note: epoch %d is unanchored: %s\n", c.Epoch, c.Reason)
		}
	}
}

// anchorFailures names every failed anchor on stderr and exits 1 if any.
func anchorFailures(e *env, checks []anchorCheck) error {
	failed := false
	for _, c := range checks {
		if c.Status == "failed" {
			failed = true
			fmt.Fprintf(e.stderr, "verify FAILED: epoch %d's anchor on chain: %s\n", c.Epoch, c.Reason)
		}
	}
	if failed {
		return &silentError{code: 1}
	}
	return nil
}

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
