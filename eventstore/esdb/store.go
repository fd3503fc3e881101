package esdb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/epochledger/epochledger/eventstore"
)

var _ eventstore.Store = (*Store)(nil)

// ChainStreamName is the stream (after StreamPrefix) that holds the chain
// checkpoints. Appends to it through Store.Append are refused, and its
// events are not part of ReadAll, Subscribe, Head or the chain itself.
const ChainStreamName = "epochledger-chain"

// Store is an eventstore.Store on EventStoreDB / KurrentDB. It is safe for
// concurrent use, and several processes may write through their own Store
// to the same server.
type Store struct {
	opts   Options
	target Target
	log    *slog.Logger
	filter filter
	chain  string // server name of the chain stream
	ids    *idCache
	known  *posCache

	mu     sync.Mutex
	client *esdbclient.Client // nil once closed
	closed bool               // no new operations
	subs   map[*subscription]struct{}
	writes sync.WaitGroup // appends in flight, which Close lets finish
}

// Open connects to the server named by rawURL (see ParseURL) and checks
// that $all can be read with the URL's credentials. ctx bounds the check.
func Open(ctx context.Context, rawURL string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = DefaultOptions()
	}
	o := *opts
	o.TypePrefixes = append([]string(nil), opts.TypePrefixes...)
	if err := o.Validate(); err != nil {
		return nil, err
	}
	t, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t.Config.Logger = clientLogger(log)
	for _, w := range t.Warnings {
		log.Warn("esdb: store URL", "url", t.Redacted, "warning", w)
	}
	c, err := esdbclient.NewClient(t.Config)
	if err != nil {
		return nil, fmt.Errorf("esdb: open %s: %v", t.Redacted, redactErr(err, rawURL))
	}
	s := &Store{
		opts:   o,
		target: t,
		log:    log,
		filter: filter{streamPrefix: o.StreamPrefix, chainStream: o.StreamPrefix + ChainStreamName, typePrefixes: o.TypePrefixes},
		chain:  o.StreamPrefix + ChainStreamName,
		ids:    newIDCache(o.IDCacheSize),
		known:  newPosCache(4096),
		client: c,
		subs:   make(map[*subscription]struct{}),
	}
	// The client library's first call runs node discovery, which does not
	// watch a context: wait for it here, but no longer than ctx allows.
	done := make(chan error, 1)
	go func() {
		done <- s.do(ctx, "ping", func(c *esdbclient.Client) error {
			rs, err := c.ReadAll(ctx, esdbclient.ReadAllOptions{Direction: esdbclient.Backwards, From: esdbclient.End{}}, 1)
			if err != nil {
				return err
			}
			return each(rs, func(*esdbclient.RecordedEvent) (bool, error) { return true, nil })
		})
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("esdb: open %s: %w", t.Redacted, mapError("read $all", err))
	}
	log.Info("esdb: store open", "url", t.Redacted, "stream_prefix", o.StreamPrefix)
	return s, nil
}

// Close refuses new operations, ends the store's subscriptions, lets the
// appends in flight finish (they may be retrying), and closes the
// connection. Reads in flight fail with eventstore.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	subs := make([]*subscription, 0, len(s.subs))
	for sub := range s.subs {
		subs = append(subs, sub)
	}
	s.mu.Unlock()
	for _, sub := range subs {
		sub.Close()
	}
	s.writes.Wait()
	s.mu.Lock()
	c := s.client
	s.client = nil
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	return c.Close()
}

// beginWrite registers an append, unless the store is closed; call the
// function it returns when the append is over.
func (s *Store) beginWrite() (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, eventstore.ErrClosed
	}
	s.writes.Add(1)
	return s.writes.Done, nil
}

// open reports ErrClosed once Close was called.
func (s *Store) open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventstore.ErrClosed
	}
	return nil
}

// URL returns the store URL with its password hidden.
func (s *Store) URL() string { return s.target.Redacted }

func (s *Store) current() (*esdbclient.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		return nil, eventstore.ErrClosed
	}
	return s.client, nil
}

// reconnect replaces old, a client the library has given up on (it stops
// for good after one failed discovery), unless another caller already did.
func (s *Store) reconnect(old *esdbclient.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil || s.client != old {
		return
	}
	c, err := esdbclient.NewClient(s.target.Config)
	if err != nil {
		s.log.Error("esdb: new client", "err", err)
		return
	}
	_ = old.Close()
	s.client = c
	s.log.Info("esdb: new connection", "url", s.target.Redacted)
}

// do runs one attempt of op after another until one succeeds, fails for a
// reason that is not transient, the retry policy runs out, or ctx ends.
func (s *Store) do(ctx context.Context, op string, attempt func(c *esdbclient.Client) error) error {
	renewed := false
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := s.current()
		if err != nil {
			return err
		}
		err = attempt(c)
		if err == nil {
			return nil
		}
		var cb *callbackError
		if errors.As(err, &cb) {
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("esdb: %s: %w", op, cerr)
		}
		v := classify(err)
		if v.reconnect && !renewed {
			// The library gave up on this client after a failed discovery
			// (reported by the attempt before): no call was made, so this
			// is not an attempt.
			s.reconnect(c)
			renewed = true
			n--
			continue
		}
		renewed = false
		if !v.retry || n >= s.opts.Retry.MaxAttempts {
			return err
		}
		d := s.opts.Retry.Delay(n, randFloat())
		s.log.Warn("esdb: transient failure, retrying", "op", op, "attempt", n, "delay", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("esdb: %s: %w (last failure: %v)", op, ctx.Err(), err)
		}
	}
}

func clientLogger(l *slog.Logger) esdbclient.LoggingFunc {
	return func(level string, format string, args ...interface{}) {
		lv := slog.LevelDebug - 4
		switch level {
		case esdbclient.LogError:
			lv = slog.LevelWarn
		case esdbclient.LogWarn:
			lv = slog.LevelInfo
		case esdbclient.LogInfo:
			lv = slog.LevelDebug
		}
		if l.Enabled(context.Background(), lv) {
			l.Log(context.Background(), lv, "esdb client: "+fmt.Sprintf(format, args...))
		}
	}
}

// eventMeta is the JSON stored as an event's user metadata: the envelope
// fields EventStoreDB has no place for. Time is ours (the server's created
// date is its own clock); ID is kept only when the id string is not the
// canonical lower-case form of its UUID, so it reads back byte for byte.
type eventMeta struct {
	Time string `json:"time"`
	ID   string `json:"id,omitempty"`
}

// prepared is an append's batch in the client library's terms.
type prepared struct {
	ids  []uuid.UUID
	data []esdbclient.EventData
}

// prepare checks what this backend needs beyond eventstore.ValidateEvents
// and encodes the batch.
func (s *Store) prepare(stream string, events []eventstore.EventData) (prepared, error) {
	if strings.HasPrefix(stream, "$") {
		return prepared{}, fmt.Errorf("%w: stream %q: names starting with '$' are EventStoreDB system streams", eventstore.ErrInvalidEvent, stream)
	}
	if stream == ChainStreamName {
		return prepared{}, fmt.Errorf("%w: stream %q is reserved for chain checkpoints", eventstore.ErrInvalidEvent, stream)
	}
	if !utf8.ValidString(stream) {
		return prepared{}, fmt.Errorf("%w: stream %q is not valid UTF-8 (gRPC strings must be)", eventstore.ErrInvalidEvent, stream)
	}
	p := prepared{ids: make([]uuid.UUID, len(events)), data: make([]esdbclient.EventData, len(events))}
	seen := make(map[uuid.UUID]struct{}, len(events))
	for i := range events {
		e := &events[i]
		id, err := uuid.Parse(e.ID)
		if err != nil || id == uuid.Nil {
			return prepared{}, fmt.Errorf("%w: event id %q is not a UUID (EventStoreDB event ids are UUIDs)", eventstore.ErrInvalidEvent, e.ID)
		}
		if _, dup := seen[id]; dup {
			return prepared{}, fmt.Errorf("%w: id %s appears twice in one append", eventstore.ErrDuplicateID, e.ID)
		}
		seen[id] = struct{}{}
		switch {
		case strings.HasPrefix(e.Type, "$"):
			return prepared{}, fmt.Errorf("%w: event %s: type %q: types starting with '$' are EventStoreDB system events", eventstore.ErrInvalidEvent, e.ID, e.Type)
		case !s.filter.typeVisible(e.Type):
			return prepared{}, fmt.Errorf("%w: event %s: type %q matches none of this store's TypePrefixes %q, so it could not be read back", eventstore.ErrInvalidEvent, e.ID, e.Type, s.opts.TypePrefixes)
		case !utf8.ValidString(e.Type) || !utf8.ValidString(e.Time) || !utf8.ValidString(e.ID):
			return prepared{}, fmt.Errorf("%w: event %s: id, type and time must be valid UTF-8 on EventStoreDB", eventstore.ErrInvalidEvent, e.ID)
		}
		m := eventMeta{Time: e.Time}
		if e.ID != id.String() {
			m.ID = e.ID
		}
		meta, err := json.Marshal(m)
		if err != nil {
			return prepared{}, fmt.Errorf("%w: event %s: %v", eventstore.ErrInvalidEvent, e.ID, err)
		}
		ct := esdbclient.ContentTypeBinary
		if isJSONObject(e.Data) {
			ct = esdbclient.ContentTypeJson
		}
		data := e.Data
		if data == nil {
			data = []byte{}
		}
		p.ids[i] = id
		p.data[i] = esdbclient.EventData{EventID: id, EventType: e.Type, ContentType: ct, Data: data, Metadata: meta}
	}
	return p, nil
}

// isJSONObject reports whether data is one JSON object, which is what
// EventStoreDB's projections can read. Other data is stored as binary.
// Either way the bytes are stored as given.
func isJSONObject(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(data)
}

// convert maps a server event to ours.
func (s *Store) convert(e *esdbclient.RecordedEvent) (eventstore.RecordedEvent, error) {
	pos, err := eventPosition(e.Position)
	if err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("event %d of %q: %w", e.EventNumber, e.StreamID, err)
	}
	var m eventMeta
	_ = json.Unmarshal(e.UserMetadata, &m) // events written by others may carry anything
	id := m.ID
	if id == "" {
		id = e.EventID.String()
	}
	return eventstore.RecordedEvent{
		Position: pos,
		Revision: e.EventNumber,
		Stream:   strings.TrimPrefix(e.StreamID, s.opts.StreamPrefix),
		ID:       id,
		Type:     e.EventType,
		Time:     m.Time,
		Data:     e.Data,
	}, nil
}

// eventPosition is our position of an event: its prepare position, the
// byte offset of its record in the server's transaction log. For every
// event written through gRPC the commit position is the same number; see
// the package documentation.
func eventPosition(p esdbclient.Position) (uint64, error) {
	if p.Prepare == 0 || p.Prepare == math.MaxUint64 || p.Commit == math.MaxUint64 {
		return 0, ErrNoPosition
	}
	return p.Prepare, nil
}

// toClientExpected maps an expected revision to the client library's.
func toClientExpected(e eventstore.ExpectedRevision) esdbclient.ExpectedRevision {
	if e.IsNoStream() {
		return esdbclient.NoStream{}
	}
	if r, ok := e.Revision(); ok {
		return esdbclient.StreamRevision{Value: r}
	}
	return esdbclient.Any{}
}

// slotStart is the revision the first event of an append with expected
// revision e would get; false for Any, which has no fixed place.
func slotStart(e eventstore.ExpectedRevision) (uint64, bool) {
	if e.IsNoStream() {
		return 0, true
	}
	if r, ok := e.Revision(); ok {
		return r + 1, true
	}
	return 0, false
}

// each calls fn for the events of rs until the end, an error, or fn says
// stop, and releases rs.
func each(rs *esdbclient.ReadStream, fn func(*esdbclient.RecordedEvent) (bool, error)) error {
	defer rs.Close()
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		e := ev.OriginalEvent()
		if e == nil {
			continue
		}
		if stop, err := fn(e); err != nil || stop {
			return err
		}
	}
}

func isNotFound(err error) bool {
	code, ok := errorCode(err)
	return ok && code == esdbclient.ErrorCodeResourceNotFound
}

func isWrongVersion(err error) bool {
	code, ok := errorCode(err)
	return ok && code == esdbclient.ErrorCodeWrongExpectedVersion
}

// Append stores events at the end of stream, atomically (one EventStoreDB
// append). Before writing it looks for the batch's ids, so a retry — by
// the caller, or by the retry policy after a lost reply — writes nothing
// and returns where the events are; see the package documentation.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := eventstore.ValidateEvents(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	p, err := s.prepare(stream, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	done, err := s.beginWrite()
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	defer done()
	cached := make(map[uuid.UUID]idEntry)
	for i, id := range p.ids {
		e, ok := s.ids.get(id)
		if !ok {
			continue
		}
		if e.stream != stream {
			return eventstore.AppendResult{}, fmt.Errorf("%w: id %s is already stored at position %d in another stream than %q", eventstore.ErrDuplicateID, events[i].ID, e.position, stream)
		}
		cached[id] = e
	}
	es := s.opts.StreamPrefix + stream
	var res eventstore.AppendResult
	ambiguous := false // an earlier attempt of this call may have landed
	err = s.do(ctx, "append", func(c *esdbclient.Client) error {
		r, stored, err := s.findBatch(ctx, c, stream, es, expected, p.ids, cached)
		if err != nil || stored {
			r.Duplicate = !ambiguous
			res = r
			return err
		}
		wr, err := c.AppendToStream(ctx, es, esdbclient.AppendToStreamOptions{
			ExpectedRevision: toClientExpected(expected),
			Deadline:         &s.opts.AppendTimeout,
		}, p.data...)
		if err != nil {
			if !isWrongVersion(err) {
				if classify(err).retry {
					ambiguous = true
				}
				return err
			}
			if _, fixed := slotStart(expected); !fixed {
				// With Any the server only refuses a batch part of whose ids
				// it has just seen in this stream.
				return fmt.Errorf("%w: some ids of the batch are already stored in %q (the server refused it as a partial retry): %w", eventstore.ErrDuplicateID, stream, err)
			}
			// Someone took the revisions since findBatch looked: perhaps a
			// concurrent retry of this very batch.
			r, stored, ferr := s.findBatch(ctx, c, stream, es, expected, p.ids, cached)
			if ferr != nil || stored {
				r.Duplicate = !ambiguous
				res = r
				return ferr
			}
			return fmt.Errorf("%w: stream %q is not at %s: %w", eventstore.ErrWrongRevision, stream, expected, err)
		}
		ambiguous = true // landed: a retry from here on finds it
		res, err = s.readBack(ctx, c, stream, es, wr.NextExpectedVersion, p.ids)
		return err
	})
	if err != nil {
		return eventstore.AppendResult{}, mapError(fmt.Sprintf("append to %q", stream), err)
	}
	return res, nil
}

// findBatch looks for the batch's ids in the stream: in the revisions the
// append would take when the expected revision fixes them (exact at any
// depth), else among the stream's newest IdempotencyWindow events; ids
// this process remembers count too. It returns stored=true with the
// stored positions when every id is there, ErrDuplicateID when some are,
// and stored=false when none is.
func (s *Store) findBatch(ctx context.Context, c *esdbclient.Client, stream, es string, expected eventstore.ExpectedRevision, ids []uuid.UUID, cached map[uuid.UUID]idEntry) (eventstore.AppendResult, bool, error) {
	want := make(map[uuid.UUID]struct{}, len(ids))
	for _, id := range ids {
		want[id] = struct{}{}
	}
	found := make(map[uuid.UUID]idEntry, len(ids))
	for id, e := range cached {
		found[id] = e
	}
	var next uint64
	nextKnown := false
	// collect notes the batch's ids among the events read; when they come
	// newest first, the first one also tells the stream's next revision.
	collect := func(newestFirst bool) func(*esdbclient.RecordedEvent) (bool, error) {
		return func(e *esdbclient.RecordedEvent) (bool, error) {
			if newestFirst && !nextKnown {
				next, nextKnown = e.EventNumber+1, true
			}
			if _, ok := want[e.EventID]; ok {
				pos, err := eventPosition(e.Position)
				if err != nil {
					return true, err
				}
				found[e.EventID] = idEntry{stream: stream, revision: e.EventNumber, position: pos}
			}
			return len(found) == len(ids), nil
		}
	}
	var rs *esdbclient.ReadStream
	var err error
	var fn func(*esdbclient.RecordedEvent) (bool, error)
	if start, fixed := slotStart(expected); fixed {
		rs, err = c.ReadStream(ctx, es, esdbclient.ReadStreamOptions{Direction: esdbclient.Forwards, From: esdbclient.Revision(start)}, uint64(len(ids)))
		fn = collect(false)
	} else if s.opts.IdempotencyWindow > 0 {
		rs, err = c.ReadStream(ctx, es, esdbclient.ReadStreamOptions{Direction: esdbclient.Backwards, From: esdbclient.End{}}, uint64(s.opts.IdempotencyWindow))
		fn = collect(true)
	}
	if err != nil {
		return eventstore.AppendResult{}, false, err
	}
	if rs != nil {
		if err := each(rs, fn); err != nil && !isNotFound(err) {
			return eventstore.AppendResult{}, false, err
		}
	}
	switch {
	case len(found) == 0:
		return eventstore.AppendResult{}, false, nil
	case len(found) < len(ids):
		return eventstore.AppendResult{}, false, fmt.Errorf("%w: %d of the %d events for %q are already stored (a retry must repeat the same batch)", eventstore.ErrDuplicateID, len(found), len(ids), stream)
	}
	if !nextKnown {
		n, err := s.streamNext(ctx, c, es)
		if err != nil {
			return eventstore.AppendResult{}, false, err
		}
		next = n
	}
	r := eventstore.AppendResult{FirstPosition: math.MaxUint64, NextRevision: next}
	for id, e := range found {
		r.FirstPosition = min(r.FirstPosition, e.position)
		r.LastPosition = max(r.LastPosition, e.position)
		s.ids.put(id, e)
		s.known.add(e.position)
	}
	return r, true, nil
}

// streamNext returns the revision the stream's next event would get.
func (s *Store) streamNext(ctx context.Context, c *esdbclient.Client, es string) (uint64, error) {
	rs, err := c.ReadStream(ctx, es, esdbclient.ReadStreamOptions{Direction: esdbclient.Backwards, From: esdbclient.End{}}, 1)
	if err != nil {
		return 0, err
	}
	var next uint64
	err = each(rs, func(e *esdbclient.RecordedEvent) (bool, error) {
		next = e.EventNumber + 1
		return true, nil
	})
	if err != nil && !isNotFound(err) {
		return 0, err
	}
	return next, nil
}

// readBack reads the events an append just wrote (the append's reply has
// one position for the whole batch), checks they are the batch, and
// returns where they are.
func (s *Store) readBack(ctx context.Context, c *esdbclient.Client, stream, es string, last uint64, ids []uuid.UUID) (eventstore.AppendResult, error) {
	n := uint64(len(ids))
	if last+1 < n {
		return eventstore.AppendResult{}, fmt.Errorf("esdb: append to %q: server reports revision %d after writing %d events", stream, last, n)
	}
	first := last + 1 - n
	r := eventstore.AppendResult{NextRevision: last + 1}
	i := 0
	rs, err := c.ReadStream(ctx, es, esdbclient.ReadStreamOptions{Direction: esdbclient.Forwards, From: esdbclient.Revision(first)}, n)
	if err != nil {
		return r, err
	}
	err = each(rs, func(e *esdbclient.RecordedEvent) (bool, error) {
		if i >= len(ids) || e.EventID != ids[i] || e.EventNumber != first+uint64(i) {
			return true, fmt.Errorf("esdb: append to %q: revision %d holds event %s, not the batch just written", stream, e.EventNumber, e.EventID)
		}
		pos, err := eventPosition(e.Position)
		if err != nil {
			return true, err
		}
		if i == 0 {
			r.FirstPosition = pos
		}
		r.LastPosition = pos
		s.ids.put(ids[i], idEntry{stream: stream, revision: e.EventNumber, position: pos})
		s.known.add(pos)
		i++
		return false, nil
	})
	if err == nil && i != len(ids) {
		err = fmt.Errorf("esdb: append to %q: read back %d of the %d events written", stream, i, len(ids))
	}
	return r, err
}

// ReadStream calls fn for the events of stream from revision from on.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, fn func(*eventstore.RecordedEvent) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.open(); err != nil {
		return err
	}
	es := s.opts.StreamPrefix + stream
	next := from
	err := s.do(ctx, "read stream", func(c *esdbclient.Client) error {
		rs, err := c.ReadStream(ctx, es, esdbclient.ReadStreamOptions{Direction: esdbclient.Forwards, From: esdbclient.Revision(next)}, math.MaxInt64)
		if err != nil {
			return err
		}
		return each(rs, func(e *esdbclient.RecordedEvent) (bool, error) {
			rec, err := s.convert(e)
			if err != nil {
				return true, err
			}
			s.known.add(rec.Position)
			if err := fn(&rec); err != nil {
				return true, &callbackError{err}
			}
			next = e.EventNumber + 1
			return false, nil
		})
	})
	return mapError(fmt.Sprintf("read stream %q", stream), err)
}

func randFloat() float64 { return rand.Float64() }
