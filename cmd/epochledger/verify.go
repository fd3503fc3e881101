package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/gagliardetto/solana-go"

	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/settlement"
)

type verifyOutput struct {
	OK       bool                    `json:"ok"`
	Report   *filestore.VerifyReport `json:"report"`
	Problem  *verifyProblem          `json:"problem,omitempty"`
	Segments int                     `json:"segments"`
	// TornTail is what a crash left at the end of the log (ok stays true):
	// the same as report.torn_tail.
	TornTail *filestore.TornTail `json:"torn_tail,omitempty"`
	// Ledger is the fold of an intact log and its invariant check.
	Ledger *ledgerCheck `json:"ledger,omitempty"`
}

// anchorsOutput is verify --anchors --json: the log's check and each
// epoch's anchor.
type anchorsOutput struct {
	verifyOutput
	Anchors []settlement.AnchorCheck `json:"anchors"`
}

type verifyProblem struct {
	Position uint64 `json:"position"`
	Segment  string `json:"segment"`
	Offset   int64  `json:"offset"`
	Reason   string `json:"reason"`
}

func runVerify(ctx context.Context, e *env, args []string) error {
	var sf storeFlags
	var head string
	fs := newFlagSet(e, "verify", "[flags]", `
Read the whole log and check every segment header, every frame's chained
CRC-32C, positions, stream revisions, id uniqueness and the SHA-256 hash
chain through every event. Exit status 0 when intact; 1 naming the first
bad position, segment and byte offset otherwise (a single altered byte
anywhere is found). Prints the head's chain hash: record it, and any later
rewrite of the log up to that point is detectable.

A log that was not closed cleanly (its writer crashed) may end in a torn
or uncommitted tail: the part of a write that was in flight, at the very
end of the newest segment, with nothing committed after it. That is
reported (where it starts, how many bytes; the next writer open cuts it)
and verify exits 0: nothing committed is missing. Damage anywhere else, or
any damage in a log that was closed cleanly, exits 1.

--head HASH checks the log against a head hash kept elsewhere (one this
command printed, or a settlement memo's): the log must hold the event with
that chain hash, at its head or at an earlier position (the log may have
grown since). A log cut before that event, or rewritten up to it, exits 1.

--anchors --rpc URL checks the log against every settled epoch's anchor on
chain: the memo of an epoch's first v0 payout transaction (1/n) carries the
log's head hash when the plan was made (the plan's log_head). For each
epoch it must equal the plan's log_head, and the log must still hold that
hash before the plan's position (the frame chain commits to positions). The
anchors are read from the log's landed payouts and from the treasury token
account's history on chain (--token-account, the localnet's, or learned
from a landed payout), so a log cut before an anchored position, or
rewritten with recomputed chain hashes, fails against the chain. Exit 1
naming the epoch and what differs. Epochs planned before anchoring, or
settled as legacy, are listed as unanchored. It works on every store: the
embedded log's frame chain, or with --store the content chain PostgreSQL
stores (recomputed from the rows read); EventStoreDB keeps no chain hash
per event, so its plans record no log_head and list as unanchored.`)
	sf.register(fs, e)
	fs.StringVar(&head, "head", "", "chain hash (64 hex digits) the log must hold, at its head or earlier")
	var cf chainFlags
	anchors := fs.Bool("anchors", false, "also check the log against every settled epoch's anchor on chain (needs --rpc or --localnet)")
	fs.StringVar(&cf.rpc, "rpc", e.getenv("EPOCHLEDGER_RPC"), "Solana JSON-RPC URL, for --anchors (env EPOCHLEDGER_RPC)")
	fs.StringVar(&cf.localnet, "localnet", e.getenv("EPOCHLEDGER_LOCALNET"), "take --rpc and the treasury from a localnet state DIR, for --anchors (env EPOCHLEDGER_LOCALNET)")
	fs.StringVar(&cf.source, "token-account", "", "treasury token account whose history holds the anchors, for --anchors (default: the localnet's, or learned from a landed payout)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("verify: unexpected argument %q", pos[0])
	}
	var want *[32]byte
	if head != "" {
		b, err := hex.DecodeString(strings.TrimSpace(head))
		if err != nil || len(b) != 32 {
			return usagef("verify: --head %q is not a chain hash (64 hex digits)", head)
		}
		want = (*[32]byte)(b)
	}
	if want != nil && sf.store != "" {
		return usagef("verify: --head checks the embedded log (--data); with --store, compare the head_hash printed")
	}
	if sf.store != "" {
		check := verifyESDB
		if isPostgresURL(sf.store) {
			check = verifyPostgres
		}
		if *anchors {
			return verifyStoreAnchors(ctx, e, &sf, &cf, check)
		}
		return check(ctx, e, &sf)
	}
	if !dirExists(sf.data) {
		return fmt.Errorf("verify: no event log at %s; pass --data", sf.data)
	}
	var treasury solana.PublicKey
	if *anchors {
		if err := cf.resolve(); err != nil {
			return err
		}
		if treasury, err = cf.anchorTreasury(); err != nil {
			return err
		}
	}
	bar := newProgress(e, "verify", sf.json)
	progress := func(done, total int64) { bar.update(done, total) }
	var rep *filestore.VerifyReport
	if want != nil {
		rep, err = filestore.VerifyHead(sf.data, nil, progress, *want)
	} else {
		rep, err = filestore.Verify(sf.data, nil, progress)
	}
	bar.done()
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	intact := rep.OK() || rep.CrashTailOnly()
	headMissing := rep.HeadCheck != nil && rep.HeadCheck.Position == 0
	out := verifyOutput{OK: intact && !headMissing, Report: rep, Segments: rep.Segments}
	if p := rep.Problem; p != nil && !rep.CrashTailOnly() {
		out.Problem = &verifyProblem{Position: p.Position, Segment: p.Segment, Offset: p.Offset, Reason: p.Reason}
	}
	if rep.CrashTailOnly() {
		out.TornTail = rep.TornTail
	}
	var checks []settlement.AnchorCheck
	anchorsFailed := false
	if *anchors && intact {
		chain := cf.dial()
		checks, err = checkAnchors(ctx, e, &sf, chain, treasury)
		chain.Close()
		if err != nil {
			return fmt.Errorf("verify --anchors: %w", err)
		}
		for _, c := range checks {
			anchorsFailed = anchorsFailed || c.Status == "failed"
		}
		out.OK = out.OK && !anchorsFailed
	}
	if intact {
		s, err := openStore(ctx, &sf, true)
		if err != nil {
			return err
		}
		out.Ledger, err = checkLedger(ctx, e, &sf, s)
		s.Close()
		if err != nil {
			return err
		}
		out.OK = out.OK && out.Ledger.OK
	}
	if sf.json {
		var doc any = out
		if *anchors {
			if checks == nil {
				checks = []settlement.AnchorCheck{}
			}
			doc = anchorsOutput{verifyOutput: out, Anchors: checks}
		}
		if err := writeJSON(e.stdout, doc); err != nil {
			return err
		}
	} else if intact {
		fmt.Fprintf(e.stdout, "ok: %d events in %d segments (%d bytes); head hash %s\n", rep.Events, rep.Segments, rep.Bytes, rep.HeadHash)
		if t := rep.TornTail; rep.CrashTailOnly() {
			fmt.Fprintf(e.stdout, "note: torn or uncommitted tail (%s) in %s: %d bytes from byte offset %d, where position %d would start: what a crash leaves of the write in flight, with nothing committed after it; the next writer open (serve, import) copies it aside and cuts it\n", t.Reason, t.Segment, t.Bytes, t.Offset, t.Position)
		}
		if rep.Tail != "" {
			fmt.Fprintf(e.stdout, "note: %s\n", rep.Tail)
		}
		if rep.ZeroTailBytes > 0 {
			fmt.Fprintf(e.stdout, "note: %d zero bytes follow the last event: space the writer zeroed ahead (its process is running or stopped uncleanly), not damage\n", rep.ZeroTailBytes)
		}
		if h := rep.HeadCheck; h != nil && h.Position > 0 {
			fmt.Fprintf(e.stdout, "ok: the log holds the kept hash %s at position %d\n", h.Hash, h.Position)
		}
		printAnchors(e, checks)
	}
	if !intact {
		p := rep.Problem
		fmt.Fprintf(e.stderr, "verify FAILED: first bad position %d in segment %s at byte offset %d: %s (%d events before it verified)\n", p.Position, p.Segment, p.Offset, p.Reason, rep.Events)
		return &silentError{code: 1}
	}
	if anchorsFailed {
		return anchorFailures(e, checks)
	}
	if headMissing {
		fmt.Fprintf(e.stderr, "verify FAILED: the log holds no event with chain hash %s (it ends at position %d, head hash %s): it was cut before that event, rewritten up to it, or is not the log the hash was kept from\n", rep.HeadCheck.Hash, rep.Events, rep.HeadHash)
		return &silentError{code: 1}
	}
	return printLedgerCheck(e, &sf, out.Ledger)
}

// ledgerCheck is verify's fold of the log and the ledger's invariant
// check (--json: "ledger").
type ledgerCheck struct {
	OK       bool   `json:"ok"`
	Position uint64 `json:"position"`
	Events   uint64 `json:"events"`
	// Broken is the first broken invariant (Ledger.Audit), naming the
	// epoch, channel or operator.
	Broken string `json:"broken,omitempty"`
}

// verifyFold is the fold verify audits: the whole log from position 1, no
// checkpoint (a check trusts no cache). A variable for the test of the
// reporting path: a log of valid events never folds into a ledger that
// breaks an invariant (Ledger.Audit's contract), so the test breaks the
// folded ledger itself.
var verifyFold = func(ctx context.Context, r projections.Reader, progress func(pos, head uint64)) (*projections.Ledger, error) {
	return projections.Build(ctx, r, projections.Config{}, progress)
}

// checkLedger folds the log and audits the ledger: every event may be
// sound and the log intact, and still the money must add up.
func checkLedger(ctx context.Context, e *env, sf *storeFlags, r projections.Reader) (*ledgerCheck, error) {
	bar := newProgress(e, "audit", sf.json)
	l, err := verifyFold(ctx, r, func(pos, head uint64) { bar.update(int64(pos), int64(head)) })
	bar.done()
	if err != nil {
		return nil, fmt.Errorf("verify: fold the log: %w", err)
	}
	c := &ledgerCheck{OK: true, Position: l.Position, Events: l.Events}
	if err := l.Audit(); err != nil {
		c.OK, c.Broken = false, err.Error()
	}
	return c, nil
}

// printLedgerCheck prints the audit's line (text mode) and reports a
// broken invariant as verify's failure.
func printLedgerCheck(e *env, sf *storeFlags, c *ledgerCheck) error {
	if c.OK {
		if !sf.json {
			fmt.Fprintf(e.stdout, "ok: the log folds into a ledger whose invariants hold (%d events, position %d)\n", c.Events, c.Position)
		}
		return nil
	}
	fmt.Fprintf(e.stderr, "verify FAILED: the ledger folded from the log (%d events, position %d) breaks an invariant: %s\n", c.Events, c.Position, c.Broken)
	return &silentError{code: 1}
}
