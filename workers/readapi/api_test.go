package readapi

import (
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/scenarios/simlog"
	"github.com/epochledger/epochledger/workers/api"
)

// TestReadEndpoints checks every document against the projections it comes
// from, byte for byte where the CLI prints the same document.
func TestReadEndpoints(t *testing.T) {
	w := scenario(t)
	l := w.ledger()
	s := newServer(t, w, openOptions())
	pos := strconv.FormatUint(l.Position, 10)

	t.Run("epochs", func(t *testing.T) {
		r := s.get(t, "/v1/epochs")
		if r.code != 200 || r.header.Get(api.HeaderLogPosition) != pos {
			t.Fatalf("status %d position %q (want %s)", r.code, r.header.Get(api.HeaderLogPosition), pos)
		}
		if got, want := string(r.body), mustJSON(t, EpochList{Epochs: l.Summaries()}); got != want {
			t.Fatalf("epochs\n got %s\nwant %s", got, want)
		}
		var list EpochList
		r.json(t, &list)
		states := []string{list.Epochs[0].Status, list.Epochs[1].Status, list.Epochs[2].Status}
		if strings.Join(states, ",") != "settled,settling,open" || list.Epochs[1].SettlementState != "in_flight" {
			t.Errorf("statuses %v, epoch 2 settlement %q", states, list.Epochs[1].SettlementState)
		}
		if list.Epochs[0].SettlementRoot == "" || list.Epochs[0].Burned == "0" || list.Epochs[0].Minted != domain.DefaultEmission.String() {
			t.Errorf("epoch 1 summary %+v", list.Epochs[0])
		}
	})

	t.Run("epoch", func(t *testing.T) {
		var d EpochDoc
		s.get(t, "/v1/epochs/1").json(t, &d)
		if d.Epoch != 1 || d.Provisional || d.Settlement == nil || len(d.Settlement.Transactions) != 1 ||
			d.Settlement.Transactions[0].State != "confirmed" || d.Settlement.Transactions[0].Signature != txSig("1") || d.Settlement.Root != d.SettlementRoot {
			t.Errorf("epoch 1: %+v %+v", d, d.Settlement)
		}
		d = EpochDoc{}
		s.get(t, "/v1/epochs/3").json(t, &d)
		if !d.Provisional || d.Status != "open" || d.Settlement != nil {
			t.Errorf("epoch 3: %+v", d)
		}
	})

	t.Run("shares", func(t *testing.T) {
		for n := uint64(1); n <= 3; n++ {
			doc, provisional, err := l.Shares(n)
			if err != nil {
				t.Fatal(err)
			}
			r := s.get(t, "/v1/epochs/"+strconv.FormatUint(n, 10)+"/shares")
			// The same bytes as `epochledger shares --epoch N --json`.
			if got, want := string(r.body), mustJSON(t, doc); got != want {
				t.Errorf("epoch %d shares\n got %s\nwant %s", n, got, want)
			}
			if (r.header.Get("X-Epoch-Provisional") == "true") != provisional {
				t.Errorf("epoch %d: X-Epoch-Provisional %q, provisional %v", n, r.header.Get("X-Epoch-Provisional"), provisional)
			}
		}
	})

	t.Run("operator", func(t *testing.T) {
		var d OperatorDoc
		s.get(t, "/v1/operators/op-a").json(t, &d)
		b := l.Balance(l.Operators["op-a"])
		if d.Wallet != simlog.Wallet("op-a") || d.Allocated != b.Allocated || d.Paid != b.Paid || d.InFlight != b.InFlight || d.Owed != b.Owed {
			t.Errorf("balance %+v, want %+v", d, b)
		}
		if len(d.Nodes) != 2 || d.Nodes[0].NodeID != "n1" || d.Nodes[1].NodeID != "n4" || d.Nodes[0].OBScore != "860" {
			t.Errorf("nodes %+v", d.Nodes)
		}
		if len(d.Epochs) != 2 { // op-a did no work in epoch 3 yet
			t.Fatalf("epochs %+v", d.Epochs)
		}
		var allocated domain.BaseUnits
		for _, e := range d.Epochs {
			doc, _, _ := l.Shares(e.Epoch)
			var line *projections.OperatorShare
			for i := range doc.Operators {
				if doc.Operators[i].OperatorID == "op-a" {
					line = &doc.Operators[i]
				}
			}
			if line == nil || e.WorkOBh != line.WorkOBh || e.WorkUSD != line.WorkUSD || e.Allocated != line.Allocated {
				t.Errorf("epoch %d line %+v, shares %+v", e.Epoch, e, line)
			}
			a, _ := domain.ParseBaseUnits(e.Allocated)
			allocated += a
		}
		if allocated.String() != d.Allocated {
			t.Errorf("per-epoch allocations sum to %s, operator allocated %s", allocated, d.Allocated)
		}
		if len(d.Settlements) != 2 || d.Settlements[0].State != "confirmed" || d.Settlements[1].State != "in_flight" ||
			d.Settlements[0].Transactions[0].Signature != txSig("1") || d.Settlements[0].Transactions[0].Slot != 4201 ||
			d.Settlements[1].Transactions[0].State != "submitted" {
			t.Errorf("settlements %+v", d.Settlements)
		}
		// Share: the work value part, 9 decimals.
		if d.Epochs[0].Share == "0" || strings.Count(d.Epochs[0].Share, ".") != 1 {
			t.Errorf("share %q", d.Epochs[0].Share)
		}

		var nb OperatorDoc
		s.get(t, "/v1/operators/op-b").json(t, &nb)
		if !nb.CarriedForward || nb.Wallet != "" || len(nb.Settlements) != 0 || nb.Owed == "0" {
			t.Errorf("op-b %+v", nb)
		}
		var nc OperatorDoc
		s.get(t, "/v1/operators/op-c").json(t, &nc)
		if len(nc.Epochs) != 2 || nc.Epochs[1].Epoch != 3 || !nc.Epochs[1].Provisional || nc.Epochs[1].Status != "open" || nc.Epochs[1].Share != "1" {
			t.Errorf("op-c epochs %+v", nc.Epochs)
		}
	})

	t.Run("operators", func(t *testing.T) {
		var list OperatorList
		s.get(t, "/v1/operators").json(t, &list)
		if got, want := mustJSON(t, list.Operators), mustJSON(t, l.Balances()); got != want {
			t.Errorf("operators\n got %s\nwant %s", got, want)
		}
		s.get(t, "/v1/operators?wallet="+simlog.Wallet("op-c")).json(t, &list)
		if len(list.Operators) != 1 || list.Operators[0].OperatorID != "op-c" {
			t.Errorf("by wallet: %+v", list)
		}
		s.get(t, "/v1/operators?wallet="+simlog.Wallet("nobody")).json(t, &list)
		if len(list.Operators) != 0 {
			t.Errorf("unknown wallet: %+v", list)
		}
	})

	t.Run("proof", func(t *testing.T) {
		for _, c := range []struct {
			op    string
			epoch uint64
		}{{"op-a", 1}, {"op-c", 1}, {"op-a", 2}} {
			r := s.get(t, "/v1/operators/"+c.op+"/proof?epoch="+strconv.FormatUint(c.epoch, 10))
			st := l.Epoch(c.epoch).Settlement
			want, err := projections.BuildProof(st, c.op)
			if err != nil {
				t.Fatal(err)
			}
			// The same bytes as `epochledger proof --epoch N --operator ID --json`.
			if got := string(r.body); r.code != 200 || got != mustJSON(t, want) {
				t.Fatalf("%s epoch %d: %d\n got %s\nwant %s", c.op, c.epoch, r.code, got, mustJSON(t, want))
			}
			var p projections.Proof
			r.json(t, &p)
			ps := st.Operator(c.op)
			if p.Epoch != c.epoch || p.OperatorID != c.op || p.Wallet != simlog.Wallet(c.op) ||
				p.Amount != ps.Payout.Amount || p.LeafIndex != ps.Index || p.LeafCount != len(st.Payouts) || p.Root != st.Root {
				t.Fatalf("%s epoch %d: %+v", c.op, c.epoch, p)
			}
			// Checked independently of the settlement package.
			w, _ := domain.ParseWallet(p.Wallet)
			leaf := domain.PayoutLeaf(c.epoch, c.op, w, ps.Payout.Amount)
			if domain.HashHex(leaf) != p.Leaf {
				t.Errorf("leaf %s, want %s", p.Leaf, domain.HashHex(leaf))
			}
			var proof [][32]byte
			for _, h := range p.Proof {
				b, err := hex.DecodeString(h)
				if err != nil || len(b) != 32 {
					t.Fatalf("proof hash %q", h)
				}
				proof = append(proof, [32]byte(b))
			}
			root, _ := domain.ParseHash(p.Root)
			if !domain.VerifyMerkleProof(leaf, p.LeafIndex, p.LeafCount, proof, root) {
				t.Errorf("%s epoch %d: proof does not verify: %+v", c.op, c.epoch, p)
			}
			if c.epoch == 1 && (len(p.Signatures) != 1 || p.Signatures[0] != txSig("1")) {
				t.Errorf("confirmed signatures %v", p.Signatures)
			}
		}
	})

	t.Run("frames", func(t *testing.T) {
		var fl FrameList
		s.get(t, "/v1/operators/op-a/frames").json(t, &fl)
		var got []string
		for _, f := range fl.Frames {
			got = append(got, f.JobID+"/"+strconv.Itoa(int(f.Frame))+":"+f.State+"@"+f.Node)
		}
		want := "j5/0:leased@n1 j3/0:accepted@n1 j2/1:accepted@n4 j1/0:accepted@n1"
		if strings.Join(got, " ") != want {
			t.Errorf("frames %v, want %s", got, want)
		}
		// Paged one at a time, the same list.
		var paged []string
		cursor := ""
		for range 10 {
			var p FrameList
			s.get(t, "/v1/operators/op-a/frames?limit=1&cursor="+cursor).json(t, &p)
			for _, f := range p.Frames {
				paged = append(paged, f.JobID+"/"+strconv.Itoa(int(f.Frame))+":"+f.State+"@"+f.Node)
			}
			if cursor = p.NextCursor; cursor == "" {
				break
			}
		}
		if strings.Join(paged, " ") != want {
			t.Errorf("paged frames %v, want %s", paged, want)
		}
	})

	t.Run("job", func(t *testing.T) {
		r := s.get(t, "/v1/jobs/j1")
		if got, want := string(r.body), mustJSON(t, l.JobDoc("j1")); got != want {
			t.Errorf("job\n got %s\nwant %s", got, want)
		}
		var p struct {
			projections.JobDoc
			NextCursor string `json:"next_cursor"`
		}
		s.get(t, "/v1/jobs/j1?limit=2").json(t, &p)
		if len(p.FrameStates) != 2 || p.NextCursor != "1" {
			t.Errorf("page 1: %+v", p)
		}
		p.NextCursor = ""
		s.get(t, "/v1/jobs/j1?limit=2&cursor=1").json(t, &p)
		if len(p.FrameStates) != 1 || p.FrameStates[0].Frame != 2 || p.NextCursor != "" {
			t.Errorf("page 2: %+v", p)
		}
	})

	t.Run("supply", func(t *testing.T) {
		if got, want := string(s.get(t, "/v1/supply").body), mustJSON(t, l.Supply()); got != want {
			t.Errorf("supply\n got %s\nwant %s", got, want)
		}
	})
}

func TestPagination(t *testing.T) {
	w := newWorld(t)
	w.b.Node("n1", "op-1", "100")
	for i := range 7 {
		w.b.Node("m"+strconv.Itoa(i), "op-"+strconv.Itoa(i+2), "100")
	}
	for n := uint64(1); n <= 4; n++ {
		w.b.CloseEpoch(n, domain.DefaultEmission)
	}
	w.flush()
	s := newServer(t, w, openOptions())

	var epochs []uint64
	cursor, pagesSeen := "", 0
	for {
		var p EpochList
		r := s.get(t, "/v1/epochs?limit=2&cursor="+cursor)
		r.json(t, &p)
		pagesSeen++
		for _, e := range p.Epochs {
			epochs = append(epochs, e.Epoch)
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	if len(epochs) != 5 || epochs[0] != 1 || epochs[4] != 5 || pagesSeen != 3 {
		t.Errorf("epochs %v in %d pages", epochs, pagesSeen)
	}
	var ops []string
	cursor = ""
	for range 20 {
		var p OperatorList
		s.get(t, "/v1/operators?limit=3&cursor="+cursor).json(t, &p)
		for _, o := range p.Operators {
			ops = append(ops, o.OperatorID)
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if strings.Join(ops, ",") != "op-1,op-2,op-3,op-4,op-5,op-6,op-7,op-8" {
		t.Errorf("operators %v", ops)
	}
	// An operator's epochs page over the ledger's epochs.
	var d OperatorDoc
	s.get(t, "/v1/operators/op-1?limit=2&cursor=2").json(t, &d)
	if d.NextCursor != "4" {
		t.Errorf("operator page next_cursor %q", d.NextCursor)
	}
	// A cursor past the end gives an empty page, not an error.
	var p EpochList
	if r := s.get(t, "/v1/epochs?cursor=99"); r.code != 200 {
		t.Errorf("cursor past the end: %d", r.code)
	} else if r.json(t, &p); len(p.Epochs) != 0 || p.NextCursor != "" {
		t.Errorf("cursor past the end: %+v", p)
	}
}

// TestRefusals: malformed requests get a clear 4xx and change nothing.
func TestRefusals(t *testing.T) {
	w := scenario(t)
	s := newServer(t, w, openOptions())
	before := w.ledger()
	hashBefore, _ := before.StateHash()

	long := strings.Repeat("x", 200)
	cases := []struct {
		path   string
		status int
		want   string
	}{
		{"/v1/epochs/abc", 400, "epoch must be an epoch number"},
		{"/v1/epochs/0", 400, "epoch must be an epoch number"},
		{"/v1/epochs/-1", 400, "epoch must be an epoch number"},
		{"/v1/epochs/1.5", 400, "epoch must be an epoch number"},
		{"/v1/epochs/99999999999999999999999", 400, "epoch must be an epoch number"},
		{"/v1/epochs/9", 404, "epoch 9 does not exist yet: epochs 1..2 are closed and 3 is open"},
		{"/v1/epochs/9/shares", 404, "epoch 9 does not exist yet"},
		{"/v1/epochs/x/shares", 400, "epoch must be an epoch number"},
		{"/v1/epochs?limit=0", 400, "limit must be an integer from 1 to 1000"},
		{"/v1/epochs?limit=1001", 400, "limit must be an integer from 1 to 1000"},
		{"/v1/epochs?limit=ten", 400, "limit must be an integer from 1 to 1000"},
		{"/v1/epochs?limit=-5", 400, "limit must be an integer from 1 to 1000"},
		{"/v1/epochs?cursor=abc", 400, "cursor \"abc\" is not a cursor of this list"},
		{"/v1/epochs?limit=1&limit=2", 400, "limit is given 2 times"},
		{"/v1/epochs?lmit=2", 400, "unknown query parameter \"lmit\""},
		{"/v1/epochs?%zz", 400, "malformed query string"},
		{"/v1/epochs/1?limit=2", 400, "this endpoint takes none"},
		{"/v1/supply?x=1", 400, "unknown query parameter"},
		{"/v1/operators/nobody", 404, "operator \"nobody\" is unknown to the log"},
		{"/v1/operators/" + long, 400, "operator id must be 1 to 128"},
		{"/v1/operators/a%20b", 400, "operator id must be"},
		{"/v1/operators/op%2Fa", 404, "operator \"op/a\" is unknown to the log"},
		{"/v1/operators/nobody/frames", 404, "unknown to the log"},
		{"/v1/operators/op-a/frames?cursor=zz", 400, "not a cursor of this list"},
		{"/v1/operators?wallet=not-a-wallet", 400, "wallet must be a base58 Solana address"},
		{"/v1/operators/op-a/proof", 400, "query parameter epoch is required"},
		{"/v1/operators/op-a/proof?epoch=abc", 400, "query parameter epoch must be an epoch number"},
		{"/v1/operators/op-a/proof?epoch=0", 400, "query parameter epoch must be an epoch number"},
		{"/v1/operators/op-a/proof?epoch=3", 404, "epoch 3 has no settlement plan"},
		{"/v1/operators/op-a/proof?epoch=12", 404, "epoch 12 does not exist yet"},
		{"/v1/operators/op-b/proof?epoch=1", 404, "operator \"op-b\" has no payout in epoch 1"},
		{"/v1/operators/op-c/proof?epoch=2", 404, "operator \"op-c\" has no payout in epoch 2"},
		{"/v1/operators/nobody/proof?epoch=1", 404, "unknown to the log"},
		{"/v1/jobs/nope", 404, "job \"nope\" is unknown to the log"},
		{"/v1/jobs/j1?cursor=x", 400, "not a cursor of this list"},
		{"/assets/nope.js", 404, "no such asset"},
		{"/assets/app.txt", 404, "no such asset"},
	}
	for _, c := range cases {
		r := s.get(t, c.path)
		wantError(t, r, c.status, c.want)
		if c.path[:4] == "/v1/" && r.header.Get(api.HeaderLogPosition) == "" {
			t.Errorf("%s: no %s on an error", c.path, api.HeaderLogPosition)
		}
	}
	// Writes to read routes: 405 from the mux, nothing appended.
	for _, p := range []string{"/v1/epochs", "/v1/supply", "/v1/operators/op-a"} {
		if r := do(t, http.MethodPost, s.URL+p, nil, strings.NewReader("{}")); r.code != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: %d", p, r.code)
		}
	}
	// A body on a read route over the limit: 413. (A small limit, so the
	// server drains the refused body and the client never sees a reset.)
	o := openOptions()
	o.MaxBodyBytes = 1024
	o.Log = w.store
	small := httptest.NewServer(New(s.src, o).Handler())
	defer small.Close()
	big := strings.NewReader(strings.Repeat("x", 4096))
	wantError(t, do(t, http.MethodGet, small.URL+"/v1/supply", nil, big), http.StatusRequestEntityTooLarge, "exceeds the limit of 1024 bytes")
	after := w.ledger()
	if h, _ := after.StateHash(); h != hashBefore || after.Position != before.Position {
		t.Errorf("refused requests changed the log: position %d → %d", before.Position, after.Position)
	}
}

func TestETag(t *testing.T) {
	w := scenario(t)
	s := newServer(t, w, openOptions())
	r := s.get(t, "/v1/epochs/1/shares")
	etag := r.header.Get("ETag")
	if r.code != 200 || !strings.HasPrefix(etag, `"`) {
		t.Fatalf("status %d etag %q", r.code, etag)
	}
	r2 := do(t, http.MethodGet, s.URL+"/v1/epochs/1/shares", map[string]string{"If-None-Match": etag}, nil)
	if r2.code != http.StatusNotModified || len(r2.body) != 0 || r2.header.Get("ETag") != etag || r2.header.Get(api.HeaderLogPosition) == "" {
		t.Fatalf("revalidation: %d %q %q", r2.code, r2.body, r2.header)
	}
	if r3 := do(t, http.MethodGet, s.URL+"/v1/epochs/1/shares", map[string]string{"If-None-Match": `"other", W/` + etag}, nil); r3.code != http.StatusNotModified {
		t.Errorf("list with weak tag: %d", r3.code)
	}
	if r4 := do(t, http.MethodGet, s.URL+"/v1/epochs/1/shares", map[string]string{"If-None-Match": `"other"`}, nil); r4.code != 200 || len(r4.body) == 0 {
		t.Errorf("other tag: %d", r4.code)
	}

	// New events in the open epoch: epoch 1's shares are unchanged (304 at
	// a newer position); the open epoch's changed (200, new tag).
	open := s.get(t, "/v1/epochs/3/shares")
	pos0, _ := strconv.ParseUint(r.header.Get(api.HeaderLogPosition), 10, 64)
	w.b.Frame("j5", 1, "n2", 100_000)
	w.flush()
	waitPosition(t, s, pos0+3)
	r5 := do(t, http.MethodGet, s.URL+"/v1/epochs/1/shares", map[string]string{"If-None-Match": etag}, nil)
	if p, _ := strconv.ParseUint(r5.header.Get(api.HeaderLogPosition), 10, 64); r5.code != http.StatusNotModified || p != pos0+3 {
		t.Errorf("unchanged document at a newer position: %d at %d", r5.code, p)
	}
	r6 := do(t, http.MethodGet, s.URL+"/v1/epochs/3/shares", map[string]string{"If-None-Match": open.header.Get("ETag")}, nil)
	if r6.code != 200 || r6.header.Get("ETag") == open.header.Get("ETag") {
		t.Errorf("changed document: %d, tag %q", r6.code, r6.header.Get("ETag"))
	}
}

// waitPosition brings the server's ledger up to the store and checks it
// reflects position pos.
func waitPosition(t *testing.T, s *server, pos uint64) {
	t.Helper()
	s.src.refresh()
	if got := s.src.Position(); got < pos {
		t.Fatalf("server at position %d, want %d", got, pos)
	}
}

func TestReadiness(t *testing.T) {
	w := scenario(t)
	src := &fakeSource{l: w.ledger()}
	a := New(src, openOptions())
	h := a.Handler()
	get := func(path string) *response {
		rec := newRecorder()
		h.ServeHTTP(rec, newRequest(path))
		return rec.response()
	}
	if r := get("/healthz"); r.code != 200 {
		t.Errorf("healthz %d", r.code)
	}
	r := get("/readyz")
	var rd Readiness
	r.json(t, &rd)
	if r.code != http.StatusServiceUnavailable || rd.Ready || r.header.Get("Retry-After") == "" {
		t.Errorf("not ready: readyz %d %s", r.code, r.body)
	}
	for _, p := range []string{"/v1/epochs", "/v1/operators/op-a", "/v1/supply"} {
		r := get(p)
		wantError(t, r, http.StatusServiceUnavailable, "catching up")
		if r.header.Get("Retry-After") != "1" {
			t.Errorf("%s: Retry-After %q", p, r.header.Get("Retry-After"))
		}
	}
	if r := get("/metrics"); r.code != 200 || !strings.Contains(string(r.body), "epochledger_projection_ready 0\n") {
		t.Errorf("metrics while not ready: %d", r.code)
	}
	src.ready.Store(true)
	if r := get("/readyz"); r.code != 200 {
		t.Errorf("ready: readyz %d", r.code)
	}
	if r := get("/v1/epochs"); r.code != 200 {
		t.Errorf("ready: epochs %d", r.code)
	}
}

func TestPanicIsPlain500(t *testing.T) {
	a := New(&fakeSource{l: projections.New(projections.Config{})}, openOptions())
	h := a.instrument("/boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret detail at /work/main/x.go:12")
	}))
	rec := newRecorder()
	h.ServeHTTP(rec, newRequest("/boom"))
	r := rec.response()
	wantError(t, r, 500, "internal error")
	if strings.Contains(string(r.body), "secret") {
		t.Errorf("panic text leaked: %s", r.body)
	}
}

func TestPage(t *testing.T) {
	w := scenario(t)
	o := openOptions()
	o.ExplorerTxURL = "https://explorer.solana.com/tx/{sig}?cluster=devnet"
	s := newServer(t, w, o)
	r := s.get(t, "/")
	if r.code != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(r.body), `content="https://explorer.solana.com/tx/{sig}?cluster=devnet"`) ||
		!strings.Contains(r.header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("page: %d %q\n%s", r.code, r.header, r.body)
	}
	for path, typ := range map[string]string{"/assets/app.js": "text/javascript", "/assets/style.css": "text/css"} {
		if r := s.get(t, path); r.code != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), typ) || len(r.body) < 500 {
			t.Errorf("%s: %d %q", path, r.code, r.header.Get("Content-Type"))
		}
	}
	if r := s.get(t, "/assets/../doc.go"); r.code == 200 {
		t.Errorf("path escape served: %s", r.body)
	}
	if r := s.get(t, "/nope"); r.code != 404 {
		t.Errorf("/nope: %d", r.code)
	}
	bad := DefaultOptions()
	for _, u := range []string{"javascript:alert(1)//{sig}", "https://x/tx/", "ftp://x/{sig}", "/tx/{sig}"} {
		bad.ExplorerTxURL = u
		if err := bad.Validate(); err == nil {
			t.Errorf("explorer URL %q accepted", u)
		}
	}
}
