package bench

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/scenarios/loadgen"
)

// TestRunCoordinator runs the coordinator benchmark small: every run
// completes results without errors, with the batch it was asked for, and
// the coordinator's results are in its log (a FrameRendered and a
// FrameAccepted each) when the run is over.
func TestRunCoordinator(t *testing.T) {
	dir := t.TempDir()
	var steps []string
	res, err := RunCoordinator(context.Background(), CoordinatorOptions{Dir: dir, Workers: 2, Batch: 3, Duration: 200 * time.Millisecond,
		Progress: func(s string) { steps = append(steps, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 3 {
		t.Errorf("progress steps %q, want 3", steps)
	}
	for _, c := range []struct {
		name  string
		batch int
		r     *loadgen.Report
	}{
		{"coordinator", 3, res.Coordinator},
		{"coordinator batch 1", 1, res.CoordinatorBatch1},
		{"baseline", 3, res.Baseline},
	} {
		if c.r == nil || c.r.Results == 0 || c.r.Errors != 0 || c.r.Batch != c.batch || c.r.Workers != 2 {
			t.Errorf("%s: %+v, want results, no errors, batch %d, 2 workers", c.name, c.r, c.batch)
		}
	}
	if res.Ratio <= 0 || res.RatioWall <= 0 || res.Cores < 1 {
		t.Errorf("ratios %g (wall %g), cores %d", res.Ratio, res.RatioWall, res.Cores)
	}
	s, err := filestore.Open(filepath.Join(dir, "a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	head, err := s.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if head < 2*res.Coordinator.Results {
		t.Errorf("log holds %d events for %d durable results", head, res.Coordinator.Results)
	}
}
