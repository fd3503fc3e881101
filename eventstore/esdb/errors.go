package esdb

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/epochledger/epochledger/eventstore"
)

// Errors of this backend beyond the eventstore sentinels. They wrap the
// client library's error, so its code stays reachable with errors.As.
var (
	// ErrAccessDenied: the credentials lack the ACL for the operation.
	ErrAccessDenied = errors.New("esdb: access denied (check the user's ACL on the stream, and on $all for reads and subscriptions)")
	// ErrUnauthenticated: the server refused the credentials.
	ErrUnauthenticated = errors.New("esdb: authentication failed (check the user and password in the store URL)")
	// ErrStreamDeleted: the stream was tombstoned; it can never be
	// written again. Reads of it also match eventstore.ErrStreamNotFound.
	ErrStreamDeleted = errors.New("esdb: stream deleted")
	// ErrUnavailable: the server stayed unreachable, or without a leader,
	// through every retry.
	ErrUnavailable = errors.New("esdb: server unavailable")
	// ErrPositionOrder: $all returned positions out of order, which only
	// events written in legacy explicit transactions (the TCP API) can do.
	ErrPositionOrder = errors.New("esdb: $all positions are not strictly increasing")
	// ErrNoPosition: the server did not report an event's $all position on
	// a stream read (EventStoreDB before 22.10).
	ErrNoPosition = errors.New("esdb: server reports no $all position for stream reads (EventStoreDB 22.10 or later is required)")
)

// coded is what the client library's *esdb.Error offers. Classifying
// through it (rather than the concrete type, whose fields are unexported)
// lets tests build errors with any code.
type coded interface {
	error
	Code() esdbclient.ErrorCode
}

// errorCode returns the client library's code for err, looking through
// wrapping; a bare gRPC status is translated the way the library does.
func errorCode(err error) (esdbclient.ErrorCode, bool) {
	var c coded
	if errors.As(err, &c) {
		code := c.Code()
		if code == esdbclient.ErrorCodeUnknown {
			// FromError wraps foreign errors with code Unknown: look inside.
			if inner := errors.Unwrap(c); inner != nil {
				if ic, ok := grpcCode(inner); ok {
					return ic, true
				}
			}
		}
		return code, true
	}
	return grpcCode(err)
}

func grpcCode(err error) (esdbclient.ErrorCode, bool) {
	s, ok := status.FromError(err)
	if !ok || s == nil {
		return 0, false
	}
	switch s.Code() {
	case codes.Unavailable:
		return esdbclient.ErrorUnavailable, true
	case codes.DeadlineExceeded:
		return esdbclient.ErrorCodeDeadlineExceeded, true
	case codes.Aborted:
		return esdbclient.ErrorAborted, true
	case codes.PermissionDenied:
		return esdbclient.ErrorCodeAccessDenied, true
	case codes.Unauthenticated:
		return esdbclient.ErrorCodeUnauthenticated, true
	case codes.NotFound:
		return esdbclient.ErrorCodeResourceNotFound, true
	case codes.Unimplemented:
		return esdbclient.ErrorCodeUnsupportedFeature, true
	case codes.Canceled:
		return esdbclient.ErrorCodeUnknown, true
	}
	return esdbclient.ErrorCodeUnknown, true
}

// verdict is what to do about a failed attempt.
type verdict struct {
	retry     bool // try again after a backoff
	reconnect bool // the client is unusable: build a new one first
}

// classify decides whether a failed attempt is worth repeating. Appends
// are repeated too: every attempt first looks for the batch's ids, so an
// attempt that landed before its reply was lost is found, not duplicated.
func classify(err error) verdict {
	if err == nil {
		return verdict{}
	}
	var cb *callbackError
	if errors.As(err, &cb) || errors.Is(err, context.Canceled) || errors.Is(err, eventstore.ErrClosed) {
		return verdict{}
	}
	code, ok := errorCode(err)
	if !ok {
		return verdict{}
	}
	switch code {
	case esdbclient.ErrorUnavailable, // node down, connection refused or reset
		esdbclient.ErrorCodeNotLeader,        // the client already reconnects to the leader it was told of
		esdbclient.ErrorCodeDeadlineExceeded, // a gRPC deadline of one attempt (the caller's context is checked before)
		esdbclient.ErrorAborted:              // server-side timeouts: commit/prepare/forward timeout
		return verdict{retry: true}
	case esdbclient.ErrorCodeConnectionClosed:
		// Discovery failed once; the library then refuses every call.
		return verdict{retry: true, reconnect: true}
	}
	return verdict{}
}

// mapError turns a client library error into the eventstore sentinels
// (wrapping both, so errors.Is works for ours and errors.As for theirs).
func mapError(op string, err error) error {
	if err == nil {
		return nil
	}
	var cb *callbackError
	if errors.As(err, &cb) {
		return cb.err
	}
	for _, sentinel := range []error{eventstore.ErrWrongRevision, eventstore.ErrDuplicateID, eventstore.ErrStreamNotFound,
		eventstore.ErrInvalidEvent, eventstore.ErrClosed, ErrPositionOrder, ErrNoPosition, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, sentinel) {
			return err // already ours
		}
	}
	code, ok := errorCode(err)
	if !ok {
		return fmt.Errorf("esdb: %s: %w", op, err)
	}
	switch code {
	case esdbclient.ErrorCodeWrongExpectedVersion:
		return fmt.Errorf("esdb: %s: %w: %w", op, eventstore.ErrWrongRevision, err)
	case esdbclient.ErrorCodeResourceNotFound:
		return fmt.Errorf("esdb: %s: %w: %w", op, eventstore.ErrStreamNotFound, err)
	case esdbclient.ErrorCodeStreamDeleted:
		return fmt.Errorf("esdb: %s: %w (%w): %w", op, ErrStreamDeleted, eventstore.ErrStreamNotFound, err)
	case esdbclient.ErrorCodeAccessDenied:
		return fmt.Errorf("esdb: %s: %w: %w", op, ErrAccessDenied, err)
	case esdbclient.ErrorCodeUnauthenticated:
		return fmt.Errorf("esdb: %s: %w: %w", op, ErrUnauthenticated, err)
	case esdbclient.ErrorUnavailable, esdbclient.ErrorCodeNotLeader, esdbclient.ErrorCodeDeadlineExceeded,
		esdbclient.ErrorAborted, esdbclient.ErrorCodeConnectionClosed:
		return fmt.Errorf("esdb: %s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("esdb: %s: %w", op, err)
}

// callbackError carries an error returned by a caller's fn through the
// retry loop untouched: it is never retried and is returned as is.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }
func (e *callbackError) Unwrap() error { return e.err }

// RetryPolicy is exponential backoff with jitter for transient failures.
// Attempt n (from 1) that fails is followed, if n < MaxAttempts, by a wait of
//
//	min(MaxDelay, InitialDelay × Multiplier^(n-1)) × (1 − Jitter × r),  r uniform in [0,1)
//
// Jitter spreads the retries of many writers after a leader change.
type RetryPolicy struct {
	MaxAttempts  int           // tries in all, the first included; 1 means no retry
	InitialDelay time.Duration // wait after the first failure
	MaxDelay     time.Duration // cap on one wait
	Multiplier   float64       // growth per failure, >= 1
	Jitter       float64       // fraction of each wait drawn at random, in [0,1]
}

// DefaultRetryPolicy: 8 tries over about 6 s at most, enough to ride out
// a leader election (typically 1–3 s).
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 8, InitialDelay: 50 * time.Millisecond, MaxDelay: 2 * time.Second, Multiplier: 2, Jitter: 0.5}
}

// Validate reports a policy that cannot work.
func (p RetryPolicy) Validate() error {
	switch {
	case p.MaxAttempts < 1:
		return fmt.Errorf("MaxAttempts %d: must be >= 1", p.MaxAttempts)
	case p.InitialDelay < 0 || p.MaxDelay < p.InitialDelay:
		return fmt.Errorf("delays %v..%v: need 0 <= InitialDelay <= MaxDelay", p.InitialDelay, p.MaxDelay)
	case p.Multiplier < 1 || math.IsNaN(p.Multiplier) || math.IsInf(p.Multiplier, 0):
		return fmt.Errorf("Multiplier %v: must be a finite number >= 1", p.Multiplier)
	case p.Jitter < 0 || p.Jitter > 1 || math.IsNaN(p.Jitter):
		return fmt.Errorf("Jitter %v: must be in [0,1]", p.Jitter)
	}
	return nil
}

// Delay returns the wait after failed attempt n (from 1), for a random
// draw r in [0,1).
func (p RetryPolicy) Delay(n int, r float64) time.Duration {
	if n < 1 {
		n = 1
	}
	d := float64(p.InitialDelay) * math.Pow(p.Multiplier, float64(n-1))
	if d > float64(p.MaxDelay) || math.IsInf(d, 0) || math.IsNaN(d) {
		d = float64(p.MaxDelay)
	}
	d *= 1 - p.Jitter*r
	return time.Duration(d)
}
