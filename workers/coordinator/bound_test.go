package coordinator

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/scenarios/simlog"
	"github.com/epochledger/epochledger/workers/api"
)

func TestGPUCount(t *testing.T) {
	for gpu, want := range map[string]int{"RTX 4090": 1, "": 1, "4x RTX 4090": 4, "8 × H100": 8, "2X A6000": 2, "3090": 1, "0x RTX": 1, "99999x B200": MaxGPUsPerNode, "simulated": 1} {
		if got := GPUCount(gpu); got != want {
			t.Errorf("GPUCount(%q) = %d, want %d", gpu, got, want)
		}
	}
}

// auditWork is the auditor's check of docs/api.md ("Work bounded by wall
// time") from the log alone, written independently of the coordinator's
// lanes: for each node, the durations of its FrameRendered reports must
// not add up to more than P × the wall time from its first lease to its
// last report, plus the slack per lane (P: the max_leases of its newest
// FrameAssigned).
func auditWork(t *testing.T, events []*eventstore.RecordedEvent) map[string]time.Duration {
	t.Helper()
	first, last := map[string]time.Time{}, map[string]time.Time{}
	sum := map[string]time.Duration{}
	par := map[string]int{}
	for _, e := range events {
		at, err := time.Parse(time.RFC3339Nano, e.Time)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := domain.DecodeEvent(e.Type, e.Data)
		if err != nil {
			continue
		}
		switch x := ev.(type) {
		case *domain.FrameAssigned:
			if _, ok := first[x.NodeID]; !ok {
				first[x.NodeID] = at
			}
			if x.MaxLeases == 0 {
				t.Fatalf("position %d: FrameAssigned without max_leases", e.Position)
			}
			par[x.NodeID] = int(x.MaxLeases)
		case *domain.FrameRendered:
			last[x.NodeID] = at
			sum[x.NodeID] += time.Duration(x.DurationMS) * time.Millisecond
		}
	}
	for n, s := range sum {
		p := time.Duration(par[n])
		if bound := p * (last[n].Sub(first[n]) + durationSlack); s > bound {
			t.Errorf("node %s: %v of reported durations in %v of wall time with %d lease(s) in parallel", n, s, last[n].Sub(first[n]), par[n])
		}
	}
	return sum
}

// The attack of issue 18.4: a node with OB 1000 leases 64 frames, waits
// 6 s and reports each with 5.9 s, 98.3 OBh for 6 s of wall time. It now
// holds one live lease (one GPU), and leases it let expire to take others
// cannot be reported beyond its wall time either.
func TestWorkBoundedByWallTime(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.LeasesPerGPU = 1 })
	n1 := h.node("n1", "op-a", "1000")
	h.job("j1", 64, "1")
	ctx := context.Background()
	var got []api.Lease
	for range 41 {
		r, err := n1.Lease(ctx, api.LeaseRequest{Max: 64, LeaseSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Leases...)
	}
	if len(got) != 1 {
		t.Fatalf("41 lease calls of a one-GPU node gave %d live leases, want 1", len(got))
	}
	// Leases of 1 s let expire, one a second: six leased frames.
	for range 5 {
		h.clock.Advance(1100 * time.Millisecond)
		r, err := n1.Lease(ctx, api.LeaseRequest{Max: 64, LeaseSeconds: 1})
		if err != nil || len(r.Leases) != 1 {
			t.Fatalf("lease after expiry: %v %+v", err, r)
		}
		got = append(got, r.Leases...)
	}
	h.clock.Advance(1100 * time.Millisecond)
	accepted := 0
	for i, l := range got {
		_, err := n1.Report(ctx, h.result("n1", l, 5900))
		switch e := asAPIError(err); {
		case err == nil:
			accepted++
		case e != nil && e.Code == api.CodeInvalid && e.Status == 422:
			if i == 0 {
				t.Fatalf("the first report, within its wall time, refused: %v", err)
			}
			t.Logf("report %d: %s", i, e.Message)
		default:
			t.Fatalf("report %d: %v", i, err)
		}
	}
	// 6.6 s of wall time: one 5.9 s report fits, a second does not.
	if accepted != 1 {
		t.Fatalf("%d reports of 5.9 s accepted in 6.6 s of one GPU's wall time, want 1", accepted)
	}
	sum := auditWork(t, h.events())
	if sum["n1"] != 5900*time.Millisecond {
		t.Fatalf("credited %v", sum["n1"])
	}
	// The refused reports appended nothing, and the bound holds after a
	// restart (the lanes are folded from the log).
	h.restart(nil)
	h.clock.Advance(time.Second)
	if _, err := h.client("n1").Report(ctx, h.result("n1", got[1], 5900)); asAPIError(err) == nil || asAPIError(err).Code != api.CodeInvalid {
		t.Fatalf("after a restart a report beyond the wall time: %v", err)
	}
	h.checkReplay()
}

// An honest node with two GPUs renders two frames at a time, each for the
// whole of its lease: all of it is credited. Reports in one request are
// placed in order.
func TestParallelWorkWithinBound(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.LeasesPerGPU = 1 })
	ctx := context.Background()
	c := h.nodeGPU("n2", "op-a", "1000", "2x RTX 4090")
	if me, err := c.Me(ctx); err != nil || me.MaxLeases != 2 {
		t.Fatalf("me: %v %+v", err, me)
	}
	h.job("j1", 6, "1")
	for round := range 3 {
		ls := h.lease(c, 6)
		if len(ls) != 2 {
			t.Fatalf("round %d: a two-GPU node got %d leases, want 2", round, len(ls))
		}
		if more := h.lease(c, 6); len(more) != 0 {
			t.Fatalf("a third live lease: %+v", more)
		}
		h.clock.Advance(10 * time.Second)
		if _, err := c.Report(ctx, h.result("n2", ls[0], 10_000), h.result("n2", ls[1], 10_000)); err != nil {
			t.Fatalf("round %d: honest parallel reports: %v", round, err)
		}
	}
	if sum := auditWork(t, h.events()); sum["n2"] != 60*time.Second {
		t.Fatalf("credited %v", sum["n2"])
	}
	// Two 10 s reports in one request after 10 s on one lane each is the
	// limit: a third lane does not exist.
	h.job("j2", 3, "1")
	ls := h.lease(c, 3)
	h.clock.Advance(10 * time.Second)
	if _, err := c.Report(ctx, h.result("n2", ls[0], 10_000), h.result("n2", ls[1], 10_000)); err != nil {
		t.Fatal(err)
	}
	ls = h.lease(c, 3)
	h.clock.Advance(time.Second)
	if _, err := c.Report(ctx, h.result("n2", ls[0], 6_000)); asAPIError(err) == nil {
		t.Fatal("6 s reported 1 s after the lease")
	}
	h.checkReplay()
}

// A log written before the bound (the attack of issue 18.4: 64 frames
// leased at once, each reported with 5.9 s after 6 s) folds unchanged;
// the coordinator counts the reports beyond the wall time and says so.
func TestOldLogFoldsAndCountsOverBound(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	st, err := filestore.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := simlog.New("old", time.Now().Add(-time.Hour))
	b.Node("n1", "op-a", "1000")
	b.Job("j1", 64, "1")
	// The builder moves its clock a second an event: hold it, so that
	// the 64 leases share one time and the 64 reports another, 6 s later.
	for f := range uint32(64) {
		b.Assign("j1", f, "n1")
		b.Tick(-time.Second)
	}
	b.Tick(6 * time.Second)
	for f := range uint32(64) {
		b.Rendered("j1", f, "n1", 5900, "out")
		b.Accept("j1", f, "n1")
		b.Tick(-2 * time.Second)
	}
	if err := b.AppendTo(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	o := *DefaultOptions()
	o.EpochClock, o.Verifiers, o.AdminToken = false, -1, adminToken
	srv, err := New(context.Background(), st, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var st2 api.Status
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	if err := api.NewClient(ts.URL, nil, adminToken).Call(context.Background(), "GET", api.PathStatus, api.Bearer, nil, &st2); err != nil {
		t.Fatal(err)
	}
	if st2.ReportsOverBound != 63 {
		t.Fatalf("reports over the bound: %d, want 63 (one 5.9 s report fits 6 s of one lane)", st2.ReportsOverBound)
	}
	srv.Ledger(func(l *projections.Ledger) {
		if l.Jobs["j1"].Accepted != 64 || l.AnomalyCount != 0 {
			t.Fatalf("the old log did not fold as it is: %d accepted, %d anomalies", l.Jobs["j1"].Accepted, l.AnomalyCount)
		}
	})
}
