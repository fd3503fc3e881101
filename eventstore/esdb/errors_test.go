package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"testing"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/epochledger/epochledger/eventstore"
)

// codeErr stands in for the client library's *esdb.Error, whose fields
// cannot be set from outside its package.
type codeErr struct {
	code esdbclient.ErrorCode
	err  error
}

func (e *codeErr) Error() string              { return fmt.Sprintf("code %d: %v", e.code, e.err) }
func (e *codeErr) Code() esdbclient.ErrorCode { return e.code }
func (e *codeErr) Unwrap() error              { return e.err }

func TestClassify(t *testing.T) {
	cases := []struct {
		name      string
		err       error
		retry     bool
		reconnect bool
	}{
		{"unavailable", &codeErr{code: esdbclient.ErrorUnavailable}, true, false},
		{"not leader", &codeErr{code: esdbclient.ErrorCodeNotLeader}, true, false},
		{"deadline", &codeErr{code: esdbclient.ErrorCodeDeadlineExceeded}, true, false},
		{"aborted (server timeout)", &codeErr{code: esdbclient.ErrorAborted}, true, false},
		{"connection closed", &codeErr{code: esdbclient.ErrorCodeConnectionClosed}, true, true},
		{"wrapped unavailable", fmt.Errorf("could not send: %w", &codeErr{code: esdbclient.ErrorUnavailable}), true, false},
		{"grpc unavailable", status.Error(codes.Unavailable, "connection refused"), true, false},
		{"grpc deadline", status.Error(codes.DeadlineExceeded, "slow"), true, false},
		{"unknown wrapping grpc unavailable", &codeErr{code: esdbclient.ErrorCodeUnknown, err: status.Error(codes.Unavailable, "x")}, true, false},
		{"wrong expected version", &codeErr{code: esdbclient.ErrorCodeWrongExpectedVersion}, false, false},
		{"access denied", &codeErr{code: esdbclient.ErrorCodeAccessDenied}, false, false},
		{"unauthenticated", &codeErr{code: esdbclient.ErrorCodeUnauthenticated}, false, false},
		{"not found", &codeErr{code: esdbclient.ErrorCodeResourceNotFound}, false, false},
		{"stream deleted", &codeErr{code: esdbclient.ErrorCodeStreamDeleted}, false, false},
		{"grpc canceled", status.Error(codes.Canceled, "canceled"), false, false},
		{"context canceled", context.Canceled, false, false},
		{"store closed", eventstore.ErrClosed, false, false},
		{"our duplicate", fmt.Errorf("%w: x", eventstore.ErrDuplicateID), false, false},
		{"callback", &callbackError{&codeErr{code: esdbclient.ErrorUnavailable}}, false, false},
		{"plain", io.ErrUnexpectedEOF, false, false},
	}
	for _, c := range cases {
		v := classify(c.err)
		if v.retry != c.retry || v.reconnect != c.reconnect {
			t.Errorf("%s: classify = %+v, want retry %v reconnect %v", c.name, v, c.retry, c.reconnect)
		}
	}
}

func TestMapError(t *testing.T) {
	cases := []struct {
		err  error
		want []error
	}{
		{&codeErr{code: esdbclient.ErrorCodeWrongExpectedVersion}, []error{eventstore.ErrWrongRevision}},
		{&codeErr{code: esdbclient.ErrorCodeResourceNotFound}, []error{eventstore.ErrStreamNotFound}},
		{&codeErr{code: esdbclient.ErrorCodeStreamDeleted}, []error{ErrStreamDeleted, eventstore.ErrStreamNotFound}},
		{&codeErr{code: esdbclient.ErrorCodeAccessDenied}, []error{ErrAccessDenied}},
		{status.Error(codes.PermissionDenied, "no"), []error{ErrAccessDenied}},
		{&codeErr{code: esdbclient.ErrorCodeUnauthenticated}, []error{ErrUnauthenticated}},
		{&codeErr{code: esdbclient.ErrorCodeNotLeader}, []error{ErrUnavailable}},
		{&codeErr{code: esdbclient.ErrorUnavailable}, []error{ErrUnavailable}},
		{fmt.Errorf("esdb: x: %w", context.Canceled), []error{context.Canceled}},
	}
	for _, c := range cases {
		got := mapError("op", c.err)
		for _, w := range c.want {
			if !errors.Is(got, w) {
				t.Errorf("mapError(%v) = %v: not %v", c.err, got, w)
			}
		}
		var ce *codeErr
		if _, isCode := c.err.(*codeErr); isCode && !errors.As(got, &ce) {
			t.Errorf("mapError(%v) = %v: the client's error is no longer reachable", c.err, got)
		}
	}
	stop := errors.New("stop")
	if got := mapError("op", &callbackError{stop}); got != stop {
		t.Errorf("callback error came back as %v, want it as is", got)
	}
	if mapError("op", nil) != nil {
		t.Error("mapError(nil) != nil")
	}
}

// The client library's own error values, produced by the real client
// against the fake server, map to our sentinels.
func TestMapRealClientErrors(t *testing.T) {
	f := startFake(t)
	s := openFake(t, f, nil)
	defer s.Close()
	c, _ := s.current()
	ctx := context.Background()

	rs, err := c.ReadStream(ctx, "no-such-stream", esdbclient.ReadStreamOptions{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rs.Recv()
	var ee *esdbclient.Error
	if !errors.As(err, &ee) || ee.Code() != esdbclient.ErrorCodeResourceNotFound {
		t.Fatalf("read of a missing stream: %v", err)
	}
	if got := mapError("read", err); !errors.Is(got, eventstore.ErrStreamNotFound) {
		t.Errorf("not found: %v", got)
	}

	ev := esdbclient.EventData{EventID: uuid.New(), EventType: "T", Data: []byte("x")}
	if _, err := c.AppendToStream(ctx, "s1", esdbclient.AppendToStreamOptions{}, ev); err != nil {
		t.Fatal(err)
	}
	ev.EventID = uuid.New()
	_, err = c.AppendToStream(ctx, "s1", esdbclient.AppendToStreamOptions{ExpectedRevision: esdbclient.NoStream{}}, ev)
	if !errors.As(err, &ee) || ee.Code() != esdbclient.ErrorCodeWrongExpectedVersion {
		t.Fatalf("append with a stale expected revision: %v", err)
	}
	if got := mapError("append", err); !errors.Is(got, eventstore.ErrWrongRevision) {
		t.Errorf("wrong version: %v", got)
	}

	f.set(func(f *fakeServer) { f.failAppends = 1 })
	_, err = c.AppendToStream(ctx, "s1", esdbclient.AppendToStreamOptions{}, ev)
	if !errors.As(err, &ee) || ee.Code() != esdbclient.ErrorUnavailable || !classify(err).retry {
		t.Fatalf("append to a node that is down: %v (classify %+v)", err, classify(err))
	}

	f.set(func(f *fakeServer) { f.notLeader = 1 })
	_, err = c.AppendToStream(ctx, "s1", esdbclient.AppendToStreamOptions{}, ev)
	if !errors.As(err, &ee) || ee.Code() != esdbclient.ErrorCodeNotLeader || !classify(err).retry {
		t.Fatalf("append to a follower: %v (classify %+v)", err, classify(err))
	}
}

func TestRetryPolicyDelays(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 6, InitialDelay: 100 * time.Millisecond, MaxDelay: time.Second, Multiplier: 2, Jitter: 0.5}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	// Without the random part: 100, 200, 400, 800 ms, then capped at 1 s.
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := p.Delay(i+1, 0); got != w*time.Millisecond {
			t.Errorf("Delay(%d, 0) = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	// Jitter takes up to half off.
	if got := p.Delay(3, 0.999999); got < 200*time.Millisecond || got > 201*time.Millisecond {
		t.Errorf("Delay(3, ~1) = %v, want about 200ms", got)
	}
	for i := 0; i < 1000; i++ {
		r := float64(i) / 1000
		d := p.Delay(4, r)
		if d > 800*time.Millisecond || d <= 400*time.Millisecond {
			t.Fatalf("Delay(4, %v) = %v, outside (400ms, 800ms]", r, d)
		}
	}
	// Huge attempt numbers stay capped instead of overflowing.
	if got := p.Delay(10_000, 0); got != time.Second {
		t.Errorf("Delay(10000, 0) = %v", got)
	}
	if got := p.Delay(0, 0); got != 100*time.Millisecond {
		t.Errorf("Delay(0, 0) = %v", got)
	}
	// The default rides out a typical leader election: several seconds in all.
	d := DefaultRetryPolicy()
	var total time.Duration
	for n := 1; n < d.MaxAttempts; n++ {
		total += d.Delay(n, 0)
	}
	if total < 3*time.Second || total > 10*time.Second {
		t.Errorf("default policy waits %v in all", total)
	}
}

func TestRetryPolicyValidate(t *testing.T) {
	bad := []RetryPolicy{
		{MaxAttempts: 0, Multiplier: 1},
		{MaxAttempts: 1, InitialDelay: time.Second, MaxDelay: time.Millisecond, Multiplier: 1},
		{MaxAttempts: 1, InitialDelay: -1, Multiplier: 1},
		{MaxAttempts: 1, Multiplier: 0.5},
		{MaxAttempts: 1, Multiplier: math.Inf(1)},
		{MaxAttempts: 1, Multiplier: 1, Jitter: 1.5},
		{MaxAttempts: 1, Multiplier: 1, Jitter: math.NaN()},
	}
	for _, p := range bad {
		if p.Validate() == nil {
			t.Errorf("Validate accepted %+v", p)
		}
	}
}

// The store retries exactly the transient failures, as many times as the
// policy says.
func TestStoreRetries(t *testing.T) {
	f := startFake(t)
	s := openFake(t, f, nil) // 5 attempts
	defer s.Close()
	ctx := context.Background()
	evs := events(1)

	f.set(func(f *fakeServer) { f.failAppends = 4; f.appends = 0 })
	if _, err := s.Append(ctx, "retry-ok", eventstore.Any(), evs...); err != nil {
		t.Fatalf("append after 4 transient failures: %v", err)
	}
	if f.appends != 5 {
		t.Errorf("%d append calls, want 5", f.appends)
	}

	f.set(func(f *fakeServer) { f.failAppends = 5; f.appends = 0 })
	_, err := s.Append(ctx, "retry-exhausted", eventstore.Any(), events(1)...)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("append after 5 failures: %v, want ErrUnavailable", err)
	}
	if f.appends != 5 {
		t.Errorf("%d append calls, want 5", f.appends)
	}

	// A refusal is not retried.
	f.set(func(f *fakeServer) { f.appends = 0 })
	if _, err := s.Append(ctx, "retry-ok", eventstore.NoStream(), events(1)...); !errors.Is(err, eventstore.ErrWrongRevision) {
		t.Fatalf("stale expected revision: %v", err)
	}
	if f.appends > 1 {
		t.Errorf("%d append calls for a refused append", f.appends)
	}

	// Not leader: the client reconnects to the node named, the store retries.
	f.set(func(f *fakeServer) { f.notLeader = 2 })
	if _, err := s.Append(ctx, "retry-leader", eventstore.NoStream(), events(2)...); err != nil {
		t.Fatalf("append through a leader change: %v", err)
	}
}
