package coordinator

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mr-tron/base58"

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

// authSigned checks a signed request: headers present, timestamp within
// the window, the signature verifies with the key, the nonce is fresh.
// The key is the registered node's unless register is true (node
// registration is signed by the key being registered). It returns the
// node (nil when register) and the public key text.
func (s *Server) authSigned(r *http.Request, body []byte, register bool) (*nodeKey, string, error) {
	key, ts, nonce, sig := r.Header.Get(api.HeaderKey), r.Header.Get(api.HeaderTimestamp), r.Header.Get(api.HeaderNonce), r.Header.Get(api.HeaderSignature)
	if key == "" || ts == "" || nonce == "" || sig == "" {
		s.m.authFailures.with("missing").add(1)
		return nil, "", apiErr(http.StatusUnauthorized, api.CodeMissingAuth, "a signed request needs the headers %s, %s, %s and %s (see the api package documentation)", api.HeaderKey, api.HeaderTimestamp, api.HeaderNonce, api.HeaderSignature)
	}
	now := s.opts.Now()
	tms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		s.m.authFailures.with("stale").add(1)
		return nil, "", apiErr(http.StatusUnauthorized, api.CodeStale, "%s %q is not Unix milliseconds", api.HeaderTimestamp, ts)
	}
	if d := time.Duration(now.UnixMilli()-tms) * time.Millisecond; d > s.opts.RequestWindow || d < -s.opts.RequestWindow {
		s.m.authFailures.with("stale").add(1)
		e := apiErr(http.StatusUnauthorized, api.CodeStale, "request timestamp is %v from the coordinator's clock; the window is ±%v", d.Round(time.Millisecond), s.opts.RequestWindow)
		e.ServerTimeMS = now.UnixMilli()
		return nil, "", e
	}
	if !api.ValidNonce(nonce) {
		s.m.authFailures.with("nonce").add(1)
		return nil, "", apiErr(http.StatusUnauthorized, api.CodeMissingAuth, "%s must be 16 to 128 characters of A-Z a-z 0-9 _ -", api.HeaderNonce)
	}
	var pub ed25519.PublicKey
	var node *nodeKey
	if register {
		b, err := base58.Decode(key)
		if err != nil || len(b) != ed25519.PublicKeySize {
			s.m.authFailures.with("bad_key").add(1)
			return nil, "", apiErr(http.StatusUnauthorized, api.CodeBadSignature, "%s %q is not a base58 ed25519 public key", api.HeaderKey, key)
		}
		pub = b
	} else {
		node = s.keyOf(key)
		if node == nil {
			s.m.authFailures.with("unknown_node").add(1)
			return nil, "", apiErr(http.StatusUnauthorized, api.CodeUnknownNode, "no node is registered with key %s; register it first (epochledger worker register)", key)
		}
		pub = node.pub
	}
	sg, err := base58.Decode(sig)
	msg := api.RequestMessage(r.Method, r.URL.RequestURI(), sha256.Sum256(body), tms, nonce)
	if err != nil || len(sg) != ed25519.SignatureSize || !ed25519.Verify(pub, msg, sg) {
		s.m.authFailures.with("bad_signature").add(1)
		who := "the key " + key
		if node != nil {
			who = "the registered key of node " + strconv.Quote(node.id)
		}
		return nil, "", apiErr(http.StatusUnauthorized, api.CodeBadSignature, "the request signature does not verify with %s over the canonical request message", who)
	}
	if s.nonces.seen(now, key, nonce) {
		s.m.authFailures.with("replay").add(1)
		return nil, "", apiErr(http.StatusUnauthorized, api.CodeReplay, "nonce %q was already used with this key: replayed request refused", nonce)
	}
	return node, key, nil
}

// authBearer checks the admin token in constant time.
func (s *Server) authBearer(r *http.Request) error {
	if s.opts.AdminToken == "" {
		return apiErr(http.StatusForbidden, api.CodeAdminDisabled, "admin and artist routes are disabled: serve was started without --admin-token-file or EPOCHLEDGER_ADMIN_TOKEN")
	}
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		s.m.authFailures.with("missing").add(1)
		return apiErr(http.StatusUnauthorized, api.CodeMissingAuth, "this route needs Authorization: Bearer <admin token>")
	}
	a, b := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(s.opts.AdminToken))
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		s.m.authFailures.with("bad_token").add(1)
		return apiErr(http.StatusUnauthorized, api.CodeBadToken, "the bearer token is not the admin token")
	}
	return nil
}
