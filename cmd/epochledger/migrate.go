package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/epochledger/epochledger/eventstore"
)

func runMigrate(ctx context.Context, e *env, args []string) error {
	var sf storeFlags
	fs := newFlagSet(e, "migrate", "--to esdb://…|postgres://… [--data DIR]", `
Copy every event of the embedded log (--data) into an EventStoreDB /
KurrentDB server or a PostgreSQL database, in log order, each stream
keeping its events and ids. It is idempotent: events already copied (same
id) are skipped, so an interrupted migration is resumed by running it
again. Then every event is read back from the destination and compared
with the source (id, type, stream, revision, time, data), and the chain is
sealed: on EventStoreDB a chain checkpoint is written, on PostgreSQL (one
atomic append per batch, positions gap-free) every row's chain hash is
verified. Exit 1 names the first event that differs.`)
	sf.register(fs, e)
	to := fs.String("to", "", "destination store URL (esdb://host:2113?tls=false …, postgres://user@host:5432/db?sslmode=…)")
	batch := fs.Int("batch", 500, "events per append (each stream run is one atomic append)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("migrate: unexpected argument %q", pos[0])
	}
	if *to == "" {
		return usagef("migrate: --to esdb://… or postgres://… is required")
	}
	if !isPostgresURL(*to) && !isESDBURL(*to) {
		return usagef("migrate: --to %q: want esdb://… or postgres://…", *to)
	}
	src, err := openStore(ctx, &storeFlags{data: sf.data}, true)
	if err != nil {
		return err
	}
	defer src.Close()
	var dst eventstore.Store
	if isPostgresURL(*to) {
		dst, err = openPostgres(ctx, *to, e.stderr)
	} else {
		dst, err = openESDB(ctx, *to)
	}
	if err != nil {
		return err
	}
	defer dst.Close()
	bar := newProgress(e, "migrate", sf.json)
	copied, err := eventstore.Copy(ctx, dst, src, max(*batch, 1), func(n, head uint64) { bar.update(int64(n), int64(head)) })
	bar.done()
	if err != nil {
		return fmt.Errorf("migrate: copy stopped after %d events: %w (run it again to resume)", copied.Events, err)
	}
	// Verify event by event: every source stream read back from the server.
	checked, err := eventstore.Compare(ctx, src, dst)
	var diff *eventstore.Difference
	if errors.As(err, &diff) {
		fmt.Fprintf(e.stderr, "migrate: verification FAILED: position %d (%s, stream %s revision %d) differs on the server\n", diff.Position, diff.ID, diff.Stream, diff.Revision)
		return &silentError{code: 1}
	}
	if err != nil {
		return fmt.Errorf("migrate: verify: %w", err)
	}
	chain, err := sealMigration(ctx, dst)
	if err != nil {
		return fmt.Errorf("migrate: copied and verified event by event, but sealing the chain failed: %w", err)
	}
	out := struct {
		Events       uint64 `json:"events"`
		AlreadyThere uint64 `json:"already_there"`
		Verified     uint64 `json:"verified"`
		Streams      int    `json:"streams"`
		ChainHash    string `json:"chain_hash"`
	}{copied.Events, copied.AlreadyThere, checked.Events, checked.Streams, chain}
	if sf.json {
		return writeJSON(e.stdout, out)
	}
	fmt.Fprintf(e.stdout, "migrated %d events in %d streams (%d were already there); all %d verified on the destination; chain hash at the head %s\n", copied.Events, checked.Streams, copied.AlreadyThere, checked.Events, chain)
	return nil
}
