package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/postgres"
)

// isPostgresURL reports whether --store names a PostgreSQL database.
func isPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// openPostgres connects to the database (creating the log's schema on
// first use). The store's reconnects and retries are logged to warn.
func openPostgres(ctx context.Context, url string, warn io.Writer) (*postgres.Store, error) {
	o := postgres.DefaultOptions()
	if warn != nil {
		o.Logger = slog.New(slog.NewTextHandler(warn, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s, err := postgres.Open(ctx, url, o)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", postgres.Redact(url), err)
	}
	return s, nil
}

// verifyPostgres checks every row of the log: positions gap-free from 1,
// revisions per stream, and the stored chain hash against the one
// recomputed; exit 1 names the first bad row.
func verifyPostgres(ctx context.Context, e *env, sf *storeFlags) error {
	s, err := openPostgres(ctx, sf.store, e.stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	bar := newProgress(e, "verify", sf.json)
	rep, err := s.Verify(ctx, func(done, total uint64) { bar.update(int64(done), int64(total)) })
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
		// The embedded store's shape: ok, report, problem.position, ledger.
		if err := writeJSON(e.stdout, struct {
			OK      bool                   `json:"ok"`
			Report  *postgres.VerifyReport `json:"report"`
			Problem *postgres.Problem      `json:"problem,omitempty"`
			Ledger  *ledgerCheck           `json:"ledger,omitempty"`
		}{rep.OK() && ledger.OK, &rep, rep.Problem, ledger}); err != nil {
			return err
		}
	} else if rep.OK() {
		fmt.Fprintf(e.stdout, "ok: %d events, positions 1..%d gap-free, every row's chain hash verified; head hash %s\n", rep.Events, rep.Head, rep.HeadHash)
	}
	if !rep.OK() {
		p := rep.Problem
		fmt.Fprintf(e.stderr, "verify FAILED: first bad position %d (stream %q revision %d, id %s): %s (%d events before it verified)\n", p.Position, p.Stream, p.Revision, p.ID, p.Reason, rep.Events)
		return &silentError{code: 1}
	}
	return printLedgerCheck(e, sf, ledger)
}

// sealMigration finishes a migration into the destination's chain: for
// EventStoreDB a chain checkpoint appended, for PostgreSQL the rows'
// chain verified. It returns the chain hash at the head.
func sealMigration(ctx context.Context, dst eventstore.Store) (string, error) {
	switch d := dst.(type) {
	case *postgres.Store:
		rep, err := d.Verify(ctx, nil)
		if err != nil {
			return "", err
		}
		if !rep.OK() {
			p := rep.Problem
			return "", fmt.Errorf("the destination's chain does not verify at position %d: %s", p.Position, p.Reason)
		}
		return rep.HeadHash, nil
	}
	return writeESDBCheckpoint(ctx, dst)
}
