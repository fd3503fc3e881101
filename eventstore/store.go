// Package eventstore defines the contract every event log backend of
// epochledger implements, and the types that cross it.
//
// The log is append-only. Every stored event has a global position (strictly
// increasing; gap-free from 1 in the embedded store) and a revision inside its
// stream (from 0). Appends are atomic: all events of one call are stored, or
// none. Event ids are chosen by the client and make retries idempotent: an
// append whose ids are all already stored in that stream returns the stored
// positions and writes nothing.
//
// Backends live in subpackages named for their medium (filestore, esdb,
// postgres); the conformance suite in eventstoretest runs against each of
// them.
package eventstore

import (
	"context"
	"errors"
	"fmt"
)

// Sentinel errors. Backends wrap them with detail; match with errors.Is.
var (
	// ErrWrongRevision: the stream is not at the expected revision.
	ErrWrongRevision = errors.New("eventstore: wrong expected revision")
	// ErrDuplicateID: an id of the request is already stored, but the request
	// is not a pure retry of an earlier append (another stream, or only some
	// of its ids stored), or the request repeats an id.
	ErrDuplicateID = errors.New("eventstore: duplicate event id")
	// ErrStreamNotFound: a read of a stream that has no events.
	ErrStreamNotFound = errors.New("eventstore: stream not found")
	// ErrCorrupt: stored bytes fail their checks. Backends wrap it in a
	// *CorruptError that says where.
	ErrCorrupt = errors.New("eventstore: corrupt log")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("eventstore: store closed")
	// ErrLocked: another process holds the store.
	ErrLocked = errors.New("eventstore: store is locked by another process")
	// ErrInvalidEvent: an event the store cannot take (empty type, stream
	// or id, oversized fields).
	ErrInvalidEvent = errors.New("eventstore: invalid event")
	// ErrNotStored: an append that failed before any of it was written (a
	// segment that could not be created, no space for the write): nothing
	// of it is in the log and the store stays usable, so the caller may
	// retry. Backends wrap their cause with it. An append error without it
	// (nor one of the refusals above) is of unknown outcome.
	ErrNotStored = errors.New("eventstore: append not stored")
)

// CorruptError reports damaged stored bytes with their location.
type CorruptError struct {
	Segment  string // file or partition holding the damage
	Offset   int64  // byte offset inside Segment
	Position uint64 // global position of the damaged event, 0 when unknown
	Reason   string
}

func (e *CorruptError) Error() string {
	s := fmt.Sprintf("eventstore: corrupt log: %s at offset %d", e.Segment, e.Offset)
	if e.Position > 0 {
		s += fmt.Sprintf(" (position %d)", e.Position)
	}
	return s + ": " + e.Reason
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// ExpectedRevision is the optimistic-concurrency condition of an append.
type ExpectedRevision struct {
	kind byte // 0 any, 1 no stream, 2 exact
	rev  uint64
}

// Any accepts the append whatever the stream's state.
func Any() ExpectedRevision { return ExpectedRevision{} }

// NoStream accepts the append only when the stream has no events.
func NoStream() ExpectedRevision { return ExpectedRevision{kind: 1} }

// Exact accepts the append only when the stream's last event has revision rev.
func Exact(rev uint64) ExpectedRevision { return ExpectedRevision{kind: 2, rev: rev} }

// IsAny, IsNoStream and Revision describe the condition to backends.
func (e ExpectedRevision) IsAny() bool      { return e.kind == 0 }
func (e ExpectedRevision) IsNoStream() bool { return e.kind == 1 }

// Revision returns the exact revision and true, or 0 and false.
func (e ExpectedRevision) Revision() (uint64, bool) { return e.rev, e.kind == 2 }

// Check reports whether a stream whose next revision is next (0 = no
// stream) satisfies the condition.
func (e ExpectedRevision) Check(next uint64) bool {
	switch e.kind {
	case 1:
		return next == 0
	case 2:
		return next == e.rev+1
	}
	return true
}

func (e ExpectedRevision) String() string {
	switch e.kind {
	case 1:
		return "no-stream"
	case 2:
		return fmt.Sprintf("exact(%d)", e.rev)
	}
	return "any"
}

// EventData is an event proposed for append. Data is opaque to the store
// and stored byte for byte.
type EventData struct {
	ID   string // client-chosen UUID, the idempotency key
	Type string
	Time string // RFC 3339 as the client wrote it; informational only
	Data []byte
}

// RecordedEvent is an event as stored.
type RecordedEvent struct {
	Position uint64
	Revision uint64
	Stream   string
	ID       string
	Type     string
	Time     string
	Data     []byte
}

// RawEvent is a stored event whose fields alias the reader's buffers: valid
// only during the callback that receives it. Folds that decode every event
// read this way to spare a string allocation per field per event.
type RawEvent struct {
	Position uint64
	Revision uint64
	Stream   []byte
	ID       []byte
	Type     []byte
	Time     []byte
	Data     []byte
}

// RawReader is implemented by stores that can read without copying
// (filestore). It is ReadAll with RawEvents.
type RawReader interface {
	ReadAllRaw(ctx context.Context, from uint64, fn func(*RawEvent) error) error
}

// AppendRequest is one stream's part of an append.
type AppendRequest struct {
	Stream   string
	Expected ExpectedRevision
	Events   []EventData
}

// AppendResult says where an append's events are stored.
type AppendResult struct {
	// FirstPosition and LastPosition bound the stored events (equal for a
	// single event). For a pure retry they are the positions stored earlier.
	FirstPosition uint64
	LastPosition  uint64
	// NextRevision is the stream's revision after the append (last revision + 1).
	NextRevision uint64
	// Duplicate is true when nothing was written because every id was
	// already stored.
	Duplicate bool
}

// Store is the contract of an event log backend.
type Store interface {
	// Append stores events at the end of one stream atomically, after the
	// expected-revision check. It returns only once the events are durable.
	Append(ctx context.Context, stream string, expected ExpectedRevision, events ...EventData) (AppendResult, error)

	// ReadStream calls fn for the events of stream from revision from on,
	// in order, until fn returns an error (returned as is) or the stream
	// ends. A stream without events gives ErrStreamNotFound.
	ReadStream(ctx context.Context, stream string, from uint64, fn func(*RecordedEvent) error) error

	// ReadAll calls fn for every event at global position >= from, in
	// order, up to the head at the time of the call. The event passed to fn
	// is valid only during the call; fn must copy what it keeps.
	ReadAll(ctx context.Context, from uint64, fn func(*RecordedEvent) error) error

	// Head returns the global position of the last stored event (0 when empty).
	Head(ctx context.Context) (uint64, error)

	// Subscribe delivers every event at position >= from, first those
	// already stored, then new ones as they are appended.
	Subscribe(ctx context.Context, from uint64) (Subscription, error)

	// Close releases the store. Appends in flight either complete or fail.
	Close() error
}

// MultiAppender is an optional capability: one atomic append spanning
// several streams (all requests stored, or none). The embedded store has it;
// `epochledger import` uses it to make a whole file atomic.
type MultiAppender interface {
	AppendMulti(ctx context.Context, reqs []AppendRequest) ([]AppendResult, error)
}

// Subscription is a catch-up subscription. Events arrive in position order
// on C; C is closed when the subscription ends, after which Err says why
// (nil after Close or context cancellation).
type Subscription interface {
	C() <-chan RecordedEvent
	Err() error
	Close()
}

// ValidateEvents checks what every backend requires of one stream's append:
// a stream name, at least one event, ids, types, sizes within the limits, and
// no id twice. Backends call it before anything else.
func ValidateEvents(stream string, events []EventData) error {
	if err := ValidateEventFields(stream, events); err != nil {
		return err
	}
	if len(events) < 2 {
		return nil
	}
	seen := make(map[string]struct{}, len(events))
	for i := range events {
		if _, dup := seen[events[i].ID]; dup {
			return fmt.Errorf("%w: id %s appears twice in one append", ErrDuplicateID, events[i].ID)
		}
		seen[events[i].ID] = struct{}{}
	}
	return nil
}

// ValidateEventFields is ValidateEvents without the check for an id
// repeated inside the append (for backends that detect it while staging).
func ValidateEventFields(stream string, events []EventData) error {
	if stream == "" {
		return fmt.Errorf("%w: empty stream name", ErrInvalidEvent)
	}
	if len(stream) > MaxNameLen {
		return fmt.Errorf("%w: stream name longer than %d bytes", ErrInvalidEvent, MaxNameLen)
	}
	if len(events) == 0 {
		return fmt.Errorf("%w: append of no events to %q", ErrInvalidEvent, stream)
	}
	for i := range events {
		e := &events[i]
		switch {
		case e.ID == "":
			return fmt.Errorf("%w: event %d of %q has no id", ErrInvalidEvent, i, stream)
		case e.Type == "":
			return fmt.Errorf("%w: event %s has no type", ErrInvalidEvent, e.ID)
		case len(e.ID) > MaxNameLen || len(e.Type) > MaxNameLen || len(e.Time) > MaxNameLen:
			return fmt.Errorf("%w: event %s: id, type or time longer than %d bytes", ErrInvalidEvent, e.ID, MaxNameLen)
		case len(e.Data) > MaxDataLen:
			return fmt.Errorf("%w: event %s: data of %d bytes exceeds %d", ErrInvalidEvent, e.ID, len(e.Data), MaxDataLen)
		}
	}
	return nil
}

// Limits every backend enforces, so a log moves between backends.
const (
	MaxNameLen = 255     // id, type, stream, time
	MaxDataLen = 1 << 20 // one event's data
)
