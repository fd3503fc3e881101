package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/gagliardetto/solana-go"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/settlement"
)

// checkAnchors is settlement.CheckAnchors over the log sf names, folded
// from scratch (no checkpoint), with its hashes found in the embedded
// store's frame chain or, with --store, a networked store's content chain.
func checkAnchors(ctx context.Context, e *env, sf *storeFlags, chain *settlement.Chain, treasury solana.PublicKey) ([]settlement.AnchorCheck, error) {
	locate := func(h [32]byte) (settlement.Located, error) { return locateFrames(sf, h) }
	if sf.store != "" {
		locate = func(h [32]byte) (settlement.Located, error) { return locateContent(ctx, sf, h) }
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
	checks, err := settlement.CheckAnchors(ctx, l, chain, treasury, locate)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	return checks, nil
}

// locateFrames finds hash in the embedded log's frame chain (what verify
// prints and an embedded plan records as log_head).
func locateFrames(sf *storeFlags, hash [32]byte) (settlement.Located, error) {
	rep, err := filestore.VerifyHead(sf.data, nil, nil, hash)
	if err != nil {
		return settlement.Located{}, err
	}
	l := settlement.Located{Events: rep.Events, HeadHash: rep.HeadHash}
	if rep.HeadCheck != nil {
		l.Position = rep.HeadCheck.Position
	}
	return l, nil
}

// locateContent finds hash in a networked store's content chain
// (eventstore.ChainHash over every event in log order: PostgreSQL's stored
// chain, which a PostgreSQL plan records as log_head), recomputed from the
// events read, not taken from the stored column: verify has just checked
// the two agree.
func locateContent(ctx context.Context, sf *storeFlags, hash [32]byte) (settlement.Located, error) {
	s, err := openStore(ctx, sf, true)
	if err != nil {
		return settlement.Located{}, err
	}
	defer s.Close()
	var l settlement.Located
	var h [32]byte
	err = s.ReadAll(ctx, 1, func(ev *eventstore.RecordedEvent) error {
		h = eventstore.ChainHash(h, ev)
		l.Events++
		if h == hash && l.Position == 0 {
			l.Position = ev.Position
		}
		return nil
	})
	l.HeadHash = hex.EncodeToString(h[:])
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
func printAnchors(e *env, checks []settlement.AnchorCheck) {
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
func anchorFailures(e *env, checks []settlement.AnchorCheck) error {
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
