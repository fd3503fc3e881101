package readapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mr-tron/base58"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/scenarios/simlog"
	"github.com/epochledger/epochledger/workers/api"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// world is an embedded store in a temporary directory and the builder
// that writes valid events into it.
type world struct {
	t     *testing.T
	dir   string
	store *filestore.Store
	b     *simlog.Builder
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	s, err := filestore.Open(filepath.Join(dir, "log"), filestore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &world{t: t, dir: dir, store: s, b: simlog.New("readapi", t0)}
}

// flush appends what the builder holds, in one atomic append.
func (w *world) flush() {
	w.t.Helper()
	envs := w.b.Drain()
	if len(envs) == 0 {
		return
	}
	if err := simlog.AppendBatch(context.Background(), w.store, envs); err != nil {
		w.t.Fatal(err)
	}
}

// ledger folds the stored log from scratch.
func (w *world) ledger() *projections.Ledger {
	w.t.Helper()
	w.flush()
	l, err := projections.Build(context.Background(), w.store, projections.Config{}, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return l
}

// add appends one event after checking it the way the command layer does.
func (w *world) add(stream string, ev domain.Event) {
	w.t.Helper()
	l := w.ledger()
	if err := ev.(interface{ Validate() error }).Validate(); err != nil {
		w.t.Fatalf("invalid %s: %v", ev.EventType(), err)
	}
	if err := l.Check(t0.Format(time.RFC3339), ev); err != nil {
		w.t.Fatalf("refused %s: %v", ev.EventType(), err)
	}
	w.b.Add(stream, ev)
	w.flush()
}

func txSig(label string) string {
	s := sha512.Sum512([]byte("tx:" + label))
	return base58.Encode(s[:])
}

func blockhash(label string) string {
	s := sha256.Sum256([]byte("bh:" + label))
	return base58.Encode(s[:])
}

// settle plans epoch n's settlement, submits it in one transaction and,
// when confirm is set, confirms it. It returns the signature.
func (w *world) settle(n uint64, confirm bool) string {
	w.t.Helper()
	l := w.ledger()
	payouts, _ := l.PlanPayouts(n)
	root, err := domain.PlanRoot(n, payouts)
	if err != nil {
		w.t.Fatal(err)
	}
	var total domain.BaseUnits
	rec := make([]domain.Recipient, len(payouts))
	for i, p := range payouts {
		total += p.Amount
		rec[i] = domain.Recipient{OperatorID: p.OperatorID, Wallet: p.Wallet, Amount: p.Amount}
	}
	stream := fmt.Sprintf("settlement-%d", n)
	w.add(stream, &domain.SettlementPlanned{Epoch: n, Root: domain.HashHex(root), Total: total, Payouts: payouts})
	sig := txSig(fmt.Sprint(n))
	w.add(stream, &domain.PayoutSubmitted{Epoch: n, Signature: sig, Recipients: rec, Blockhash: blockhash(fmt.Sprint(n)), LastValidBlockHeight: 1000 + n})
	if confirm {
		w.add(stream, &domain.PayoutConfirmed{Epoch: n, Signature: sig, Slot: 4200 + n})
	}
	return sig
}

// scenario builds three epochs: the first settled, the second closed with
// its payout in flight, the third open. op-b has no wallet (carried
// forward); op-a has two nodes, one of which had a frame rejected.
func scenario(t *testing.T) *world {
	w := newWorld(t)
	b := w.b
	b.Node("n1", "op-a", "860")
	b.Node("n2", "op-b", "430.5")
	b.Node("n3", "op-c", "1000")
	b.Node("n4", "op-a", "500")
	b.SetWallet("op-a")
	b.SetWallet("op-c")
	b.Job("j1", 3, "0.5")
	b.Frame("j1", 0, "n1", 1_800_000)
	b.Frame("j1", 1, "n2", 3_600_000)
	b.Frame("j1", 2, "n3", 60_000)
	b.Complete("j1")
	b.Burn("j1", "600", "2")
	b.Compute("t1", "n2", 60_000, "10")
	b.Job("j2", 2, "1.25")
	b.Assign("j2", 0, "n4")
	b.Rendered("j2", 0, "n4", 1000, "bad")
	b.Reject("j2", 0, "n4", "output hash differs from the verifier's")
	b.Frame("j2", 0, "n3", 900_000)
	b.Frame("j2", 1, "n4", 120_000)
	b.CloseEpoch(1, domain.DefaultEmission)
	w.flush()
	w.settle(1, true)

	b.Job("j3", 2, "0.75")
	b.Frame("j3", 0, "n1", 600_000)
	b.Frame("j3", 1, "n2", 600_000)
	b.Burn("j3", "50", "0.5")
	b.CloseEpoch(2, 1_500_000_000_000)
	w.flush()
	w.settle(2, false)

	b.Job("j4", 1, "2")
	b.Frame("j4", 0, "n3", 300_000)
	b.Job("j5", 2, "1")
	b.Assign("j5", 0, "n1")
	w.flush()
	return w
}

// fakeSource is a LedgerSource over a fixed ledger whose readiness the
// test sets.
type fakeSource struct {
	l     *projections.Ledger
	ready atomic.Bool
}

func (f *fakeSource) View(fn func(*projections.Ledger)) { fn(f.l) }
func (f *fakeSource) Position() uint64                  { return f.l.Position }
func (f *fakeSource) Ready() bool                       { return f.ready.Load() }

// storeSource is a LedgerSource over w's store: the ledger folded when the
// server starts and again by refresh, after the test appends (serve's
// source, the coordinator, is the log's only writer and applies what it
// appends; the tests write the store directly).
type storeSource struct {
	w  *world
	mu sync.RWMutex
	l  *projections.Ledger
}

func (s *storeSource) View(fn func(*projections.Ledger)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(s.l)
}

func (s *storeSource) Position() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.l.Position
}

func (s *storeSource) Ready() bool { return true }

// Head is the store's head, for the lag metric (a HeadSource).
func (s *storeSource) Head() uint64 {
	h, err := s.w.store.Head(context.Background())
	if err != nil {
		s.w.t.Errorf("head: %v", err)
	}
	return h
}

// refresh folds the store again.
func (s *storeSource) refresh() {
	l := s.w.ledger()
	s.mu.Lock()
	s.l = l
	s.mu.Unlock()
}

// server serves an API over a storeSource of w's store, with w's store as
// Options.Log unless opts names one.
type server struct {
	*httptest.Server
	api *API
	src *storeSource
}

func newServer(t *testing.T, w *world, opts Options) *server {
	t.Helper()
	src := &storeSource{w: w}
	src.refresh()
	if opts.Log == nil {
		opts.Log = w.store
	}
	a := New(src, opts)
	ts := httptest.NewServer(a.Handler())
	t.Cleanup(ts.Close)
	return &server{Server: ts, api: a, src: src}
}

// openOptions are options without a rate limit.
func openOptions() Options {
	o := DefaultOptions()
	o.RateLimit = 0
	return o
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r *response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.body)
	}
}

func do(t *testing.T, method, url string, hdr map[string]string, body io.Reader) *response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{code: res.StatusCode, header: res.Header, body: b}
}

func (s *server) get(t *testing.T, path string) *response {
	t.Helper()
	return do(t, http.MethodGet, s.URL+path, nil, nil)
}

// mustJSON marshals v the way the CLI's --json output does (one document
// and a newline).
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// wantError checks a JSON error response: the status, a message that
// contains want, and nothing that looks like an internal detail.
func wantError(t *testing.T, r *response, status int, want string) {
	t.Helper()
	if r.code != status {
		t.Fatalf("status %d, want %d: %s", r.code, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q", ct)
	}
	// serve's one error body, nothing else in it.
	var e api.Error
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body is not an api.Error: %v\n%s", err, r.body)
	}
	if e.Status != status || e.Code != codeOf(status) || !strings.Contains(e.Message, want) {
		t.Errorf("error body %s: want status %d, code %q and a message containing %q", r.body, status, codeOf(status), want)
	}
	for _, leak := range []string{"goroutine", ".go:", "/work/", "/tmp/", "panic", "runtime."} {
		if strings.Contains(string(r.body), leak) {
			t.Errorf("error body leaks %q: %s", leak, r.body)
		}
	}
}

func sleepMS(n int) { time.Sleep(time.Duration(n) * time.Millisecond) }

type recorder struct{ *httptest.ResponseRecorder }

func newRecorder() *recorder { return &recorder{httptest.NewRecorder()} }

func (r *recorder) response() *response {
	res := r.Result()
	b, _ := io.ReadAll(res.Body)
	return &response{code: res.StatusCode, header: res.Header, body: b}
}

func newRequest(path string) *http.Request { return httptest.NewRequest(http.MethodGet, path, nil) }
