package coordinator

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mr-tron/base58"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/workers/api"
)

// nonceCache remembers the nonces of accepted signed requests for at least
// window (twice the timestamp window: a request is accepted only within the
// window of its timestamp, so a replay can only come within twice that of
// the original). Two generations rotate, so memory is bounded by the
// request rate × 2 windows.
type nonceCache struct {
	mu        sync.Mutex
	window    time.Duration
	cur, prev map[[16]byte]struct{}
	rotated   time.Time
}

// seen records key's nonce and reports whether it was already there.
func (c *nonceCache) seen(now time.Time, pubkey, nonce string) bool {
	h := sha256.New()
	h.Write([]byte(pubkey))
	h.Write([]byte{0})
	h.Write([]byte(nonce))
	var sum [32]byte
	h.Sum(sum[:0])
	var k [16]byte
	copy(k[:], sum[:16])
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil || now.Sub(c.rotated) >= c.window {
		c.prev, c.cur, c.rotated = c.cur, make(map[[16]byte]struct{}, len(c.cur)), now
	}
	if _, ok := c.cur[k]; ok {
		return true
	}
	if _, ok := c.prev[k]; ok {
		return true
	}
	c.cur[k] = struct{}{}
	return false
}

// signedAuth is a signed request whose headers were checked before its
// body was read (preAuth); verify finishes the check with the body.
type signedAuth struct {
	node  *nodeKey // nil when register
	key   string
	pub   ed25519.PublicKey
	tms   int64
	nonce string
	sig   string
}

// preAuth checks what a signed request's headers alone can tell, so that
// a request that cannot authenticate is refused before its body is read:
// headers present, timestamp within the window and not older than the
// restart floor, nonce well formed, key registered (or, when register, a
// well-formed key: node registration is signed by the key being
// registered).
func (s *Server) preAuth(r *http.Request, register bool) (*signedAuth, error) {
	key, ts, nonce, sig := r.Header.Get(api.HeaderKey), r.Header.Get(api.HeaderTimestamp), r.Header.Get(api.HeaderNonce), r.Header.Get(api.HeaderSignature)
	if key == "" || ts == "" || nonce == "" || sig == "" {
		s.m.authFailures.WithLabelValues("missing").Inc()
		return nil, apiErr(http.StatusUnauthorized, api.CodeMissingAuth, "a signed request needs the headers %s, %s, %s and %s (see the api package documentation)", api.HeaderKey, api.HeaderTimestamp, api.HeaderNonce, api.HeaderSignature)
	}
	now := s.opts.Now()
	tms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		s.m.authFailures.WithLabelValues("stale").Inc()
		return nil, apiErr(http.StatusUnauthorized, api.CodeStale, "%s %q is not Unix milliseconds", api.HeaderTimestamp, ts)
	}
	if !withinWindow(now.UnixMilli(), tms, s.opts.RequestWindow) {
		s.m.authFailures.WithLabelValues("stale").Inc()
		e := apiErr(http.StatusUnauthorized, api.CodeStale, "request timestamp is %s the coordinator's clock; the window is ±%v", skewText(now.UnixMilli(), tms), s.opts.RequestWindow)
		e.ServerTimeMS = now.UnixMilli()
		return nil, e
	}
	if s.replay.before(tms) {
		s.m.authFailures.WithLabelValues("before_restart").Inc()
		e := apiErr(http.StatusServiceUnavailable, api.CodeSignAgain, "the request was signed before the coordinator restarted (timestamp %d): its nonce cannot be checked against the requests accepted before; sign it again", tms)
		e.ServerTimeMS = now.UnixMilli()
		return nil, e
	}
	if !api.ValidNonce(nonce) {
		s.m.authFailures.WithLabelValues("nonce").Inc()
		return nil, apiErr(http.StatusUnauthorized, api.CodeMissingAuth, "%s must be 16 to 128 characters of A-Z a-z 0-9 _ -", api.HeaderNonce)
	}
	a := &signedAuth{key: key, tms: tms, nonce: nonce, sig: sig}
	if register {
		b, err := base58.Decode(key)
		if err != nil || len(b) != ed25519.PublicKeySize {
			s.m.authFailures.WithLabelValues("bad_key").Inc()
			return nil, apiErr(http.StatusUnauthorized, api.CodeBadSignature, "%s %q is not a base58 ed25519 public key", api.HeaderKey, key)
		}
		a.pub = b
	} else {
		a.node = s.keyOf(key)
		if a.node == nil {
			s.m.authFailures.WithLabelValues("unknown_node").Inc()
			return nil, apiErr(http.StatusUnauthorized, api.CodeUnknownNode, "no node is registered with key %s; register it first (epochledger worker register)", key)
		}
		a.pub = a.node.pub
	}
	return a, nil
}

// verify checks the signature over the request message with the body, then
// that the nonce is fresh, and raises the replay floor's durable mark.
func (s *Server) verify(r *http.Request, a *signedAuth, body []byte) error {
	msg := api.RequestMessage(r.Method, r.URL.RequestURI(), sha256.Sum256(body), a.tms, a.nonce)
	if domain.VerifySig(a.pub, msg, a.sig) != nil {
		s.m.authFailures.WithLabelValues("bad_signature").Inc()
		who := "the key " + a.key
		if a.node != nil {
			who = "the registered key of node " + strconv.Quote(a.node.id)
		}
		return apiErr(http.StatusUnauthorized, api.CodeBadSignature, "the request signature does not verify with %s over the canonical request message", who)
	}
	if s.nonces.seen(s.opts.Now(), a.key, a.nonce) {
		s.m.authFailures.WithLabelValues("replay").Inc()
		return apiErr(http.StatusUnauthorized, api.CodeReplay, "nonce %q was already used with this key: replayed request refused", a.nonce)
	}
	if err := s.replay.reserve(a.tms); err != nil {
		// Accepting it without a durable floor would let it be replayed
		// after a restart. The cause (a path) goes to the log only.
		s.log.Error("the replay floor could not be written; signed requests are refused", "err", err)
		return apiErr(http.StatusServiceUnavailable, api.CodeUnavailable, "the coordinator could not record the request's timestamp durably; retry")
	}
	return nil
}

// withinWindow reports whether tms is within ±window of nowMS, without the
// overflow of a subtraction turned into a time.Duration (a timestamp 584
// years away wraps a Duration around to a small one).
func withinWindow(nowMS, tms int64, window time.Duration) bool {
	w := window.Milliseconds()
	// nowMS is a current clock and w at most a few hours: neither bound
	// overflows.
	return tms >= nowMS-w && tms <= nowMS+w
}

// skewText says how far tms is from nowMS, for a refusal.
func skewText(nowMS, tms int64) string {
	d := float64(tms) - float64(nowMS) // float: no overflow for any int64 pair
	dir := "ahead of"
	if d < 0 {
		dir, d = "behind", -d
	}
	if d < float64(100*365*24*time.Hour/time.Millisecond) {
		return fmt.Sprintf("%v %s", (time.Duration(d) * time.Millisecond).Round(time.Millisecond), dir)
	}
	return fmt.Sprintf("%.3g years %s", d/(365.25*24*3600*1000), dir)
}

// authBearer checks the admin token in constant time.
func (s *Server) authBearer(r *http.Request) error {
	if s.opts.AdminToken == "" {
		return apiErr(http.StatusForbidden, api.CodeAdminDisabled, "admin and artist routes are disabled: serve was started without --admin-token-file or EPOCHLEDGER_ADMIN_TOKEN")
	}
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		s.m.authFailures.WithLabelValues("missing").Inc()
		return apiErr(http.StatusUnauthorized, api.CodeMissingAuth, "this route needs Authorization: Bearer <admin token>")
	}
	a, b := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(s.opts.AdminToken))
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		s.m.authFailures.WithLabelValues("bad_token").Inc()
		return apiErr(http.StatusUnauthorized, api.CodeBadToken, "the bearer token is not the admin token")
	}
	return nil
}
