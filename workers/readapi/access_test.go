package readapi

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestBodyLimits: a body over the limit is refused with 413 before the
// handler runs when Content-Length says so; sent chunked, the handler's
// read fails at the limit; a body within it reaches the handler whole.
func TestBodyLimits(t *testing.T) {
	const max = 64
	var called atomic.Int64
	var readErr atomic.Value
	h := LimitBody(max, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called.Add(1)
		b, err := io.ReadAll(r.Body)
		if err != nil {
			readErr.Store(err)
			writeError(w, http.StatusRequestEntityTooLarge, "read failed")
			return
		}
		writeJSON(w, 200, map[string]int{"bytes": len(b)})
	}))
	ts := httptest.NewServer(h)
	defer ts.Close()
	post := func(body io.Reader, chunked bool) *response {
		req, _ := http.NewRequest(http.MethodPost, ts.URL, body)
		if chunked {
			req.ContentLength = -1 // sent chunked: only the reader sees the size
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return &response{code: res.StatusCode, header: res.Header, body: b}
	}
	big := strings.Repeat("x", 200)
	wantError(t, post(strings.NewReader(big), false), 413, "request body of 200 bytes exceeds the limit of 64 bytes")
	if called.Load() != 0 {
		t.Fatalf("the handler ran for a body whose Content-Length is over the limit")
	}
	post(io.MultiReader(strings.NewReader(big)), true)
	var mbe *http.MaxBytesError
	if err, _ := readErr.Load().(error); !errors.As(err, &mbe) || mbe.Limit != max {
		t.Errorf("chunked body over the limit: handler read error %v, want *http.MaxBytesError at %d", err, max)
	}
	if r := post(strings.NewReader(strings.Repeat("y", max)), false); r.code != 200 || !strings.Contains(string(r.body), `"bytes":64`) {
		t.Errorf("body at the limit: %d %s", r.code, r.body)
	}
}

func TestRateLimit(t *testing.T) {
	w := scenario(t)
	o := DefaultOptions()
	o.RateLimit, o.Burst = 0.01, 3 // no refill within the test
	m := NewMetrics()
	o.Metrics = m
	s := newServer(t, w, o)
	codes := []int{}
	var last *response
	for range 5 {
		last = s.get(t, "/v1/supply")
		codes = append(codes, last.code)
	}
	if codes[0] != 200 || codes[2] != 200 || codes[3] != 429 || codes[4] != 429 {
		t.Fatalf("codes %v", codes)
	}
	wantError(t, last, 429, "rate limit exceeded")
	if ra, err := strconv.Atoi(last.header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q", last.header.Get("Retry-After"))
	}
	// Probes and metrics are never limited; the page shares the budget.
	for range 5 {
		if r := s.get(t, "/healthz"); r.code != 200 {
			t.Fatalf("healthz limited: %d", r.code)
		}
		if r := s.get(t, "/readyz"); r.code != 200 {
			t.Fatalf("readyz limited: %d", r.code)
		}
	}
	if r := s.get(t, "/"); r.code != 429 {
		t.Errorf("page not limited: %d", r.code)
	}
	e, err := parseExposition(string(s.get(t, "/metrics").body))
	if err != nil {
		t.Fatal(err)
	}
	if v := e.value(t, "epochledger_http_rate_limited_total"); v != 3 {
		t.Errorf("rate limited %v, want 3", v)
	}
	if v := e.value(t, `epochledger_http_requests_total{route="/v1/supply",code="429"}`); v != 2 {
		t.Errorf("429s counted %v", v)
	}
}

func TestRateLimiterBuckets(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	rl := NewRateLimiter(2, 2)
	rl.now = func() time.Time { return now }
	for i := range 2 {
		if ok, _ := rl.Allow("a"); !ok {
			t.Fatalf("burst request %d refused", i)
		}
	}
	ok, wait := rl.Allow("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("third: %v wait %v", ok, wait)
	}
	if ok, _ := rl.Allow("b"); !ok {
		t.Fatal("another client refused")
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := rl.Allow("a"); !ok {
		t.Fatal("refilled token refused")
	}
	// Idle buckets are swept.
	now = now.Add(2 * time.Minute)
	rl.Allow("c")
	if len(rl.buckets) != 1 {
		t.Errorf("%d buckets after sweep, want 1", len(rl.buckets))
	}
	// IPv6 clients are keyed by /64, IPv4 by address.
	for addr, want := range map[string]string{
		"192.0.2.7:5555":             "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ff::1]:443":   "2001:db8:1:2::/64",
		"[::ffff:198.51.100.9]:80":   "198.51.100.9",
		"not-an-address":             "not-an-address",
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = addr
		if got := ClientIP(r); got != want {
			t.Errorf("ClientIP(%s) = %s, want %s", addr, got, want)
		}
	}
}
