package readapi

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const goodToken = "s3cret-admin-token-0123456789"

func TestRequireBearer(t *testing.T) {
	var changed atomic.Int64
	admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		changed.Add(1)
		WriteJSON(w, http.StatusOK, map[string]string{"closed": "ok"})
	})
	tok := &AdminToken{token: []byte(goodToken)}
	ts := httptest.NewServer(RequireBearer(tok, admin))
	defer ts.Close()

	for _, c := range []struct {
		name, auth string
		status     int
		want       string
	}{
		{"missing", "", 401, "Authorization: Bearer <token> header is required"},
		{"wrong", "Bearer wrong-token-wrong-token-00", 401, "not valid"},
		{"prefix", "Bearer " + goodToken[:len(goodToken)-1], 401, "not valid"},
		{"longer", "Bearer " + goodToken + "x", 401, "not valid"},
		{"empty bearer", "Bearer ", 401, "header is required"},
		{"basic scheme", "Basic " + goodToken, 401, "header is required"},
		{"no scheme", goodToken, 401, "header is required"},
	} {
		r := do(t, http.MethodPost, ts.URL, map[string]string{"Authorization": c.auth}, strings.NewReader("{}"))
		wantError(t, r, c.status, c.want)
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q", c.name, r.header.Get("WWW-Authenticate"))
		}
		if strings.Contains(string(r.body), goodToken) {
			t.Errorf("%s: token echoed", c.name)
		}
	}
	if n := changed.Load(); n != 0 {
		t.Fatalf("refused requests reached the handler %d times", n)
	}
	for _, auth := range []string{"Bearer " + goodToken, "bearer " + goodToken} {
		if r := do(t, http.MethodPost, ts.URL, map[string]string{"Authorization": auth}, nil); r.code != 200 {
			t.Errorf("%q: %d %s", auth, r.code, r.body)
		}
	}
	if changed.Load() != 2 {
		t.Errorf("handler ran %d times, want 2", changed.Load())
	}

	// No token configured: admin routes are closed.
	closed := httptest.NewServer(RequireBearer(nil, admin))
	defer closed.Close()
	wantError(t, do(t, http.MethodPost, closed.URL, map[string]string{"Authorization": "Bearer "}, nil), 403, "disabled")
	wantError(t, do(t, http.MethodPost, closed.URL, map[string]string{"Authorization": "Bearer anything-at-all-long"}, nil), 403, "disabled")
	if changed.Load() != 2 {
		t.Error("closed admin route ran its handler")
	}
}

func TestLoadAdminToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	os.WriteFile(file, []byte("  "+goodToken+"\n"), 0o600)
	tok, err := LoadAdminToken(file, "from-env-from-env-from-env")
	if err != nil || string(tok.Token()) != goodToken {
		t.Fatalf("file wins: %v %q", err, tok.Token())
	}
	tok, err = LoadAdminToken("", "from-env-from-env-from-env")
	if err != nil || string(tok.Token()) != "from-env-from-env-from-env" {
		t.Fatalf("env: %v", err)
	}
	if _, err := LoadAdminToken("", ""); !errors.Is(err, ErrNoAdminToken) {
		t.Errorf("none: %v", err)
	}
	if _, err := LoadAdminToken(filepath.Join(dir, "missing"), ""); err == nil {
		t.Error("missing file accepted")
	}
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc"), 0o600)
	if _, err := LoadAdminToken(short, ""); err == nil || !strings.Contains(err.Error(), "at least 16 bytes") {
		t.Errorf("short token: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := LoadAdminToken(empty, goodToken); err == nil {
		t.Error("empty file fell back to the environment")
	}
	if _, err := LoadAdminToken("", "has space in the middle of it"); err == nil {
		t.Error("token with whitespace accepted")
	}
}

func TestBodyLimits(t *testing.T) {
	var changed atomic.Int64
	type closeReq struct {
		Epoch uint64 `json:"epoch"`
	}
	const max = 64
	h := LimitBody(max, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req closeReq
		if !DecodeJSON(w, r, max, &req) {
			return
		}
		changed.Add(1)
		WriteJSON(w, 200, req)
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
	big := `{"epoch":1,"pad":"` + strings.Repeat("x", 200) + `"}`
	wantError(t, post(strings.NewReader(big), false), 413, "exceeds the limit of 64 bytes")
	wantError(t, post(io.MultiReader(strings.NewReader(big)), true), 413, "exceeds the limit of 64 bytes")
	wantError(t, post(strings.NewReader(`{"epoch":`), false), 400, "truncated JSON")
	wantError(t, post(strings.NewReader(`{"epoch" 1}`), false), 400, "syntax error at byte")
	wantError(t, post(strings.NewReader(`{"epoch":"x"}`), false), 400, `field "epoch" must be a JSON uint64`)
	wantError(t, post(strings.NewReader(`{"epoch":1,"evil":2}`), false), 400, `unknown field "evil"`)
	wantError(t, post(strings.NewReader(`{"epoch":1}{"epoch":2}`), false), 400, "more than one JSON value")
	wantError(t, post(strings.NewReader(``), false), 400, "empty body")
	if changed.Load() != 0 {
		t.Fatalf("refused bodies changed state %d times", changed.Load())
	}
	if r := post(strings.NewReader(`{"epoch":7}`), false); r.code != 200 || !strings.Contains(string(r.body), `"epoch":7`) || changed.Load() != 1 {
		t.Errorf("good body: %d %s", r.code, r.body)
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
