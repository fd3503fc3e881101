package readapi

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
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
			writeError(w, http.StatusTooManyRequests, fmt.Sprintf("rate limit exceeded: at most %g requests per second per client (bursts of %g); retry after %d s", rl.rate, rl.burst, secs))
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
// handler's read fails with *http.MaxBytesError).
func LimitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, max))
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, max)
		}
		next.ServeHTTP(w, r)
	})
}
