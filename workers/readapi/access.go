package readapi

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ---- rate limiting ----

// RateLimiter is a token bucket per client: each client may make Burst
// requests at once and RatePerSecond on average. Buckets of clients that
// went quiet are dropped, so memory follows the number of active clients.
type RateLimiter struct {
	rate    float64
	burst   float64
	now     func() time.Time
	metrics *Metrics
	// ClientKey names the client of a request; ClientIP by default.
	ClientKey func(*http.Request) string

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxClients bounds the buckets kept; past it idle buckets are swept at once.
const maxClients = 100_000

// NewRateLimiter returns a limiter of perSecond requests per client with
// bursts of burst (at least 1).
func NewRateLimiter(perSecond float64, burst int) *RateLimiter {
	if burst < 1 {
		burst = 1
	}
	return &RateLimiter{rate: perSecond, burst: float64(burst), now: time.Now, ClientKey: ClientIP, buckets: map[string]*bucket{}}
}

// Allow takes a token from key's bucket. When none is left it returns
// false and how long until one is.
func (rl *RateLimiter) Allow(key string) (bool, time.Duration) {
	now := rl.now()
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if now.Sub(rl.lastSweep) > time.Minute || len(rl.buckets) >= maxClients {
		rl.sweep(now)
	}
	b := rl.buckets[key]
	if b == nil {
		b = &bucket{tokens: rl.burst, at: now}
		rl.buckets[key] = b
	} else if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(rl.burst, b.tokens+d.Seconds()*rl.rate)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / rl.rate * float64(time.Second))
	return false, wait
}

// sweep drops the buckets that have refilled: those clients are back to
// where a new client starts.
func (rl *RateLimiter) sweep(now time.Time) {
	rl.lastSweep = now
	full := time.Duration(rl.burst / rl.rate * float64(time.Second))
	for k, b := range rl.buckets {
		if now.Sub(b.at) >= full {
			delete(rl.buckets, k)
		}
	}
}

// Wrap refuses requests over the limit with 429 Too Many Requests and a
// Retry-After header (whole seconds, at least 1).
func (rl *RateLimiter) Wrap(next http.Handler) http.Handler {
	if rl == nil || rl.rate <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, wait := rl.Allow(rl.ClientKey(r))
		if !ok {
			rl.metrics.RateLimited()
			secs := int(math.Ceil(wait.Seconds()))
			if secs < 1 {
				secs = 1
			}
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			WriteError(w, http.StatusTooManyRequests, fmt.Sprintf("rate limit exceeded: at most %g requests per second per client (bursts of %g); retry after %d s", rl.rate, rl.burst, secs))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ClientIP returns the client address of a request as the rate limit keys
// it: the IPv4 address, or the /64 prefix of an IPv6 address (one host
// commonly holds a whole /64). It trusts only the connection's address,
// never forwarding headers.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// ---- request bodies ----

// LimitBody refuses request bodies over max bytes: at once with 413 when
// Content-Length says so, otherwise when a read passes the limit (the
// handler's read fails with *http.MaxBytesError; DecodeJSON answers 413).
func LimitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, max))
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, max)
		}
		next.ServeHTTP(w, r)
	})
}

// DecodeJSON reads one JSON value of at most max bytes from the request
// body into v, refusing unknown fields and trailing data. On failure it
// writes the error response (413 for an oversized body, 400 otherwise) and
// returns false; the handler then returns without changing anything.
func DecodeJSON(w http.ResponseWriter, r *http.Request, max int64, v any) bool {
	if r.ContentLength > max {
		WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, max))
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", max))
		} else {
			WriteError(w, http.StatusBadRequest, "request body could not be read")
		}
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		WriteError(w, http.StatusBadRequest, "request body is not valid JSON for this endpoint: "+jsonProblem(err))
		return false
	}
	if dec.More() {
		WriteError(w, http.StatusBadRequest, "request body holds more than one JSON value")
		return false
	}
	return true
}

// jsonProblem describes a decoding error without echoing internals.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be a JSON %s", te.Field, te.Type.Kind())
	case errors.Is(err, io.EOF):
		return "empty body"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed JSON"
}

// ---- admin bearer token ----

// ErrNoAdminToken: neither a token file nor the environment gave a token.
var ErrNoAdminToken = errors.New("readapi: no admin token configured (--admin-token-file or EPOCHLEDGER_ADMIN_TOKEN)")

// MinAdminTokenLen is the shortest admin token accepted, in bytes.
const MinAdminTokenLen = 16

// TokenSource gives the admin token requests are checked against.
type TokenSource interface {
	Token() []byte
}

// AdminToken is a fixed admin bearer token.
type AdminToken struct{ token []byte }

// Token returns the token.
func (t *AdminToken) Token() []byte {
	if t == nil {
		return nil
	}
	return t.token
}

// LoadAdminToken returns the admin token from file (its content, surrounding
// whitespace trimmed) when file is not empty, else envValue (the value of
// EPOCHLEDGER_ADMIN_TOKEN as the caller read it). It refuses a missing or
// unreadable file, a token shorter than MinAdminTokenLen bytes or holding
// whitespace, and returns ErrNoAdminToken when both are empty.
func LoadAdminToken(file, envValue string) (*AdminToken, error) {
	tok, from := envValue, "EPOCHLEDGER_ADMIN_TOKEN"
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("admin token file: %w", err)
		}
		tok, from = string(b), "admin token file "+file
	}
	tok = strings.TrimSpace(tok)
	switch {
	case tok == "" && file == "":
		return nil, ErrNoAdminToken
	case tok == "":
		return nil, fmt.Errorf("%s is empty", from)
	case len(tok) < MinAdminTokenLen:
		return nil, fmt.Errorf("%s: the admin token must be at least %d bytes", from, MinAdminTokenLen)
	case strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return nil, fmt.Errorf("%s: the admin token must not contain whitespace or control characters", from)
	}
	return &AdminToken{token: []byte(tok)}, nil
}

// RequireBearer lets a request through only with the header
// `Authorization: Bearer <token>` naming src's token, compared in constant
// time. Otherwise: 401 with WWW-Authenticate when the token is missing or
// wrong, 403 when no token is configured (admin routes are then closed).
func RequireBearer(src TokenSource, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var want []byte
		if src != nil {
			want = src.Token()
		}
		if len(want) == 0 {
			WriteError(w, http.StatusForbidden, "admin endpoints are disabled: the server has no admin token")
			return
		}
		auth := r.Header.Get("Authorization")
		scheme, got, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || got == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="epochledger admin"`)
			WriteError(w, http.StatusUnauthorized, "admin endpoint: an Authorization: Bearer <token> header is required")
			return
		}
		// Compare digests so that neither the content nor the length of
		// the token shows in the timing.
		a, b := sha256.Sum256([]byte(strings.TrimSpace(got))), sha256.Sum256(want)
		if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="epochledger admin", error="invalid_token"`)
			WriteError(w, http.StatusUnauthorized, "admin endpoint: the bearer token is not valid")
			return
		}
		next.ServeHTTP(w, r)
	})
}
