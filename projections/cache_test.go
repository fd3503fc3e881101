package projections

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/scenarios/simlog"
)

// The cache's files are where the data directory's documentation says.
func TestCachePaths(t *testing.T) {
	c := CacheOf(filepath.Join("DATA"))
	for got, want := range map[string]string{
		c.CheckpointPath(false): filepath.Join("DATA", "checkpoints", "projections.ckpt"),
		c.CheckpointPath(true):  filepath.Join("DATA", "checkpoints", "projections-ids.ckpt"),
		c.ArchivePath():         filepath.Join("DATA", "checkpoints", "epochs.json"),
	} {
		if got != want {
			t.Errorf("cache path %s, want %s", got, want)
		}
	}
}

// Load saves a checkpoint once a fold passes CheckpointEvery events, and
// resumes from it (saving none again while the log has not moved far);
// KeepArchive keeps the epoch archive of the closed epochs.
func TestCacheLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("a log of CheckpointEvery events")
	}
	ctx := context.Background()
	b := base()
	b.SetWallet("op-a")
	for i := range CheckpointEvery {
		b.Compute(fmt.Sprintf("t%d", i), "n1", 1000, "0.01")
	}
	b.CloseEpoch(1, domain.DefaultEmission)
	s := storeOf(t, simlog.New("none", t0))
	if err := simlog.AppendBatch(ctx, s, b.Envelopes()); err != nil {
		t.Fatal(err)
	}
	c := CacheOf(t.TempDir())
	cfg := Config{}
	l, saveErr, err := c.Load(ctx, s, cfg, false, nil)
	if err != nil || saveErr != nil {
		t.Fatal(err, saveErr)
	}
	if p, ok := CheckpointPosition(c.CheckpointPath(false)); !ok || p != l.Position {
		t.Fatalf("checkpoint at %d (%v) after a fold to %d", p, ok, l.Position)
	}
	if _, ok := CheckpointPosition(c.CheckpointPath(true)); ok {
		t.Fatal("a ledger without ids saved the checkpoint of ledgers with ids")
	}
	again, saveErr, err := c.Load(ctx, s, cfg, false, nil)
	if err != nil || saveErr != nil {
		t.Fatal(err, saveErr)
	}
	if got, want := mustHash(t, again), mustHash(t, l); got != want {
		t.Fatalf("resumed ledger %s, folded %s", got, want)
	}
	if err := c.KeepArchive(ctx, l, s); err != nil {
		t.Fatal(err)
	}
	a, err := c.Archive()
	if err != nil || len(a.Epochs) != 1 || a.Position != l.Position {
		t.Fatalf("archive %+v, %v", a, err)
	}
}
