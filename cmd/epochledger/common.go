package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/epochledger/epochledger/domain"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/projections"
)

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// writeJSON prints v as one JSON document and a newline.
func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// loadLedger folds the log into projections, resuming from the embedded
// store's checkpoint (projections.Cache, DATA/checkpoints/) when it
// belongs to this log, with a progress bar on a terminal. fromScratch
// ignores checkpoints (replay).
func loadLedger(ctx context.Context, e *env, s eventstore.Store, sf *storeFlags, trackIDs, fromScratch bool) (*projections.Ledger, error) {
	bar := newProgress(e, "replay", sf.json)
	defer bar.done()
	progress := func(pos, head uint64) { bar.update(int64(pos), int64(head)) }
	cfg := projections.Config{TrackIDs: trackIDs}
	if sf.store != "" {
		return projections.Build(ctx, s, cfg, progress)
	}
	l, saveErr, err := projections.CacheOf(sf.data).Load(ctx, s, cfg, fromScratch, progress)
	if err != nil {
		return nil, err
	}
	if saveErr != nil {
		// A cache, not the log: failing to save it only costs the next query time.
		fmt.Fprintf(e.stderr, "note: could not save the projections checkpoint: %v\n", saveErr)
	}
	return l, nil
}

// readLedger opens the log read-only and folds it (resuming from its
// checkpoint); the store is closed again.
func readLedger(ctx context.Context, e *env, sf *storeFlags) (*projections.Ledger, error) {
	s, err := openStore(ctx, sf, true)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return loadLedger(ctx, e, s, sf, false, false)
}

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight|tabwriter.Debug&0)}
	t.row(header...)
	return t
}

func (t *table) row(cols ...string) { fmt.Fprintln(t.tw, strings.Join(cols, "\t")+"\t") }

func (t *table) flush() error { return t.tw.Flush() }

type flagSetT = flag.FlagSet

// fmtRender formats base units as a RENDER decimal.
func fmtRender(v uint64) string { return domain.BaseUnits(v).RenderString() }
