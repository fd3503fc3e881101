package main

import (
	"bufio"
	"context"
	"fmt"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/projections"
)

func runExport(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "payouts" {
		return runExportPayouts(ctx, e, args[1:])
	}
	var sf storeFlags
	fs := newFlagSet(e, "export", "[--from POS] [--to POS] | export payouts --csv [--operator ID] [--from-epoch N] [--to-epoch M]", `
Print stored events as JSON Lines, one envelope per line with its position
and revision, in log order. 'import' reads this back; the data of every
event is printed byte for byte as it was imported. Safe beside a running
'serve' (the embedded store is read without taking its lock).

'export payouts --csv' prints every operator's allocation per epoch and
channel and how far it is paid (see 'export payouts --help').`)
	sf.register(fs, e)
	from := fs.Uint64("from", 1, "first position to print")
	to := fs.Uint64("to", 0, "last position to print (0: the head)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("export: unexpected argument %q", pos[0])
	}
	s, err := openStore(ctx, &sf, true)
	if err != nil {
		return err
	}
	defer s.Close()
	w := bufio.NewWriterSize(e.stdout, 1<<20)
	var line []byte
	err = s.ReadAll(ctx, *from, func(r *eventstore.RecordedEvent) error {
		if *to != 0 && r.Position > *to {
			return errStopRead
		}
		env := domain.Envelope{Position: r.Position, Revision: r.Revision, ID: r.ID, Type: r.Type, Stream: r.Stream, Time: r.Time, Data: r.Data}
		line = append(env.AppendJSON(line[:0]), '\n')
		_, err := w.Write(line)
		return err
	})
	if err != nil && err != errStopRead {
		w.Flush()
		return fmt.Errorf("export: %w", err)
	}
	return w.Flush()
}

func runExportPayouts(ctx context.Context, e *env, args []string) error {
	var sf storeFlags
	fs := newFlagSet(e, "export payouts", "--csv [--operator ID] [--from-epoch N] [--to-epoch M]", `
Print one RFC 4180 CSV row per operator, closed epoch and reward channel
with an allocation, for operators' books and tax reports:

  epoch, closed_at (RFC 3339 time of the EpochClosed), operator_id, wallet
  (the planned one; the current one while unplanned), channel (job),
  amount_base_units, amount_render, status (paid, in_flight, planned, owed,
  carried_forward), tx_signature (the confirmed payout transactions, space-
  separated)

sorted by epoch, then operator_id. The status is the log's; 'reconcile'
holds it against the chain. 'serve' answers the same rows of one operator
at GET /v1/operators/{id}/payouts.csv?from_epoch=N&to_epoch=M.`)
	sf.register(fs, e)
	asCSV := fs.Bool("csv", false, "CSV output (required: the only format)")
	operator := fs.String("operator", "", "only this operator")
	from := fs.Uint64("from-epoch", 0, "first epoch (default: 1)")
	to := fs.Uint64("to-epoch", 0, "last epoch (default: the newest closed)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("export payouts: unexpected argument %q", pos[0])
	}
	if !*asCSV {
		return usagef("export payouts: --csv is required (the only format)")
	}
	if *to != 0 && *from > *to {
		return usagef("export payouts: --from-epoch %d is after --to-epoch %d", *from, *to)
	}
	s, err := openStore(ctx, &sf, true)
	if err != nil {
		return err
	}
	defer s.Close()
	l, err := loadLedger(ctx, e, s, &sf, false, false)
	if err != nil {
		return err
	}
	if *operator != "" && l.Operators[*operator] == nil {
		return fmt.Errorf("export payouts: operator %q does not exist", *operator)
	}
	rows := l.PayoutRows(projections.PayoutFilter{Operator: *operator, FromEpoch: *from, ToEpoch: *to})
	if err := projections.FillClosedAt(ctx, s, rows, nil); err != nil {
		return fmt.Errorf("export payouts: %w", err)
	}
	w := bufio.NewWriter(e.stdout)
	if err := projections.WritePayoutsCSV(w, rows); err != nil {
		return err
	}
	return w.Flush()
}
