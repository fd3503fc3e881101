package main

import (
	"bytes"
	"context"
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
	head, err := src.Head(ctx)
	if err != nil {
		return err
	}
	bar := newProgress(e, "migrate", sf.json)
	var pending []eventstore.StreamEvent
	var copied, skipped uint64
	flush := func() error {
		res, err := eventstore.AppendInOrder(ctx, dst, pending)
		if err != nil {
			return err
		}
		for _, r := range res {
			n := r.LastPosition - r.FirstPosition + 1
			if r.Duplicate {
				skipped += n
			}
		}
		copied += uint64(len(pending))
		pending = pending[:0]
		bar.update(int64(copied), int64(head))
		return nil
	}
	err = src.ReadAll(ctx, 1, func(r *eventstore.RecordedEvent) error {
		pending = append(pending, eventstore.StreamEvent{Stream: r.Stream, Event: eventstore.EventData{ID: r.ID, Type: r.Type, Time: r.Time, Data: bytes.Clone(r.Data)}})
		if len(pending) >= *batch {
			return flush()
		}
		return nil
	})
	if err == nil && len(pending) > 0 {
		err = flush()
	}
	bar.done()
	if err != nil {
		return fmt.Errorf("migrate: copy stopped after %d events: %w (run it again to resume)", copied, err)
	}
	// Verify event by event: every source stream read back from the server.
	streams := map[string]uint64{}
	var checked uint64
	var diff error
	err = src.ReadAll(ctx, 1, func(r *eventstore.RecordedEvent) error {
		streams[r.Stream]++
		return nil
	})
	if err != nil {
		return err
	}
	err = src.ReadAll(ctx, 1, func(r *eventstore.RecordedEvent) error {
		var got *eventstore.RecordedEvent
		rerr := dst.ReadStream(ctx, r.Stream, r.Revision, func(d *eventstore.RecordedEvent) error {
			c := *d
			c.Data = bytes.Clone(d.Data)
			got = &c
			return errStopRead
		})
		if rerr != nil && rerr != errStopRead {
			return fmt.Errorf("read back %s@%d: %w", r.Stream, r.Revision, rerr)
		}
		if got == nil || got.ID != r.ID || got.Type != r.Type || got.Time != r.Time || got.Revision != r.Revision || !bytes.Equal(got.Data, r.Data) {
			diff = fmt.Errorf("position %d (%s, stream %s revision %d) differs on the server", r.Position, r.ID, r.Stream, r.Revision)
			return errStopRead
		}
		checked++
		return nil
	})
	if err != nil && err != errStopRead {
		return fmt.Errorf("migrate: verify: %w", err)
	}
	if diff != nil {
		fmt.Fprintf(e.stderr, "migrate: verification FAILED: %v\n", diff)
		return &silentError{code: 1}
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
	}{copied, skipped, checked, len(streams), chain}
	if sf.json {
		return writeJSON(e.stdout, out)
	}
	fmt.Fprintf(e.stdout, "migrated %d events in %d streams (%d were already there); all %d verified on the destination; chain hash at the head %s\n", copied, len(streams), skipped, checked, chain)
	return nil
}
