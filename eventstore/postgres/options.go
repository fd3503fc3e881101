package postgres

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Options configure a Store.
type Options struct {
	// Schema holds the log's tables (created on first open). Several logs
	// can share one database under different schemas. A schema=NAME
	// parameter of the URL overrides it.
	Schema string
	// MaxGroupEvents and MaxGroupBytes bound one group commit: the appends
	// waiting when the committer is free are stored in one transaction (one
	// WAL flush, one synchronous-standby round trip) up to these sizes. A
	// single larger append is committed alone.
	MaxGroupEvents int
	MaxGroupBytes  int
	// CommitLinger is how long the committer waits, at most, for the
	// appenders its last commit woke to append again before it commits a
	// smaller group without them (0: never waits).
	CommitLinger time.Duration
	// RetryTimeout is how long an operation keeps reconnecting after it
	// lost the server (a failover, a restart) before it fails. Reads and
	// appends are retried: an append's retry first looks for its ids, so
	// one that committed before its reply was lost is found, not written
	// twice.
	RetryTimeout time.Duration
	// CloseTimeout is how long Close lets a commit in flight finish (it
	// may be waiting for the synchronous standby) before it drops the
	// connection; the appends of that commit then fail with their outcome
	// unknown (a retry with the same ids settles it).
	CloseTimeout time.Duration
	// PollInterval is how often a live subscription looks at the head when
	// no notification came (a safety net; LISTEN/NOTIFY wakes it).
	PollInterval time.Duration
	// ReadPage is how many rows one query of ReadAll / ReadStream fetches.
	ReadPage int
	// Logger gets reconnects and retries (nil: discarded).
	Logger *slog.Logger
}

// DefaultOptions returns the options Open uses for nil.
func DefaultOptions() *Options {
	return &Options{
		Schema:         "epochledger",
		MaxGroupEvents: 8192,
		MaxGroupBytes:  16 << 20,
		CommitLinger:   2 * time.Millisecond,
		RetryTimeout:   60 * time.Second,
		CloseTimeout:   10 * time.Second,
		PollInterval:   time.Second,
		ReadPage:       1000,
	}
}

var schemaRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,47}$`)

// Validate reports the first option out of range.
func (o *Options) Validate() error {
	switch {
	case !schemaRE.MatchString(o.Schema):
		return fmt.Errorf("postgres: schema %q: want 1-48 lower-case letters, digits or _, not starting with a digit", o.Schema)
	case o.MaxGroupEvents < 1 || o.MaxGroupBytes < 1:
		return errors.New("postgres: MaxGroupEvents and MaxGroupBytes must be positive")
	case o.RetryTimeout < 0 || o.CloseTimeout < 0 || o.CommitLinger < 0:
		return errors.New("postgres: RetryTimeout, CloseTimeout and CommitLinger must not be negative")
	case o.PollInterval <= 0:
		return errors.New("postgres: PollInterval must be positive")
	case o.ReadPage < 1:
		return errors.New("postgres: ReadPage must be positive")
	}
	return nil
}

// splitURL takes the parameters of ours out of a postgres:// URL (pgx
// would send unknown ones to the server as settings) and returns the rest
// for pgx.
func splitURL(raw string, o *Options) (string, error) {
	if !strings.HasPrefix(raw, "postgres://") && !strings.HasPrefix(raw, "postgresql://") {
		return "", fmt.Errorf("postgres: %q is not a postgres:// URL", Redact(raw))
	}
	// The query alone is parsed: url.Parse has no notion of the
	// multi-host form (postgres://h1:5432,h2:5432/db) that failover needs.
	base, query, ok := strings.Cut(raw, "?")
	if !ok {
		return raw, nil
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", fmt.Errorf("postgres: bad URL parameters in %q: %v", Redact(raw), err)
	}
	if !q.Has("schema") {
		return raw, nil
	}
	o.Schema = q.Get("schema")
	q.Del("schema")
	if len(q) == 0 {
		return base, nil
	}
	return base + "?" + q.Encode(), nil
}

var passwordRE = regexp.MustCompile(`(://[^:/@]*:)[^@/]*@`)

// Redact returns url with its password replaced by xxxxx, for messages.
func Redact(url string) string {
	url = passwordRE.ReplaceAllString(url, "${1}xxxxx@")
	return regexp.MustCompile(`(password=)[^&\s]*`).ReplaceAllString(url, "${1}xxxxx")
}
