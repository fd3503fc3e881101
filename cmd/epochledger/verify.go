package main

import (
	"context"
	"fmt"

	"github.com/epochledger/epochledger/eventstore/filestore"
)

func init() {
	register(&command{name: "verify", summary: "check framing, CRCs and the hash chain of the whole log", run: runVerify})
}

type verifyOutput struct {
	OK       bool                    `json:"ok"`
	Report   *filestore.VerifyReport `json:"report"`
	Problem  *verifyProblem          `json:"problem,omitempty"`
	Segments int                     `json:"segments"`
}

type verifyProblem struct {
	Position uint64 `json:"position"`
	Segment  string `json:"segment"`
	Offset   int64  `json:"offset"`
	Reason   string `json:"reason"`
}

func runVerify(ctx context.Context, e *env, args []string) error {
	var sf storeFlags
	fs := newFlagSet(e, "verify", "[flags]", `
Read the whole log and check every segment header, every frame's chained
CRC-32C, positions, stream revisions, id uniqueness and the SHA-256 hash
chain through every event. Exit status 0 when intact; 1 naming the first
bad position, segment and byte offset otherwise (a single altered byte
anywhere is found). Prints the head's chain hash: record it, and any later
rewrite of the log up to that point is detectable.`)
	sf.register(fs, e)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("verify: unexpected argument %q", pos[0])
	}
	if isPostgresURL(sf.store) {
		return verifyPostgres(ctx, e, &sf)
	}
	if sf.store != "" {
		return verifyESDB(ctx, e, &sf)
	}
	if !dirExists(sf.data) {
		return fmt.Errorf("verify: no event log at %s; pass --data", sf.data)
	}
	bar := newProgress(e, "verify", sf.json)
	rep, err := filestore.Verify(sf.data, nil, func(done, total int64) { bar.update(done, total) })
	bar.done()
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	out := verifyOutput{OK: rep.OK(), Report: rep, Segments: rep.Segments}
	if p := rep.Problem; p != nil {
		out.Problem = &verifyProblem{Position: p.Position, Segment: p.Segment, Offset: p.Offset, Reason: p.Reason}
	}
	if sf.json {
		if err := writeJSON(e.stdout, out); err != nil {
			return err
		}
	} else if rep.OK() {
		fmt.Fprintf(e.stdout, "ok: %d events in %d segments (%d bytes); head hash %s\n", rep.Events, rep.Segments, rep.Bytes, rep.HeadHash)
		if rep.Tail != "" {
			fmt.Fprintf(e.stdout, "note: %s\n", rep.Tail)
		}
		if rep.ZeroTailBytes > 0 {
			fmt.Fprintf(e.stdout, "note: %d zero bytes follow the last event: space the writer zeroed ahead (its process is running or stopped uncleanly), not damage\n", rep.ZeroTailBytes)
		}
	}
	if !rep.OK() {
		p := rep.Problem
		fmt.Fprintf(e.stderr, "verify FAILED: first bad position %d in segment %s at byte offset %d: %s (%d events before it verified)\n", p.Position, p.Segment, p.Offset, p.Reason, rep.Events)
		return &silentError{code: 1}
	}
	return nil
}
