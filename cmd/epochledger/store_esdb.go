package main

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/esdb"
)

// openESDB connects to an EventStoreDB / KurrentDB server or cluster.
func openESDB(ctx context.Context, url string) (eventstore.Store, error) {
	s, err := esdb.Open(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", esdb.Redact(url), err)
	}
	return s, nil
}

// writeESDBCheckpoint appends a chain checkpoint up to the head and
// returns its hash.
func writeESDBCheckpoint(ctx context.Context, dst eventstore.Store) (string, error) {
	cp, err := dst.(*esdb.Store).WriteChainCheckpoint(ctx)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(cp.ChainHash[:]), nil
}

// verifyESDB recomputes the content hash chain over $all and checks it
// against every chain checkpoint; --checkpoint appends a new one first
// (what the settlement writer does before anchoring it in a memo).
func verifyESDB(ctx context.Context, e *env, sf *storeFlags) error {
	st, err := openESDB(ctx, sf.store)
	if err != nil {
		return err
	}
	defer st.Close()
	s := st.(*esdb.Store)
	bar := newProgress(e, "verify", sf.json)
	rep, err := s.VerifyChain(ctx, func(done, total uint64) { bar.update(int64(done), int64(total)) })
	bar.done()
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	var ledger *ledgerCheck
	if rep.OK() {
		if ledger, err = checkLedger(ctx, e, sf, s); err != nil {
			return err
		}
	}
	if sf.json {
		type mismatch struct {
			AfterPosition uint64 `json:"after_position"`
			FirstPosition uint64 `json:"first_position"`
			UptoPosition  uint64 `json:"upto_position"`
			Reason        string `json:"reason"`
		}
		out := struct {
			OK          bool         `json:"ok"`
			Events      uint64       `json:"events"`
			Head        uint64       `json:"head"`
			HeadHash    string       `json:"head_hash"`
			Checkpoints int          `json:"checkpoints"`
			Unanchored  uint64       `json:"unanchored"`
			Mismatches  []mismatch   `json:"mismatches,omitempty"`
			Ledger      *ledgerCheck `json:"ledger,omitempty"`
		}{OK: rep.OK() && ledger.OK, Ledger: ledger, Events: rep.Events, Head: rep.Head, HeadHash: hex.EncodeToString(rep.ChainHash[:]), Checkpoints: rep.Checkpoints, Unanchored: rep.Unanchored}
		for _, m := range rep.Mismatches {
			out.Mismatches = append(out.Mismatches, mismatch{m.AfterPosition, m.FirstPosition, m.UptoPosition, m.Reason})
		}
		if err := writeJSON(e.stdout, out); err != nil {
			return err
		}
	} else if rep.OK() {
		fmt.Fprintf(e.stdout, "ok: %d events, %d chain checkpoints verified, %d events after the last checkpoint; head hash %x\n", rep.Events, rep.Verified, rep.Unanchored, rep.ChainHash)
	}
	if !rep.OK() {
		m := rep.Mismatches[0]
		fmt.Fprintf(e.stderr, "verify FAILED: the log was altered between positions %d and %d (first event after the last good checkpoint: %d): %s\n", m.AfterPosition, m.UptoPosition, m.FirstPosition, m.Reason)
		return &silentError{code: 1}
	}
	return printLedgerCheck(e, sf, ledger)
}
