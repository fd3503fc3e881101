package coordinator

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mr-tron/base58"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/workers/api"
	"github.com/epochledger/epochledger/workers/nodekey"
)

// vramNode registers a node with vram_gb and returns its client.
func (h *harness) vramNode(id, op, ob string, vram uint32) *api.Client {
	h.t.Helper()
	k, _ := nodekey.Generate()
	h.keys[id] = k
	c := api.NewClient(h.ts.URL, k, adminToken)
	if _, err := c.RegisterNode(context.Background(), api.RegisterNodeRequest{NodeID: id, OperatorID: op, GPU: "RTX 4090", OBScore: ob, VRAMGB: vram}); err != nil {
		h.t.Fatalf("register %s: %v", id, err)
	}
	c.AdminToken = ""
	return c
}

func (h *harness) beat(c *api.Client) *api.HeartbeatResponse {
	h.t.Helper()
	r, err := c.Heartbeat(context.Background(), "idle")
	if err != nil {
		h.t.Fatalf("heartbeat: %v", err)
	}
	return r
}

// TestBadHeartbeatsRefused: unsigned, wrongly signed, replayed and
// unknown-key heartbeats get 4xx and count nothing.
func TestBadHeartbeatsRefused(t *testing.T) {
	h := newHarness(t, nil)
	h.vramNode("n1", "op-a", "100", 24)
	head := h.head()
	body := []byte(`{"state":"idle"}`)
	ts := time.Now().UnixMilli()
	other, _ := nodekey.Generate()
	n1pub := base58.Encode(h.keys["n1"].Public().(ed25519.PublicKey))
	cases := []struct {
		name string
		hdr  map[string]string
		code string
	}{
		{"unsigned", nil, api.CodeMissingAuth},
		{"wrong signature", signedHeaders(other, n1pub, http.MethodPost, api.PathHeartbeat, body, ts, api.NewNonce()), api.CodeBadSignature},
		{"unknown node", signedHeaders(other, "", http.MethodPost, api.PathHeartbeat, body, ts, api.NewNonce()), api.CodeUnknownNode},
	}
	for _, c := range cases {
		status, e := h.raw(http.MethodPost, api.PathHeartbeat, body, c.hdr)
		if status != http.StatusUnauthorized || e.Code != c.code {
			t.Errorf("%s: %d %+v", c.name, status, e)
		}
	}
	// A good one, then its replay.
	hdr := signedHeaders(h.keys["n1"], "", http.MethodPost, api.PathHeartbeat, body, ts, "replayed-nonce-0123456789")
	if status, e := h.raw(http.MethodPost, api.PathHeartbeat, body, hdr); status != http.StatusOK {
		t.Fatalf("good heartbeat: %d %+v", status, e)
	}
	if status, e := h.raw(http.MethodPost, api.PathHeartbeat, body, hdr); status != http.StatusUnauthorized || e.Code != api.CodeReplay {
		t.Errorf("replay: %d %+v", status, e)
	}
	if status, e := h.raw(http.MethodPost, api.PathHeartbeat, []byte(`{"state":"asleep"}`), signedHeaders(h.keys["n1"], "", http.MethodPost, api.PathHeartbeat, []byte(`{"state":"asleep"}`), ts, api.NewNonce())); status != http.StatusUnprocessableEntity {
		t.Errorf("bad state: %d %+v", status, e)
	}
	if h.head() != head {
		t.Fatal("a heartbeat appended to the log")
	}
	h.srv.avail.mu.Lock()
	n := h.srv.avail.nodes["n1"]
	h.srv.avail.mu.Unlock()
	if n == nil || n.online != 0 {
		t.Fatalf("one heartbeat counts no online time: %+v", n)
	}
}

// TestAvailabilityAtEpochClose: with a schedule in force, the close
// appends one NodeAvailability per node seen (online from heartbeats, busy
// from leases), then EpochClosed with the schedule's channels; an idle
// node with no job work earns availability only; a node whose heartbeats
// stop has less online time.
func TestAvailabilityAtEpochClose(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.HeartbeatInterval = 10 * time.Second })
	ctx := context.Background()
	if _, err := h.admin.SetSchedule(ctx, map[string]any{"rnp": "RNP-015", "effective_epoch": 1, "channels": map[string]string{"job": "15000", "availability": "2884.61538"}}); err != nil {
		t.Fatal(err)
	}
	// The same schedule again is answered as stored.
	if r, err := h.admin.SetSchedule(ctx, map[string]any{"rnp": "RNP-015", "effective_epoch": 1, "channels": map[string]string{"availability": "2884.61538", "job": "15000"}}); err != nil || !r.Duplicate {
		t.Fatalf("repeat: %+v %v", r, err)
	}
	worker := h.vramNode("w", "op-work", "1000", 24)
	idle := h.vramNode("idle", "op-idle", "800", 48)
	gone := h.vramNode("gone", "op-gone", "800", 48)
	h.job("j", 1, "1")
	for i := 0; i < 4; i++ { // 0, 5, 10, 15 s
		h.beat(worker)
		h.beat(idle)
		if i < 2 {
			h.beat(gone) // stops after 5 s: killed
		}
		if i == 1 {
			ls := h.lease(worker, 1)
			h.clock.Advance(2 * time.Second)
			if _, err := worker.Report(ctx, h.result("w", ls[0], 2000)); err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(3 * time.Second)
			continue
		}
		h.clock.Advance(5 * time.Second)
	}
	h.waitFor("the frame accepted", func() bool { return h.count(domain.TypeFrameAccepted) == 1 })
	// An emission that contradicts the schedule is refused.
	if _, err := h.admin.CloseEpoch(ctx, api.CloseEpochRequest{Emission: "4700000000000"}); err == nil || !strings.Contains(err.Error(), "schedule in force") {
		t.Fatalf("close with a contradicting emission: %v", err)
	}
	if _, err := h.admin.CloseEpoch(ctx, api.CloseEpochRequest{}); err != nil {
		t.Fatal(err)
	}
	evs := h.events()
	var recs []*domain.NodeAvailability
	var closed *domain.EpochClosed
	for i, e := range evs {
		ev, err := domain.DecodeEvent(e.Type, e.Data)
		if err != nil {
			t.Fatal(err)
		}
		switch x := ev.(type) {
		case *domain.NodeAvailability:
			recs = append(recs, x)
		case *domain.EpochClosed:
			closed = x
			if i != len(evs)-1 || evs[i-1].Type != domain.TypeNodeAvailability {
				t.Fatal("EpochClosed does not follow the availability records")
			}
		}
	}
	if closed == nil || closed.Emission != 1_788_461_538_000 || closed.Channels["availability"] != 288_461_538_000 {
		t.Fatalf("EpochClosed %+v", closed)
	}
	by := map[string]*domain.NodeAvailability{}
	for _, r := range recs {
		by[r.NodeID] = r
	}
	if len(recs) != 3 || by["idle"].OnlineMS != 15_000 || by["idle"].BusyMS != 0 || by["gone"].OnlineMS != 5_000 {
		t.Fatalf("records %+v %+v %+v", by["w"], by["idle"], by["gone"])
	}
	if w := by["w"]; w.OnlineMS != 15_000 || w.BusyMS != 2_000 || w.WindowMS < 20_000 {
		t.Fatalf("worker record %+v", w)
	}
	var doc *projections.SharesDoc
	h.srv.Ledger(func(l *projections.Ledger) { doc, _, _ = l.Shares(1) })
	for _, o := range doc.Operators {
		switch o.OperatorID {
		case "op-idle":
			if o.Channels["job"] != "0" || o.Channels["availability"] == "0" || o.WorkUSD != "0" {
				t.Fatalf("idle operator %+v", o)
			}
		case "op-work":
			if o.Channels["job"] != "1500000000000" {
				t.Fatalf("working operator %+v", o)
			}
		}
	}
	h.checkReplay()
	_ = gone
}

// TestScheduleRefusals: a retroactive schedule is refused by the admin
// route; a schedule given in Options is appended once across restarts.
func TestScheduleRefusals(t *testing.T) {
	sched := domain.EmissionScheduleSet{RNP: "RNP-013", EffectiveEpoch: 3, Channels: map[string]domain.RenderAmount{"job": 1_500_000_000_000}}
	h := newHarness(t, func(o *Options) { o.Schedule = []domain.EmissionScheduleSet{sched} })
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := h.admin.CloseEpoch(ctx, api.CloseEpochRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	h.restart(nil) // the schedule of Options is stored: nothing appended
	if n := h.count(domain.TypeEmissionScheduleSet); n != 1 {
		t.Fatalf("%d schedules stored", n)
	}
	_, err := h.admin.SetSchedule(ctx, map[string]any{"rnp": "RNP-099", "effective_epoch": 2, "channels": map[string]string{"job": "1"}})
	if ae := asAPIError(err); ae == nil || ae.Status != http.StatusUnprocessableEntity || !strings.Contains(ae.Message, "must be greater than the last closed epoch (3)") {
		t.Fatalf("retroactive: %v", err)
	}
	_, err = h.admin.SetSchedule(ctx, map[string]any{"rnp": "RNP-099", "effective_epoch": 9, "channels": map[string]string{"upgrade": "1"}})
	if ae := asAPIError(err); ae == nil || ae.Status != http.StatusUnprocessableEntity || !strings.Contains(ae.Message, `"channels.upgrade"`) {
		t.Fatalf("unknown channel: %v", err)
	}
	var last *domain.EpochClosed
	for _, e := range h.events() {
		if e.Type == domain.TypeEpochClosed {
			ev, _ := domain.DecodeEvent(e.Type, e.Data)
			last = ev.(*domain.EpochClosed)
		}
	}
	if last.Epoch != 3 || last.Channels["job"] != 1_500_000_000_000 {
		t.Fatalf("epoch 3 closed with %+v", last)
	}
}
