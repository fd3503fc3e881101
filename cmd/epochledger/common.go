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

// loadLedger folds the log into projections, with a progress bar on a
// terminal.
func loadLedger(ctx context.Context, e *env, s eventstore.Store, trackIDs bool) (*projections.Ledger, error) {
	bar := newProgress(e, "replay", false)
	defer bar.done()
	return projections.Build(ctx, s, projections.Config{TrackIDs: trackIDs}, func(pos, head uint64) {
		bar.update(int64(pos), int64(head))
	})
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
