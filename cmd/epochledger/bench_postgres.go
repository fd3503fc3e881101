package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/postgres"
	"github.com/epochledger/epochledger/scenarios/bench"
)

// schemaParam is our schema=NAME parameter of a URL (not one for the server).
var schemaParam = regexp.MustCompile(`[?&]schema=[^&]*`)

// benchStoreOn runs bench store's workloads on the store at url and on the
// embedded store in dir, side by side. A PostgreSQL log is written to a
// schema of its own (bench_<pid>_<time>, dropped afterwards) unless the URL
// names one.
func benchStoreOn(ctx context.Context, e *env, url, dir string, dur time.Duration, asJSON bool) error {
	if !isPostgresURL(url) {
		return usagef("bench store --store %q: only postgres://… is measured (the embedded store is the baseline)", url)
	}
	target := url
	drop := ""
	if !strings.Contains(url, "schema=") {
		drop = fmt.Sprintf("bench_%d_%d", os.Getpid(), time.Now().Unix())
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		target = url + sep + "schema=" + drop
	}
	quiet := asJSON || !isTerminal(e.stderr)
	var admin *pgx.Conn
	opts := bench.CompareOptions{
		Name:     "postgres",
		Dir:      dir,
		Duration: dur,
		Open: func(ctx context.Context) (eventstore.Store, error) {
			s, err := openPostgres(ctx, target, e.stderr)
			if err != nil {
				return nil, err
			}
			// A second connection, for the schema's removal.
			if admin, err = pgx.Connect(ctx, schemaParam.ReplaceAllString(url, "")); err != nil {
				s.Close()
				return nil, err
			}
			return s, nil
		},
		OpenUngrouped: func(ctx context.Context) (eventstore.Store, error) {
			o := postgres.DefaultOptions()
			o.MaxGroupEvents, o.CommitLinger = 1, 0
			return postgres.Open(ctx, target, o)
		},
		Progress: func(step string) {
			if !quiet {
				fmt.Fprintf(e.stderr, "bench store: %s…\n", step)
			}
		},
	}
	r, err := bench.Compare(ctx, opts)
	if admin != nil {
		if drop != "" {
			if _, derr := admin.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{drop}.Sanitize()+" CASCADE"); derr != nil {
				fmt.Fprintf(e.stderr, "note: could not drop the bench schema %s: %v\n", drop, derr)
			}
		}
		admin.Close(context.Background())
	}
	if err != nil {
		return fmt.Errorf("bench store: %w", err)
	}
	if asJSON {
		return writeJSON(e.stdout, r)
	}
	fmt.Fprintf(e.stdout, "store %s (%s) against the embedded store in %s; GOMAXPROCS %d (%d CPUs), events of %d bytes\n",
		r.Store, postgres.Redact(url), dir, r.GoMaxProcs, r.NumCPU, r.EventBytes)
	t := newTable(e.stdout, "WORKLOAD", "EMBEDDED_EV/S", "POSTGRES_EV/S", "RATIO", "EMBEDDED_P99_US", "POSTGRES_P99_US")
	for _, w := range r.Workloads {
		p99 := func(v float64) string {
			if v == 0 {
				return "-"
			}
			return fmt.Sprintf("%.0f", v)
		}
		t.row(w.Name, fmt.Sprintf("%.0f", w.EmbeddedPerSec), fmt.Sprintf("%.0f", w.OtherPerSec), fmt.Sprintf("%.2f", w.Ratio), p99(w.EmbeddedP99Micro), p99(w.OtherP99Micro))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "64 writers on postgres: %.1f events per group commit (one transaction, one WAL flush)\n", r.EventsPerCommit)
	fmt.Fprintf(e.stdout, "  with one append per transaction instead: %.0f events/s, p99 %.0f µs (group commit: %.1fx)\n",
		r.UngroupedConcurrent64PerSec, r.UngroupedConcurrent64P99Micro, r.Workloads[3].OtherPerSec/r.UngroupedConcurrent64PerSec)
	return nil
}
