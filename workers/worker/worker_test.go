package worker

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/workers/api"
	"github.com/epochledger/epochledger/workers/coordinator"
	"github.com/epochledger/epochledger/workers/nodekey"
)

const token = "worker-test-admin-token"

// coordinatorFor serves a coordinator that verifies every result (so an
// honest worker's renders must match the verifier's byte for byte).
func coordinatorFor(t *testing.T, frames uint32) (*coordinator.Server, string) {
	t.Helper()
	st, err := filestore.Open(filepath.Join(t.TempDir(), "data"), nil)
	if err != nil {
		t.Fatal(err)
	}
	o := coordinator.DefaultOptions()
	o.AdminToken, o.EpochClock, o.VerifyRate = token, false, 1
	o.Render = api.RenderSpec{Width: 16, Height: 12, Spp: 2}
	srv, err := coordinator.New(context.Background(), st, o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close(); st.Close() })
	admin := api.NewClient(ts.URL, nil, token)
	if _, err := admin.SubmitJob(context.Background(), api.SubmitJobRequest{JobID: "j1", Artist: "a", SceneHash: strings.Repeat("0f", 32), Frames: frames, USDPerOBh: "1"}); err != nil {
		t.Fatal(err)
	}
	return srv, ts.URL
}

func node(t *testing.T, url, id string) *api.Client {
	t.Helper()
	k, _ := nodekey.Generate()
	c := api.NewClient(url, k, token)
	if _, err := c.RegisterNode(context.Background(), api.RegisterNodeRequest{NodeID: id, OperatorID: "op", GPU: "test", OBScore: "500"}); err != nil {
		t.Fatal(err)
	}
	c.AdminToken = ""
	return c
}

func accepted(srv *coordinator.Server, node string) (n uint64) {
	srv.Ledger(func(l *projections.Ledger) {
		if w := l.Open().Nodes[node]; w != nil {
			n = w.Frames
		}
	})
	return n
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}

func TestHonestWorkerIsVerified(t *testing.T) {
	srv, url := coordinatorFor(t, 3)
	st, err := Run(context.Background(), Options{Client: node(t, url, "n1"), MaxFrames: 3})
	if err != nil || st.Frames != 3 || st.Refused != 0 {
		t.Fatalf("%v %+v", err, st)
	}
	waitFor(t, func() bool { return accepted(srv, "n1") == 3 })
}

func TestFaults(t *testing.T) {
	srv, url := coordinatorFor(t, 4)
	st, err := Run(context.Background(), Options{Client: node(t, url, "dup"), MaxFrames: 2, Fault: FaultDuplicate})
	if err != nil || st.Frames != 2 || st.Duplicates != 2 {
		t.Fatalf("duplicate: %v %+v", err, st)
	}
	st, err = Run(context.Background(), Options{Client: node(t, url, "cheat"), MaxFrames: 2, Fault: FaultCheat})
	if err != nil || st.Frames != 2 {
		t.Fatalf("cheat: %v %+v", err, st)
	}
	waitFor(t, func() bool { return accepted(srv, "dup") == 2 })
	time.Sleep(100 * time.Millisecond)
	if accepted(srv, "cheat") != 0 {
		t.Fatal("a cheater's made-up output was accepted")
	}
	if _, err := Run(context.Background(), Options{Client: node(t, url, "x"), Fault: "explode"}); err == nil {
		t.Fatal("unknown fault accepted")
	}
}

func TestUnknownKey(t *testing.T) {
	_, url := coordinatorFor(t, 1)
	k, _ := nodekey.Generate()
	_, err := Run(context.Background(), Options{Client: api.NewClient(url, k, "")})
	if !IsUnknownNode(err) {
		t.Fatalf("got %v", err)
	}
}

// Cancelling (SIGTERM in the command) while a frame renders finishes and
// reports it, then returns.
func TestStopFinishesTheFrame(t *testing.T) {
	srv, url := coordinatorFor(t, 5)
	c := node(t, url, "n1")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Stats)
	go func() {
		st, err := Run(ctx, Options{Client: c, FrameTime: 600 * time.Millisecond})
		if err != nil {
			t.Error(err)
		}
		done <- st
	}()
	admin := api.NewClient(url, nil, token)
	waitFor(t, func() bool {
		st, err := admin.Status(context.Background())
		return err == nil && len(st.Nodes) == 1 && len(st.Nodes[0].Leases) == 1
	})
	cancel()
	st := <-done
	if st.Frames != 1 {
		t.Fatalf("stats %+v, want the frame in hand reported", st)
	}
	waitFor(t, func() bool { return accepted(srv, "n1") == 1 })
}
