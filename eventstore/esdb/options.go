package esdb

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// Options configure a Store. Start from DefaultOptions.
type Options struct {
	// StreamPrefix is prepended to every stream name on the server, so
	// several logs can share one EventStoreDB ("" by default). Reads see
	// only streams with the prefix and strip it.
	StreamPrefix string

	// TypePrefixes, when not empty, narrow what ReadAll, Subscribe and Head
	// see to events whose type starts with one of them (a server-side
	// filter). Such a store is a view for readers: Append refuses other
	// types, so that everything it appends stays readable through it.
	// Chain checkpoints always cover every event, whatever this says.
	TypePrefixes []string

	// IdempotencyWindow is how many of a stream's newest events an append
	// with expected revision Any scans for the ids it carries, on top of
	// EventStoreDB's own (bounded, in-memory) idempotency check. Appends
	// with NoStream or an exact revision need no window: they check the
	// exact revisions the batch would occupy. 0 turns the scan off.
	IdempotencyWindow int

	// IDCacheSize is how many event ids this process remembers (id →
	// stream, revision, position) to answer retries without a round trip
	// and to refuse an id already used in another stream. 0 turns it off.
	IDCacheSize int

	// SubscriptionBuffer is the channel capacity of Subscribe.
	SubscriptionBuffer int

	// AppendTimeout is the gRPC deadline of one append attempt.
	AppendTimeout time.Duration

	// Retry governs retries of transient failures (server unavailable, not
	// leader, timeouts, dropped connections).
	Retry RetryPolicy

	// Logger receives the store's and the client library's messages (the
	// client's "error" lines arrive as Warn: most are transient and
	// retried). nil discards them.
	Logger *slog.Logger
}

// DefaultOptions returns the options Open uses when given nil.
func DefaultOptions() *Options {
	return &Options{
		IdempotencyWindow:  1024,
		IDCacheSize:        100_000,
		SubscriptionBuffer: 256,
		AppendTimeout:      10 * time.Second,
		Retry:              DefaultRetryPolicy(),
	}
}

// Validate reports the first option that cannot work.
func (o *Options) Validate() error {
	if strings.HasPrefix(o.StreamPrefix, "$") {
		return fmt.Errorf("esdb: option StreamPrefix %q: must not start with '$' (EventStoreDB system streams)", o.StreamPrefix)
	}
	if len(o.StreamPrefix) > 64 {
		return fmt.Errorf("esdb: option StreamPrefix: %d bytes, at most 64", len(o.StreamPrefix))
	}
	for _, p := range o.TypePrefixes {
		if p == "" || strings.HasPrefix(p, "$") {
			return fmt.Errorf("esdb: option TypePrefixes: %q: a prefix must be non-empty and not start with '$'", p)
		}
	}
	switch {
	case o.IdempotencyWindow < 0:
		return fmt.Errorf("esdb: option IdempotencyWindow %d: must be >= 0", o.IdempotencyWindow)
	case o.IDCacheSize < 0:
		return fmt.Errorf("esdb: option IDCacheSize %d: must be >= 0", o.IDCacheSize)
	case o.SubscriptionBuffer < 0:
		return fmt.Errorf("esdb: option SubscriptionBuffer %d: must be >= 0", o.SubscriptionBuffer)
	case o.AppendTimeout <= 0:
		return fmt.Errorf("esdb: option AppendTimeout %v: must be > 0", o.AppendTimeout)
	}
	if err := o.Retry.Validate(); err != nil {
		return fmt.Errorf("esdb: option Retry: %w", err)
	}
	return nil
}

// Target is a parsed store URL.
type Target struct {
	// Config is what the client library connects with.
	Config *esdbclient.Configuration
	// Redacted is the URL with its password hidden, for logs and errors.
	Redacted string
	// Warnings are settings that parse but probably do not do what was
	// meant (Open logs them).
	Warnings []string
}

// ErrBadURL: a store URL that cannot be used.
var ErrBadURL = errors.New("esdb: bad store URL")

// URL schemes accepted, and what the client library calls them.
var schemes = map[string]string{
	"esdb":               "esdb",
	"esdb+discover":      "esdb+discover",
	"kurrentdb":          "esdb",
	"kurrentdb+discover": "esdb+discover",
	"kurrent":            "esdb",
	"kurrent+discover":   "esdb+discover",
}

// Query settings the client library understands (lower case). Anything
// else is refused: the library would only log a warning, and a typo such
// as "tsl=false" would silently leave TLS on.
var knownSettings = map[string]bool{
	"tls": true, "tlsverifycert": true, "tlscafile": true,
	"usercertfile": true, "userkeyfile": true,
	"nodepreference": true, "discoveryinterval": true, "gossiptimeout": true,
	"maxdiscoverattempts": true, "keepaliveinterval": true, "keepalivetimeout": true,
	"defaultdeadline": true,
}

// ParseURL checks a store URL, as given to `--store`, and returns the
// client configuration and a redacted form. Accepted:
//
//	esdb://host:2113?tls=false                      one node, no TLS
//	esdb://admin:changeit@host:2113?tls=true        credentials (sent only over TLS)
//	esdb://n1:2113,n2:2113,n3:2113?nodePreference=leader   gossip seeds
//	esdb+discover://cluster.dns.name:2113           DNS discovery
//	kurrentdb://… and kurrentdb+discover://…        the same, KurrentDB's names
//
// Settings are the client library's (tls, tlsVerifyCert, tlsCAFile,
// userCertFile, userKeyFile, nodePreference, discoveryInterval,
// gossipTimeout, maxDiscoverAttempts, keepAliveInterval, keepAliveTimeout,
// defaultDeadline), case-insensitive. TLS is on unless tls=false.
func ParseURL(raw string) (Target, error) {
	red := Redact(raw)
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return Target{}, fmt.Errorf("%w %q: no scheme; want esdb://host:port (or esdb+discover://, kurrentdb://)", ErrBadURL, red)
	}
	mapped, ok := schemes[strings.ToLower(scheme)]
	if !ok {
		return Target{}, fmt.Errorf("%w %q: scheme %q; want esdb, esdb+discover, kurrentdb or kurrentdb+discover", ErrBadURL, red, scheme)
	}
	hostPart, query, _ := strings.Cut(rest, "?")
	if at := strings.LastIndex(hostPart, "@"); at >= 0 {
		hostPart = hostPart[at+1:]
	}
	if strings.Trim(hostPart, "/") == "" {
		return Target{}, fmt.Errorf("%w %q: no host", ErrBadURL, red)
	}
	var warnings []string
	vals, err := url.ParseQuery(query)
	if err != nil {
		return Target{}, fmt.Errorf("%w %q: query: %v", ErrBadURL, red, err)
	}
	tlsOff := false
	for k, v := range vals {
		lk := strings.ToLower(k)
		if !knownSettings[lk] {
			return Target{}, fmt.Errorf("%w %q: unknown setting %q (known: tls, tlsVerifyCert, tlsCAFile, userCertFile, userKeyFile, nodePreference, discoveryInterval, gossipTimeout, maxDiscoverAttempts, keepAliveInterval, keepAliveTimeout, defaultDeadline)", ErrBadURL, red, k)
		}
		if len(v) > 1 {
			return Target{}, fmt.Errorf("%w %q: setting %q given %d times", ErrBadURL, red, k, len(v))
		}
		if lk == "tls" && strings.EqualFold(v[0], "false") {
			tlsOff = true
		}
		if lk == "tlsverifycert" && strings.EqualFold(v[0], "false") {
			warnings = append(warnings, "tlsVerifyCert=false: the server's certificate is not checked")
		}
	}
	cfg, err := esdbclient.ParseConnectionString(mapped + "://" + rest)
	if err != nil {
		return Target{}, fmt.Errorf("%w %q: %v", ErrBadURL, red, redactErr(err, raw))
	}
	if cfg.Username != "" && tlsOff {
		warnings = append(warnings, "credentials with tls=false are not sent: the client sends them only over TLS (an insecure server has no authentication)")
	}
	return Target{Config: cfg, Redacted: red, Warnings: warnings}, nil
}

// Redact returns raw with the password of its user information replaced by
// "xxxxx". It works on strings url.Parse refuses (several hosts), and
// leaves strings without credentials unchanged.
func Redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return raw
	}
	user, _, hasPassword := strings.Cut(authority[:at], ":")
	if !hasPassword {
		return raw
	}
	return scheme + "://" + user + ":xxxxx" + authority[at:] + rest[end:]
}

// redactErr removes the password from an error message of the client
// library, which may quote the connection string.
func redactErr(err error, raw string) string {
	msg := err.Error()
	_, rest, _ := strings.Cut(raw, "://")
	authority := rest
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		authority = rest[:end]
	}
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		if _, pw, ok := strings.Cut(authority[:at], ":"); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
			if dec, err := url.PathUnescape(pw); err == nil && dec != "" {
				msg = strings.ReplaceAll(msg, dec, "xxxxx")
			}
		}
	}
	return msg
}
