package coordinator

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/workers/api"
	"github.com/epochledger/epochledger/workers/nodekey"
)

// A timestamp 2^64 ns (584.5 years) in the past wrapped the window check's
// time.Duration around to half a millisecond and passed. It is refused.
func TestTimestampWindowDoesNotOverflow(t *testing.T) {
	h := newHarness(t, nil)
	h.node("n1", "op-a", "500")
	now := h.clock.Now().UnixMilli()
	head := h.head()
	for _, ts := range []int64{now - 18_446_744_073_709, now + 18_446_744_073_709, math.MinInt64, math.MaxInt64, now - 61_000, now + 61_000} {
		hdr := signedHeaders(h.keys["n1"], "", "POST", api.PathLease, nil, ts, api.NewNonce())
		if code, e := h.raw("POST", api.PathLease, nil, hdr); code != 401 || e.Code != api.CodeStale || e.ServerTimeMS == 0 {
			t.Errorf("timestamp %d (now %d): %d %+v, want 401 %s", ts, now, code, e, api.CodeStale)
		} else {
			t.Logf("timestamp %d: %s", ts, e.Message)
		}
	}
	if h.head() != head {
		t.Fatal("a stale request appended")
	}
	// Requests timestamped before the coordinator started are refused
	// (replay.go): inside the window means after the start here.
	h.clock.Advance(70 * time.Second)
	hdr := signedHeaders(h.keys["n1"], "", "POST", api.PathLease, nil, h.clock.Now().UnixMilli()-59_000, api.NewNonce())
	if code, e := h.raw("POST", api.PathLease, nil, hdr); code != 200 {
		t.Fatalf("timestamp inside the window: %d %+v", code, e)
	}
}

// lease_seconds is clamped to the maximum whatever its size: 1e308
// overflowed the Duration conversion and gave a 1 s lease.
func TestLeaseSecondsClamped(t *testing.T) {
	def, maxD := 2*time.Minute, time.Hour
	for _, c := range []struct {
		sec  float64
		want time.Duration
	}{{0, def}, {0.1, time.Second}, {90, 90 * time.Second}, {3600, maxD}, {3601, maxD}, {1e12, maxD}, {9.3e9, maxD}, {1e308, maxD}, {math.MaxFloat64, maxD}, {math.Inf(1), maxD}} {
		got, err := leaseDuration(c.sec, def, maxD)
		if err != nil || got != c.want {
			t.Errorf("lease_seconds %v: %v %v, want %v", c.sec, got, err, c.want)
		}
	}
	for _, sec := range []float64{-1, -1e308, math.Inf(-1), math.NaN()} {
		if _, err := leaseDuration(sec, def, maxD); err == nil {
			t.Errorf("lease_seconds %v accepted", sec)
		}
	}

	h := newHarness(t, nil)
	n1 := h.node("n1", "op-a", "500")
	h.job("j1", 2, "1")
	r, err := n1.Lease(context.Background(), api.LeaseRequest{Max: 1, LeaseSeconds: 1e308})
	if err != nil || len(r.Leases) != 1 {
		t.Fatalf("lease: %v %+v", err, r)
	}
	until, _ := time.Parse(time.RFC3339Nano, r.Leases[0].LeaseUntil)
	if want := h.clock.Now().Add(h.opts.MaxLeaseDuration); until.Sub(want).Abs() > time.Second {
		t.Fatalf("lease_seconds 1e308 leased until %v, want the maximum (%v)", until, want)
	}
}

// The mux's own 404 and 405 answers are the JSON error body of every other
// refusal.
func TestMuxErrorsAreJSON(t *testing.T) {
	h := newHarness(t, nil)
	for _, c := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/no/such/route", 404, api.CodeNotFound},
		{"DELETE", api.PathLease, 405, api.CodeMethod},
		{"GET", api.PathJobs, 405, api.CodeMethod},
	} {
		req, _ := http.NewRequest(c.method, h.ts.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e api.Error
		if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &e) != nil || e.Code != c.code || e.Status != c.status || e.Message == "" {
			t.Errorf("%s %s: %d %q %s", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		if c.status == 405 && resp.Header.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", c.method, c.path)
		}
	}
}

// A signed request captured before a restart is refused after it, the
// nonce cache being empty: also one signed by a clock 30 s ahead, which
// only the persisted floor covers.
func TestReplayAfterRestartRefused(t *testing.T) {
	floor := filepath.Join(t.TempDir(), "replay-floor")
	h := newHarness(t, func(o *Options) { o.ReplayFloorPath = floor; o.LeasesPerGPU = 4 })
	h.node("n1", "op-a", "500")
	h.job("j1", 8, "1")
	now := h.clock.Now().UnixMilli()
	captured := []map[string]string{
		signedHeaders(h.keys["n1"], "", "POST", api.PathLease, nil, now, "captured-nonce-00001"),
		signedHeaders(h.keys["n1"], "", "POST", api.PathLease, nil, now+30_000, "captured-nonce-00002"),
	}
	for i, hdr := range captured {
		if code, e := h.raw("POST", api.PathLease, nil, hdr); code != 200 {
			t.Fatalf("request %d: %d %+v", i, code, e)
		}
	}
	h.restart(nil)
	head := h.head()
	for i, hdr := range captured {
		code, e := h.raw("POST", api.PathLease, nil, hdr)
		if code/100 == 2 {
			t.Fatalf("captured request %d replayed after the restart: %d", i, code)
		}
		t.Logf("replay %d: %d %s %s", i, code, e.Code, e.Message)
	}
	if h.head() != head {
		t.Fatal("a replay appended")
	}
	// A fresh request is served once the clock passes what the previous
	// process may have accepted.
	fresh := signedHeaders(h.keys["n1"], "", "POST", api.PathLease, nil, h.clock.Now().UnixMilli(), api.NewNonce())
	if code, _ := h.raw("POST", api.PathLease, nil, fresh); code != 503 {
		t.Fatalf("a request timestamped before what the previous process accepted: %d, want 503 (sign again)", code)
	}
	h.clock.Advance(32 * time.Second)
	fresh = signedHeaders(h.keys["n1"], "", "POST", api.PathLease, nil, h.clock.Now().UnixMilli(), api.NewNonce())
	if code, e := h.raw("POST", api.PathLease, nil, fresh); code != 200 {
		t.Fatalf("fresh request after the restart: %d %+v", code, e)
	}

	// Without a floor file the start time bounds what was accepted.
	m := newHarness(t, func(o *Options) { o.LeasesPerGPU = 4 })
	m.node("n1", "op-a", "500")
	m.job("j1", 8, "1")
	hdr := signedHeaders(m.keys["n1"], "", "POST", api.PathLease, nil, m.clock.Now().UnixMilli(), "captured-nonce-00003")
	if code, e := m.raw("POST", api.PathLease, nil, hdr); code != 200 {
		t.Fatalf("%d %+v", code, e)
	}
	m.clock.Advance(time.Millisecond)
	m.restart(nil)
	if code, _ := m.raw("POST", api.PathLease, nil, hdr); code/100 == 2 {
		t.Fatal("captured request replayed after a restart without a floor file")
	}
	fresh = signedHeaders(m.keys["n1"], "", "POST", api.PathLease, nil, m.clock.Now().UnixMilli(), api.NewNonce())
	if code, e := m.raw("POST", api.PathLease, nil, fresh); code != 200 {
		t.Fatalf("fresh request: %d %+v", code, e)
	}
}

// failingStore fails every append the way a full descriptor table does,
// naming a file of the data directory.
type failingStore struct{ Store }

func (f failingStore) Append(context.Context, string, eventstore.ExpectedRevision, ...eventstore.EventData) (eventstore.AppendResult, error) {
	return eventstore.AppendResult{}, fmt.Errorf("filestore: create /srv/secret-data/segment-000002.log: %w", errors.New("too many open files"))
}

// 5xx bodies carry a generic message and the request id, never the
// store's error text.
func TestServerErrorsHideInternals(t *testing.T) {
	h := newHarness(t, nil)
	h.stop()
	st, err := filestore.Open(h.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	o := h.opts
	srv, err := New(context.Background(), failingStore{st}, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	body := []byte(`{"job_id":"j1","artist":"a","scene_hash":"` + sceneHash("j1") + `","frames":1,"usd_per_obh":"1"}`)
	for _, path := range []string{api.PathJobs, api.PathJobs, "/readyz"} {
		method := "POST"
		if path == "/readyz" {
			method = "GET"
		}
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 500 || strings.Contains(string(b), "secret-data") || strings.Contains(string(b), "open files") {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		if id := resp.Header.Get(HeaderRequestID); id == "" || (path != "/readyz" && !strings.Contains(string(b), id)) {
			t.Fatalf("%s: request id %q not in %s", path, id, b)
		}
		t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
}

// A request that cannot authenticate is answered from its headers alone:
// the body is never waited for, and the connection is closed.
func TestAuthBeforeBody(t *testing.T) {
	h := newHarness(t, nil)
	h.node("n1", "op-a", "500")
	u, _ := url.Parse(h.ts.URL)
	now := h.clock.Now().UnixMilli()
	signedStale := signedHeaders(h.keys["n1"], "", "POST", api.PathResults, nil, now-3_600_000, api.NewNonce())
	for _, c := range []struct {
		name, path string
		hdr        map[string]string
		status     int
	}{
		{"no signature", api.PathResults, nil, 401},
		{"stale signature", api.PathResults, signedStale, 401},
		{"no bearer token", api.PathJobs, nil, 401},
		{"wrong bearer token", api.PathJobs, map[string]string{"Authorization": "Bearer wrong-token-0000000"}, 401},
		{"registration without token", api.PathNodes, nil, 401},
	} {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n", c.path)
		for k, v := range c.hdr {
			fmt.Fprintf(conn, "%s: %s\r\n", k, v)
		}
		fmt.Fprintf(conn, "\r\n{\"results\":[")
		// The rest of the body never comes; the answer must.
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: no answer before the body: %v", c.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		conn.Close()
		if resp.StatusCode != c.status || !resp.Close {
			t.Errorf("%s: %d close=%v %s", c.name, resp.StatusCode, resp.Close, b)
		}
	}
}

// notStoredStore fails appends with eventstore.ErrNotStored (nothing
// written, the store still usable, as for a segment the store could not
// create for want of descriptors) while fail is set, and the first append
// of a JobCompleted once.
type notStoredStore struct {
	Store
	fail       atomic.Bool
	completion atomic.Bool
}

func (f *notStoredStore) Append(ctx context.Context, stream string, exp eventstore.ExpectedRevision, evs ...eventstore.EventData) (eventstore.AppendResult, error) {
	cause := fmt.Errorf("%w: create segment-000002.log: too many open files", eventstore.ErrNotStored)
	if f.fail.Load() {
		return eventstore.AppendResult{}, cause
	}
	for _, e := range evs {
		if e.Type == domain.TypeJobCompleted && f.completion.CompareAndSwap(false, true) {
			return eventstore.AppendResult{}, cause
		}
	}
	return f.Store.Append(ctx, stream, exp, evs...)
}

// An append the store did not store at all (eventstore.ErrNotStored) is
// answered 503 and does not stop the coordinator: the next requests are
// served and appended without a restart, a job completion is retried, and
// the log matches the answers.
func TestNotStoredIsNotSticky(t *testing.T) {
	h := newHarness(t, nil)
	h.stop()
	st, err := filestore.Open(h.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs := &notStoredStore{Store: st}
	o := h.opts
	srv, err := New(context.Background(), fs, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	h.srv, h.store = srv, st
	admin := api.NewClient(ts.URL, nil, adminToken)
	ctx := context.Background()
	job := api.SubmitJobRequest{JobID: "j1", Artist: "a", SceneHash: sceneHash("j1"), Frames: 1, USDPerOBh: "1"}
	fs.fail.Store(true)
	_, err = admin.SubmitJob(ctx, job)
	if e := asAPIError(err); e == nil || e.Status != 503 || strings.Contains(e.Message, "segment") {
		t.Fatalf("append not stored: %v", err)
	}
	if h.count(domain.TypeJobSubmitted) != 0 {
		t.Fatal("a refused job is in the log")
	}
	fs.fail.Store(false)
	if _, err := admin.SubmitJob(ctx, job); err != nil {
		t.Fatalf("after the store recovered: %v", err)
	}
	if srv.Failed() != nil || !srv.Ready() {
		t.Fatalf("the coordinator stopped: %v", srv.Failed())
	}
	// A job completion the store did not store is tried again.
	k, _ := nodekey.Generate()
	h.keys["n1"] = k
	c := api.NewClient(ts.URL, k, adminToken)
	if _, err := c.RegisterNode(ctx, api.RegisterNodeRequest{NodeID: "n1", OperatorID: "op", GPU: "RTX 4090", OBScore: "500"}); err != nil {
		t.Fatal(err)
	}
	r, err := c.Lease(ctx, api.LeaseRequest{Max: 1})
	if err != nil || len(r.Leases) != 1 {
		t.Fatalf("%v %+v", err, r)
	}
	if _, err := c.Report(ctx, h.result("n1", r.Leases[0], 1)); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the completion, tried again", func() bool { return h.count(domain.TypeBurnRecorded) == 1 })
	if !fs.completion.Load() || h.count(domain.TypeJobCompleted) != 1 {
		t.Fatal("the completion was not refused once and then stored")
	}
	h.checkReplay()
	h.ts = nil // the harness's cleanup has nothing more to stop
}

// LimitListener holds at most n connections open: the next is accepted
// only when one closes.
func TestLimitListener(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitListener(raw, 3)
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	for range 5 {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	var open []net.Conn
	for range 3 {
		open = append(open, <-accepted)
	}
	// A fourth is accepted only once one of the three is closed: the
	// first byte a client sends to a connection still in the backlog is
	// never read by the server before that.
	select {
	case c := <-accepted:
		t.Fatalf("a fourth connection accepted while three are open: %v", c.RemoteAddr())
	default:
	}
	open[0].Close()
	c4 := <-accepted
	defer c4.Close()
	open[1].Close()
	c5 := <-accepted
	defer c5.Close()
	open[2].Close()
	ln.Close()
	if _, ok := <-accepted; ok {
		t.Fatal("accepted after close")
	}
}
