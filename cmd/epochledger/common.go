package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/epochledger/epochledger/domain"
	"io"
	"os"
	"path/filepath"
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

// checkpointEvery is how far a query's fold must get past the last
// checkpoint before it saves a new one.
const checkpointEvery = 50_000

// loadLedger folds the log into projections, resuming from the embedded
// store's checkpoint (DATA/checkpoints/) when it belongs to this log, with a
// progress bar on a terminal. fromScratch ignores checkpoints (replay).
func loadLedger(ctx context.Context, e *env, s eventstore.Store, sf *storeFlags, trackIDs, fromScratch bool) (*projections.Ledger, error) {
	bar := newProgress(e, "replay", sf.json)
	defer bar.done()
	progress := func(pos, head uint64) { bar.update(int64(pos), int64(head)) }
	cfg := projections.Config{TrackIDs: trackIDs}
	path := ""
	if sf.store == "" {
		name := "projections.ckpt"
		if trackIDs {
			name = "projections-ids.ckpt"
		}
		path = filepath.Join(sf.data, "checkpoints", name)
	}
	var l *projections.Ledger
	var start uint64
	var err error
	if fromScratch || path == "" {
		l, err = projections.Build(ctx, s, cfg, progress)
	} else {
		l, start, err = projections.Resume(ctx, s, path, cfg, progress)
	}
	if err != nil {
		return nil, err
	}
	if path != "" && l.Position >= checkpointEvery && l.Position-start >= checkpointEvery && !checkpointCurrent(path, l.Position) {
		// A cache, not the log: failing to save it only costs the next query time.
		if err := l.WriteCheckpoint(path); err != nil {
			fmt.Fprintf(e.stderr, "note: could not save the projections checkpoint: %v\n", err)
		}
	}
	return l, nil
}

// checkpointCurrent reports whether the checkpoint at path is already at
// pos (a replay of an unchanged log need not write it again; should it be
// another log's, Resume sees that and rebuilds).
func checkpointCurrent(path string, pos uint64) bool {
	p, ok := projections.CheckpointPosition(path)
	return ok && p == pos
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
