package coordinator

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/workers/api"
	"github.com/epochledger/epochledger/workers/nodekey"
	"github.com/epochledger/epochledger/workers/render"
)

const adminToken = "test-admin-token"

// clock is a settable clock for leases.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type harness struct {
	t     *testing.T
	dir   string
	store *filestore.Store
	srv   *Server
	ts    *httptest.Server
	admin *api.Client
	clock *clock
	opts  Options
	keys  map[string]ed25519.PrivateKey
}

func newHarness(t *testing.T, tweak func(*Options)) *harness {
	t.Helper()
	h := &harness{t: t, dir: filepath.Join(t.TempDir(), "data"), clock: &clock{}, keys: map[string]ed25519.PrivateKey{}}
	h.clock.ns.Store(time.Now().UnixNano())
	o := *DefaultOptions()
	o.AdminToken = adminToken
	o.EpochClock = false
	o.VerifyRate = 0
	o.Render = api.RenderSpec{Width: 16, Height: 12, Spp: 1}
	o.Now = h.clock.Now
	// The tests lease several frames per node at once; the bound on live
	// leases and its default are tested in bound_test.go.
	o.LeasesPerGPU = 8
	if tweak != nil {
		tweak(&o)
	}
	h.opts = o
	h.start()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) start() {
	h.t.Helper()
	st, err := filestore.Open(h.dir, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.store = st
	o := h.opts
	h.srv, err = New(context.Background(), st, &o)
	if err != nil {
		h.t.Fatal(err)
	}
	h.ts = httptest.NewServer(h.srv.Handler())
	h.admin = api.NewClient(h.ts.URL, nil, adminToken)
}

func (h *harness) stop() {
	if h.ts == nil {
		return
	}
	h.ts.Close()
	h.srv.Close()
	h.store.Close()
	h.ts = nil
}

func (h *harness) restart(tweak func(*Options)) {
	h.stop()
	if tweak != nil {
		tweak(&h.opts)
	}
	h.start()
}

func (h *harness) head() uint64 {
	p, err := h.store.Head(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// node registers a node and returns its client.
func (h *harness) node(id, op, ob string) *api.Client {
	h.t.Helper()
	return h.nodeGPU(id, op, ob, "RTX 4090")
}

// nodeGPU registers a node with its gpu text (GPUCount reads it).
func (h *harness) nodeGPU(id, op, ob, gpu string) *api.Client {
	h.t.Helper()
	k, _ := nodekey.Generate()
	h.keys[id] = k
	c := api.NewClient(h.ts.URL, k, adminToken)
	if _, err := c.RegisterNode(context.Background(), api.RegisterNodeRequest{NodeID: id, OperatorID: op, GPU: gpu, OBScore: ob}); err != nil {
		h.t.Fatalf("register %s: %v", id, err)
	}
	c.AdminToken = ""
	return c
}

func (h *harness) client(id string) *api.Client {
	return api.NewClient(h.ts.URL, h.keys[id], "")
}

func sceneHash(label string) string { return render.OutputHash([]byte(label)) }

func (h *harness) job(id string, frames uint32, usd string) {
	h.t.Helper()
	if _, err := h.admin.SubmitJob(context.Background(), api.SubmitJobRequest{JobID: id, Artist: "studio", SceneHash: sceneHash(id), Frames: frames, USDPerOBh: usd}); err != nil {
		h.t.Fatalf("job %s: %v", id, err)
	}
}

// render renders a leased frame honestly and returns a signed result.
func (h *harness) result(node string, l api.Lease, durationMS uint64) api.Result {
	sc := render.SceneFromHash(l.SceneHash, l.Render.Width, l.Render.Height)
	sc.Spp = l.Render.Spp
	png, err := render.RenderPNG(context.Background(), sc, int(l.Frame))
	if err != nil {
		h.t.Fatal(err)
	}
	return h.signed(node, l, render.OutputHash(png), durationMS)
}

func (h *harness) signed(node string, l api.Lease, hash string, durationMS uint64) api.Result {
	msg := domain.ProofMessage(l.JobID, l.Frame, node, hash, durationMS)
	return api.Result{JobID: l.JobID, Frame: l.Frame, OutputHash: hash, DurationMS: durationMS,
		Telemetry: json.RawMessage(`{"backend":"cpu"}`), Signature: domain.SignProof(h.keys[node], msg)}
}

func (h *harness) lease(c *api.Client, max int) []api.Lease {
	h.t.Helper()
	r, err := c.Lease(context.Background(), api.LeaseRequest{Max: max})
	if err != nil {
		h.t.Fatalf("lease: %v", err)
	}
	return r.Leases
}

// events reads the whole log.
func (h *harness) events() []*eventstore.RecordedEvent {
	var out []*eventstore.RecordedEvent
	err := h.store.ReadAll(context.Background(), 1, func(e *eventstore.RecordedEvent) error {
		c := *e
		c.Data = append([]byte(nil), e.Data...)
		out = append(out, &c)
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *harness) count(typ string) int {
	n := 0
	for _, e := range h.events() {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// waitFor polls cond for up to 10 s.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkReplay verifies the log and checks that a fresh fold gives the
// live ledger's shares for every epoch.
func (h *harness) checkReplay() {
	h.t.Helper()
	rep, err := filestore.Verify(h.dir, nil, nil)
	if err != nil || !rep.OK() {
		h.t.Fatalf("verify: %v %+v", err, rep)
	}
	fresh, err := projections.Build(context.Background(), h.store, projections.Config{}, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	if fresh.AnomalyCount != 0 {
		h.t.Fatalf("anomalies: %+v", fresh.Anomalies)
	}
	if err := fresh.Audit(); err != nil {
		h.t.Fatal(err)
	}
	h.srv.Ledger(func(live *projections.Ledger) {
		if live.Position != fresh.Position || live.LastID != fresh.LastID || live.Events != fresh.Events {
			h.t.Fatalf("live ledger at %d (id %s, %d events), log at %d (id %s, %d events)", live.Position, live.LastID, live.Events, fresh.Position, fresh.LastID, fresh.Events)
		}
		for n := uint64(1); n <= uint64(len(live.Epochs)); n++ {
			a, _, _ := live.Shares(n)
			b, _, _ := fresh.Shares(n)
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if !bytes.Equal(ja, jb) {
				h.t.Fatalf("epoch %d: live %s, replay %s", n, ja, jb)
			}
		}
	})
}

// raw sends a request with explicit headers and returns the status and
// the decoded error body.
func (h *harness) raw(method, path string, body []byte, hdr map[string]string) (int, *api.Error) {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.ts.URL+path, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get(api.HeaderLogPosition) == "" {
		h.t.Errorf("%s %s: no %s header", method, path, api.HeaderLogPosition)
	}
	var e api.Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, &e
}

func signedHeaders(key ed25519.PrivateKey, claimKey string, method, path string, body []byte, ts int64, nonce string) map[string]string {
	hdr := api.SignRequest(key, method, path, body, ts, nonce)
	if claimKey != "" {
		hdr[api.HeaderKey] = claimKey
	}
	return hdr
}

func asAPIError(err error) *api.Error {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae
	}
	return nil
}

// Every refusal is a clear 4xx with a code, and appends nothing.
func TestRefusalsAppendNothing(t *testing.T) {
	h := newHarness(t, nil)
	n1 := h.node("n1", "op-a", "860")
	h.node("n2", "op-b", "500")
	h.job("j1", 4, "0.5")
	leases := h.lease(n1, 1)
	if len(leases) != 1 {
		t.Fatalf("leases %v", leases)
	}
	good := h.result("n1", leases[0], 1)
	body, _ := json.Marshal(api.ResultsRequest{Results: []api.Result{good}})
	stranger, _ := nodekey.Generate()
	n1pub := nodekey.Pubkey(h.keys["n1"])
	now := h.clock.Now().UnixMilli()

	replayHdr := signedHeaders(h.keys["n1"], "", "POST", api.PathLease, nil, now, "nonce-for-replay-0001")
	if code, e := h.raw("POST", api.PathLease, nil, replayHdr); code != 200 {
		t.Fatalf("first use of a nonce: %d %+v", code, e)
	}
	head := h.head()

	wrongProof := h.signed("n2", leases[0], good.OutputHash, 1) // signed with n2's key, sent by n1
	wrongProofBody, _ := json.Marshal(api.ResultsRequest{Results: []api.Result{wrongProof}})
	notLeased := good
	notLeased.Frame = 3
	notLeasedBody, _ := json.Marshal(api.ResultsRequest{Results: []api.Result{notLeased}})
	leasedToOther := h.lease(h.client("n2"), 1)
	head = h.head()
	otherBody, _ := json.Marshal(api.ResultsRequest{Results: []api.Result{h.result("n1", leasedToOther[0], 1)}})
	inflated := good
	inflated.DurationMS = 3_600_000
	inflatedBody, _ := json.Marshal(api.ResultsRequest{Results: []api.Result{inflated}})

	cases := []struct {
		name   string
		path   string
		body   []byte
		hdr    map[string]string
		status int
		code   string
	}{
		{"no signature", api.PathResults, body, nil, 401, api.CodeMissingAuth},
		{"signed with the wrong key", api.PathResults, body, signedHeaders(stranger, n1pub, "POST", api.PathResults, body, now, api.NewNonce()), 401, api.CodeBadSignature},
		{"unknown node", api.PathResults, body, signedHeaders(stranger, "", "POST", api.PathResults, body, now, api.NewNonce()), 401, api.CodeUnknownNode},
		{"signature over another body", api.PathResults, body, signedHeaders(h.keys["n1"], "", "POST", api.PathResults, []byte("{}"), now, api.NewNonce()), 401, api.CodeBadSignature},
		{"signature over another path", api.PathResults, body, signedHeaders(h.keys["n1"], "", "POST", api.PathLease, body, now, api.NewNonce()), 401, api.CodeBadSignature},
		{"stale timestamp", api.PathResults, body, signedHeaders(h.keys["n1"], "", "POST", api.PathResults, body, now-10*60*1000, api.NewNonce()), 401, api.CodeStale},
		{"replayed nonce", api.PathLease, nil, replayHdr, 401, api.CodeReplay},
		{"malformed body: not JSON", api.PathResults, []byte("{results:"), signedHeaders(h.keys["n1"], "", "POST", api.PathResults, []byte("{results:"), now, api.NewNonce()), 400, api.CodeMalformed},
		{"malformed body: unknown field", api.PathResults, []byte(`{"results":[],"x":1}`), signedHeaders(h.keys["n1"], "", "POST", api.PathResults, []byte(`{"results":[],"x":1}`), now, api.NewNonce()), 400, api.CodeMalformed},
		{"malformed body: wrong type", api.PathResults, []byte(`{"results":[{"frame":"one"}]}`), signedHeaders(h.keys["n1"], "", "POST", api.PathResults, []byte(`{"results":[{"frame":"one"}]}`), now, api.NewNonce()), 400, api.CodeMalformed},
		{"invalid field", api.PathResults, []byte(`{"results":[{"job_id":"j1","frame":0,"output_hash":"xyz","duration_ms":1,"telemetry":{},"signature":"1"}]}`), signedHeaders(h.keys["n1"], "", "POST", api.PathResults, []byte(`{"results":[{"job_id":"j1","frame":0,"output_hash":"xyz","duration_ms":1,"telemetry":{},"signature":"1"}]}`), now, api.NewNonce()), 422, api.CodeInvalid},
		{"frame not leased", api.PathResults, notLeasedBody, signedHeaders(h.keys["n1"], "", "POST", api.PathResults, notLeasedBody, now, api.NewNonce()), 409, api.CodeNotLeased},
		{"frame leased to another node", api.PathResults, otherBody, signedHeaders(h.keys["n1"], "", "POST", api.PathResults, otherBody, now, api.NewNonce()), 409, api.CodeNotLeased},
		{"proof signed with another node's key", api.PathResults, wrongProofBody, signedHeaders(h.keys["n1"], "", "POST", api.PathResults, wrongProofBody, now, api.NewNonce()), 422, api.CodeRefused},
		{"duration longer than the lease", api.PathResults, inflatedBody, signedHeaders(h.keys["n1"], "", "POST", api.PathResults, inflatedBody, now, api.NewNonce()), 422, api.CodeInvalid},
		{"admin route without token", api.PathEpochClose, nil, nil, 401, api.CodeMissingAuth},
		{"admin route with a wrong token", api.PathEpochClose, nil, map[string]string{"Authorization": "Bearer nope"}, 401, api.CodeBadToken},
		{"job submission malformed", api.PathJobs, []byte(`{"job_id":7}`), map[string]string{"Authorization": "Bearer " + adminToken}, 400, api.CodeMalformed},
		{"job submission invalid", api.PathJobs, []byte(`{"job_id":"j9","artist":"a","scene_hash":"00","frames":1,"usd_per_obh":"1"}`), map[string]string{"Authorization": "Bearer " + adminToken}, 422, api.CodeInvalid},
	}
	for _, c := range cases {
		code, e := h.raw("POST", c.path, c.body, c.hdr)
		if code != c.status || e.Code != c.code || e.Message == "" {
			t.Errorf("%s: got %d %q %q, want %d %q", c.name, code, e.Code, e.Message, c.status, c.code)
		}
		if got := h.head(); got != head {
			t.Fatalf("%s: head moved from %d to %d", c.name, head, got)
		}
		t.Logf("%s: %d %s: %s", c.name, code, e.Code, e.Message)
	}
	// The honest result is then accepted.
	res, err := n1.Report(context.Background(), good)
	if err != nil || res.Results[0].Status != api.StatusAccepted {
		t.Fatalf("honest result: %v %+v", err, res)
	}
	h.checkReplay()
}

func TestRegisterNeedsTokenAndKey(t *testing.T) {
	h := newHarness(t, nil)
	k, _ := nodekey.Generate()
	req := api.RegisterNodeRequest{NodeID: "n1", OperatorID: "op", GPU: "RTX 3090", OBScore: "500"}
	ctx := context.Background()
	noToken := api.NewClient(h.ts.URL, k, "")
	if _, err := noToken.RegisterNode(ctx, req); asAPIError(err) == nil || asAPIError(err).Code != api.CodeMissingAuth {
		t.Fatalf("without token: %v", err)
	}
	unsigned := api.NewClient(h.ts.URL, nil, adminToken)
	if err := unsigned.Call(ctx, "POST", api.PathNodes, api.Bearer, req, nil); asAPIError(err) == nil || asAPIError(err).Code != api.CodeMissingAuth {
		t.Fatalf("unsigned: %v", err)
	}
	other, _ := nodekey.Generate()
	lying := req
	lying.NodePubkey = nodekey.Pubkey(other)
	c := api.NewClient(h.ts.URL, k, adminToken)
	if _, err := c.RegisterNode(ctx, lying); asAPIError(err) == nil || asAPIError(err).Code != api.CodeInvalid {
		t.Fatalf("pubkey of another key: %v", err)
	}
	if h.head() != 0 {
		t.Fatal("refused registrations appended")
	}
	r1, err := c.RegisterNode(ctx, req)
	if err != nil || r1.Duplicate || r1.Position != 1 {
		t.Fatalf("register: %v %+v", err, r1)
	}
	r2, err := c.RegisterNode(ctx, req)
	if err != nil || !r2.Duplicate || r2.Position != 1 {
		t.Fatalf("register again: %v %+v", err, r2)
	}
	changed := req
	changed.OBScore = "900"
	if _, err := c.RegisterNode(ctx, changed); asAPIError(err) == nil || asAPIError(err).Status != 409 {
		t.Fatalf("other details: %v", err)
	}
	reuse := req
	reuse.NodeID = "n2"
	if _, err := c.RegisterNode(ctx, reuse); asAPIError(err) == nil || asAPIError(err).Status != 409 {
		t.Fatalf("key reused: %v", err)
	}
	if h.head() != 1 {
		t.Fatalf("head %d", h.head())
	}
	me, err := api.NewClient(h.ts.URL, k, "").Me(ctx)
	if err != nil || me.NodeID != "n1" || me.OBScore != "500" || me.OpenEpoch != 1 {
		t.Fatalf("me: %v %+v", err, me)
	}
}

// A whole job: leases, results, a duplicate, completion with provenance
// root and burn, the epoch closed; the log verifies and replays.
func TestJobLifecycle(t *testing.T) {
	h := newHarness(t, nil)
	n1 := h.node("n1", "op-a", "860")
	n2 := h.node("n2", "op-b", "430.5")
	if _, err := h.admin.SetWallet(context.Background(), "op-a", api.WalletRequest{Wallet: "11111111111111111111111111111112"}); err != nil {
		t.Fatal(err)
	}
	h.job("j1", 5, "0.5")
	ctx := context.Background()
	var hashes [5]string
	var last api.Result
	for _, c := range []struct {
		id string
		c  *api.Client
	}{{"n1", n1}, {"n2", n2}, {"n1", n1}} {
		for _, l := range h.lease(c.c, 2) {
			h.clock.Advance(time.Second)
			r := h.result(c.id, l, 1000)
			hashes[l.Frame] = r.OutputHash
			last = r
			res, err := c.c.Report(ctx, r)
			if err != nil || res.Results[0].Status != api.StatusAccepted {
				t.Fatalf("report: %v %+v", err, res)
			}
			if c.id == "n2" { // the worker retries: answered as a duplicate
				again, err := c.c.Report(ctx, r)
				if err != nil || !again.Results[0].Duplicate || again.Results[0].Position != res.Results[0].Position {
					t.Fatalf("duplicate: %v %+v", err, again)
				}
			}
		}
	}
	if l := h.lease(n1, 1); len(l) != 0 {
		t.Fatalf("leased a frame of a finished job: %+v", l)
	}
	h.waitFor("job completion", func() bool { return h.count(domain.TypeBurnRecorded) == 1 })
	// A retry after the job completed (its frames compacted) is still
	// recognized; another output for a frame of it is refused.
	if again, err := n1.Report(ctx, last); err != nil || !again.Results[0].Duplicate || again.Results[0].Status != api.StatusAccepted {
		t.Fatalf("retry after completion: %v %+v", err, again)
	}
	forged := last
	forged.OutputHash = sceneHash("other")
	if _, err := n1.Report(ctx, forged); asAPIError(err) == nil || asAPIError(err).Code != api.CodeNotLeased {
		t.Fatalf("result for a completed job: %v", err)
	}
	root, _ := domain.ProvenanceRoot(hashes[:])
	var burn *projections.Job
	h.srv.Ledger(func(l *projections.Ledger) {
		j := l.Jobs["j1"]
		if !j.Completed || j.ProvenanceRoot != domain.HashHex(root) {
			t.Errorf("job %+v, want root %s", j, domain.HashHex(root))
		}
		burn = j
	})
	// 3 frames on n1 (860 OB) and 2 on n2 (430.5 OB), 1 s each, at 0.5 USD/OBh:
	// (3×860 + 2×430.5) × 1000 / 3,600,000 × 0.5 = 0.477916… USD, rounded up to 18 places.
	if got := burn.Burn.USD.String(); got != "0.477916666666666667" {
		t.Errorf("burn usd %s", got)
	}
	if burn.Burn.TxSignature != DerivedBurnSignature("j1") {
		t.Errorf("burn tx %s", burn.Burn.TxSignature)
	}
	if got := h.count(domain.TypeFrameRendered); got != 5 {
		t.Fatalf("%d FrameRendered, want 5 (duplicates must not append)", got)
	}
	r, err := h.admin.CloseEpoch(ctx, api.CloseEpochRequest{Epoch: 1})
	if err != nil || r.Epoch != 1 || r.Duplicate {
		t.Fatalf("close: %v %+v", err, r)
	}
	again, err := h.admin.CloseEpoch(ctx, api.CloseEpochRequest{Epoch: 1})
	if err != nil || !again.Duplicate || again.Position != r.Position {
		t.Fatalf("close again: %v %+v", err, again)
	}
	if _, err := h.admin.CloseEpoch(ctx, api.CloseEpochRequest{Epoch: 3}); asAPIError(err) == nil || asAPIError(err).Code != api.CodeEpochMismatch {
		t.Fatalf("close 3: %v", err)
	}
	h.checkReplay()
	h.srv.Ledger(func(l *projections.Ledger) {
		doc, _, _ := l.Shares(1)
		if len(doc.Operators) != 2 || doc.Operators[0].WorkOBh != "0.716666667" {
			t.Errorf("shares %+v", doc)
		}
	})
}

// With a verify rate of 1 every result is re-rendered: honest ones are
// accepted, a wrong output is rejected, the node becomes suspect and the
// frame goes to another node, never back to it.
func TestVerifierRejectsCheater(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.NodeVerifyRates = map[string]float64{"cheat": 1, "honest": 1} })
	honest := h.node("honest", "op-a", "500")
	cheat := h.node("cheat", "op-b", "500")
	h.job("j1", 2, "1")
	ctx := context.Background()
	lh := h.lease(honest, 1)[0]
	lc := h.lease(cheat, 1)[0]
	res, err := cheat.Report(ctx, h.signed("cheat", lc, sceneHash("not the frame"), 1))
	if err != nil || res.Results[0].Status != api.StatusVerifying {
		t.Fatalf("cheat report: %v %+v", err, res)
	}
	hr := h.result("honest", lh, 1)
	if res, err := honest.Report(ctx, hr); err != nil || res.Results[0].Status != api.StatusVerifying {
		t.Fatalf("honest report: %v %+v", err, res)
	}
	h.waitFor("verdicts", func() bool { return h.count(domain.TypeFrameRejected) == 1 && h.count(domain.TypeFrameAccepted) == 1 })
	// A retry of the rejected result is answered as such.
	again, err := cheat.Report(ctx, h.signed("cheat", lc, sceneHash("not the frame"), 1))
	if err != nil || !again.Results[0].Duplicate || again.Results[0].Status != api.StatusRejected {
		t.Fatalf("retry of a rejected result: %v %+v", err, again)
	}
	// The rejected frame is never leased back to the cheater.
	if l := h.lease(cheat, 4); len(l) != 0 {
		t.Fatalf("cheater got %+v", l)
	}
	l2 := h.lease(honest, 4)
	if len(l2) != 1 || l2[0].Frame != lc.Frame {
		t.Fatalf("honest node got %+v, want frame %d", l2, lc.Frame)
	}
	if _, err := honest.Report(ctx, h.result("honest", l2[0], 1)); err != nil {
		t.Fatal(err)
	}
	h.waitFor("completion", func() bool { return h.count(domain.TypeJobCompleted) == 1 })
	st, err := h.admin.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		if n.NodeID == "cheat" && (!n.Suspect || n.Rejected != 1 || n.Accepted != 0) {
			t.Errorf("cheat status %+v", n)
		}
	}
	for _, e := range h.events() {
		if e.Type == domain.TypeFrameRejected && !strings.Contains(string(e.Data), ReasonMismatch) {
			t.Errorf("rejection reason: %s", e.Data)
		}
	}
	h.checkReplay()
	// Suspicion survives a restart (it is in the log).
	h.restart(nil)
	h.srv.mu.RLock()
	if !h.srv.sched.suspects["cheat"] {
		t.Error("suspect lost on restart")
	}
	h.srv.mu.RUnlock()
}

// An expired lease goes to another node; the first node's late result is
// then refused. A late result before re-assignment still counts.
func TestLeaseExpiry(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.LeaseDuration = 10 * time.Second })
	n1 := h.node("n1", "op-a", "500")
	n2 := h.node("n2", "op-b", "500")
	h.job("j1", 2, "1")
	ctx := context.Background()
	l1 := h.lease(n1, 2)
	if len(l1) != 2 || len(h.lease(n2, 1)) != 0 {
		t.Fatal("leases")
	}
	h.clock.Advance(11 * time.Second)
	// Frame 1: reported late, but before anyone else took it.
	if _, err := n1.Report(ctx, h.result("n1", l1[1], 1)); err != nil {
		t.Fatalf("late result before re-assignment: %v", err)
	}
	l2 := h.lease(n2, 2)
	if len(l2) != 1 || l2[0].Frame != l1[0].Frame {
		t.Fatalf("re-assigned %+v", l2)
	}
	_, err := n1.Report(ctx, h.result("n1", l1[0], 1))
	if e := asAPIError(err); e == nil || e.Code != api.CodeNotLeased || !strings.Contains(e.Message, `leased to node "n2"`) {
		t.Fatalf("result after re-assignment: %v", err)
	}
	if _, err := n2.Report(ctx, h.result("n2", l2[0], 1)); err != nil {
		t.Fatal(err)
	}
	h.waitFor("completion", func() bool { return h.count(domain.TypeJobCompleted) == 1 })
	assigned := map[string]int{}
	for _, e := range h.events() {
		if e.Type == domain.TypeFrameAssigned {
			ev, _ := domain.DecodeEvent(e.Type, e.Data)
			fa := ev.(*domain.FrameAssigned)
			assigned[fmt.Sprintf("%d/%s", fa.Frame, fa.NodeID)]++
		}
	}
	if assigned["0/n1"] != 1 || assigned["0/n2"] != 1 || assigned["1/n1"] != 1 || len(assigned) != 3 {
		t.Fatalf("assignments %v", assigned)
	}
	h.checkReplay()
}

// Results waiting for a verdict when the coordinator stops are verified
// after the restart; a fully accepted job is completed.
func TestRestartResumes(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.VerifyRate = 1; o.Verifiers = -1 })
	n1 := h.node("n1", "op-a", "500")
	h.job("j1", 3, "1")
	for _, l := range h.lease(n1, 3) {
		if r, err := n1.Report(context.Background(), h.result("n1", l, 1)); err != nil || r.Results[0].Status != api.StatusVerifying {
			t.Fatalf("%v %+v", err, r)
		}
	}
	if h.count(domain.TypeFrameAccepted) != 0 {
		t.Fatal("accepted without a verifier")
	}
	h.restart(func(o *Options) { o.Verifiers = 1 })
	h.waitFor("verdicts and completion", func() bool { return h.count(domain.TypeBurnRecorded) == 1 })
	if n := h.count(domain.TypeFrameAccepted); n != 3 {
		t.Fatalf("%d accepted", n)
	}
	h.checkReplay()
}

func TestComputeWork(t *testing.T) {
	clientKey := computeClientKey("io.net")
	h := newHarness(t, func(o *Options) { o.ComputeClients = []ComputeClient{ioNet(t, clientKey, "100", "1000")} })
	n1 := h.node("n1", "op-a", "500")
	req := computeReq(t, h.keys["n1"], clientKey, "t1", "n1", "12.50")
	ctx := context.Background()
	r, err := n1.Compute(ctx, req)
	if err != nil || r.Duplicate {
		t.Fatalf("%v %+v", err, r)
	}
	again, err := n1.Compute(ctx, req)
	if err != nil || !again.Duplicate || again.Position != r.Position {
		t.Fatalf("retry: %v %+v", err, again)
	}
	other := req
	other.DurationMS = 1
	if _, err := n1.Compute(ctx, other); asAPIError(err) == nil {
		t.Fatal("other content under the same task id accepted")
	}
	bad := req
	bad.TaskID = "t2"
	if _, err := n1.Compute(ctx, bad); asAPIError(err) == nil || asAPIError(err).Code != api.CodeRefused {
		t.Fatalf("signature over another task: %v", err)
	}
	h.checkReplay()
}

func TestEpochClock(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.Now = time.Now
		o.EpochClock = true
		o.EpochLength = time.Second
		o.EpochGenesis = time.Now().Truncate(time.Second)
	})
	h.waitFor("EpochClosed 1 and 2 from the clock", func() bool { return h.count(domain.TypeEpochClosed) >= 2 })
	h.checkReplay()
}

// Many nodes report concurrently (run with -race): every result is
// stored once, every frame accepted once, and the log replays.
func TestConcurrentReports(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.VerifyRate = 0.1 })
	const nodes, frames = 8, 200
	h.job("j1", frames, "0.25")
	clients := make([]*api.Client, nodes)
	for i := range clients {
		clients[i] = h.node(fmt.Sprintf("n%d", i), fmt.Sprintf("op-%d", i%3), "700")
	}
	var wg sync.WaitGroup
	var reported atomic.Int64
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("n%d", i)
			for {
				ls, err := c.Lease(context.Background(), api.LeaseRequest{Max: 4})
				if err != nil {
					t.Error(err)
					return
				}
				if len(ls.Leases) == 0 {
					return
				}
				var rs []api.Result
				for _, l := range ls.Leases {
					rs = append(rs, h.result(id, l, 1))
				}
				if _, err := c.Report(context.Background(), rs...); err != nil {
					t.Error(err)
					return
				}
				reported.Add(int64(len(rs)))
			}
		}()
	}
	wg.Wait()
	if reported.Load() != frames {
		t.Fatalf("reported %d of %d", reported.Load(), frames)
	}
	h.waitFor("completion", func() bool { return h.count(domain.TypeJobCompleted) == 1 })
	if n := h.count(domain.TypeFrameAccepted); n != frames {
		t.Fatalf("%d accepted", n)
	}
	h.checkReplay()
}
