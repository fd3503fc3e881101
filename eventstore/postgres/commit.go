package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/epochledger/epochledger/eventstore"
)

// An appendOp is one Append or AppendMulti call waiting for the committer.
type appendOp struct {
	reqs    []eventstore.AppendRequest
	events  int
	bytes   int
	state   atomic.Int32 // opQueued, then opTaken (the committer) or opAbandoned (the caller)
	results []eventstore.AppendResult
	err     error
	done    chan struct{}
}

const (
	opQueued int32 = iota
	opTaken
	opAbandoned
)

// commitStats count the committer's work (bench store reports them).
type commitStats struct {
	commits atomic.Uint64 // transactions that wrote
	events  atomic.Uint64 // events they wrote
	retries atomic.Uint64 // groups repeated after a lost connection
}

// Stats is what the committer has done since Open.
type Stats struct {
	Commits uint64 // group commits that wrote events (one WAL flush each)
	Events  uint64 // events they wrote
	Retries uint64 // group commits repeated on a new connection
}

// Stats returns the committer's counters.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.stats.commits.Load(), Events: s.stats.events.Load(), Retries: s.stats.retries.Load()}
}

// Append stores events at the end of stream atomically, once the
// transaction holding them has committed (on the synchronous standby too,
// when the server has one).
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	res, err := s.AppendMulti(ctx, []eventstore.AppendRequest{{Stream: stream, Expected: expected, Events: events}})
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return res[0], nil
}

// AppendMulti stores every request, in order, in one transaction: all of
// them, or none.
func (s *Store) AppendMulti(ctx context.Context, reqs []eventstore.AppendRequest) ([]eventstore.AppendResult, error) {
	op := &appendOp{reqs: reqs, done: make(chan struct{})}
	if len(reqs) == 0 {
		return nil, fmt.Errorf("%w: append of no requests", eventstore.ErrInvalidEvent)
	}
	seen := map[string]int{}
	for i, r := range reqs {
		if err := eventstore.ValidateEvents(r.Stream, r.Events); err != nil {
			return nil, err
		}
		if err := checkText(r.Stream, r.Events); err != nil {
			return nil, err
		}
		for _, e := range r.Events {
			if j, dup := seen[e.ID]; dup && j != i {
				return nil, fmt.Errorf("%w: id %s appears in two requests of one append", eventstore.ErrDuplicateID, e.ID)
			}
			seen[e.ID] = i
			op.bytes += len(e.Data) + len(e.ID) + len(e.Type) + len(e.Time) + len(r.Stream)
		}
		op.events += len(r.Events)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.closed(); err != nil {
		return nil, err
	}
	select {
	case s.commit.ops <- op:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.commit.closing:
		return nil, eventstore.ErrClosed
	}
	select {
	case <-op.done:
		return op.results, op.err
	case <-ctx.Done():
		if op.state.CompareAndSwap(opQueued, opAbandoned) {
			return nil, ctx.Err() // never sent: nothing stored
		}
		return nil, fmt.Errorf("postgres: append abandoned while its commit was in flight; it may be stored (retry with the same ids to know): %w", ctx.Err())
	}
}

// commitLoop is the group committer: it takes every append waiting (up to
// MaxGroupEvents / MaxGroupBytes) and stores them in one transaction, so
// that concurrent appenders share one WAL flush and one round trip to the
// synchronous standby. Positions and the chain are assigned under a lock
// on the events table, in commit order, which keeps them gap-free across
// processes too.
func (s *Store) commitLoop(conn *pgx.Conn) {
	defer close(s.commit.done)
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	var group []*appendOp
	prev := 0 // appends in the last group
	for {
		group = group[:0]
		select {
		case op := <-s.commit.ops:
			group = append(group, op)
		case <-s.commit.closing:
			s.failQueued()
			return
		}
		events, bytes := group[0].events, group[0].bytes
	gather:
		for events < s.opts.MaxGroupEvents && bytes < s.opts.MaxGroupBytes {
			select {
			case op := <-s.commit.ops:
				group = append(group, op)
				events += op.events
				bytes += op.bytes
			default:
				break gather
			}
		}
		// The appenders the last commit woke are on their way back; a
		// commit costs a WAL flush and a standby round trip, so waiting
		// a moment for them (at most CommitLinger) beats committing
		// without them and making them wait a whole commit.
		if len(group) < prev && s.opts.CommitLinger > 0 && events < s.opts.MaxGroupEvents && bytes < s.opts.MaxGroupBytes {
			linger := time.NewTimer(s.opts.CommitLinger)
		wait:
			for len(group) < prev && events < s.opts.MaxGroupEvents && bytes < s.opts.MaxGroupBytes {
				select {
				case op := <-s.commit.ops:
					group = append(group, op)
					events += op.events
					bytes += op.bytes
				case <-linger.C:
					break wait
				}
			}
			linger.Stop()
		}
		prev = len(group)
		live := group[:0]
		for _, op := range group {
			if op.state.CompareAndSwap(opQueued, opTaken) {
				live = append(live, op)
			}
		}
		if len(live) > 0 {
			conn = s.commitGroup(conn, live)
		}
	}
}

// failQueued answers the appends still queued at Close.
func (s *Store) failQueued() {
	for {
		select {
		case op := <-s.commit.ops:
			op.err = eventstore.ErrClosed
			close(op.done)
		default:
			return
		}
	}
}

// commitGroup commits group and answers its appends; it returns the
// connection to use next (nil when it was lost). A lost connection is
// replaced and the group tried again, which is safe: each try looks up
// the group's ids under the lock first, so appends that committed before
// the reply was lost come back as stored (Duplicate), never twice. A
// statement that fails otherwise fails the group; then each append is
// tried alone so that one bad append fails only itself.
func (s *Store) commitGroup(conn *pgx.Conn, group []*appendOp) *pgx.Conn {
	var deadline time.Time
	for attempt := 0; ; attempt++ {
		var err error
		if conn == nil {
			conn, err = s.connect(s.ctx)
		}
		if err == nil {
			err = s.tryCommit(conn, group)
			if err == nil {
				for _, op := range group {
					close(op.done)
				}
				return conn
			}
			if !conn.IsClosed() && !retryable(err) {
				// The transaction is aborted; end it so the connection
				// can be used again.
				ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
				_, rerr := conn.Exec(ctx, "ROLLBACK")
				cancel()
				if rerr != nil {
					conn.Close(context.Background())
					conn = nil
				}
				if len(group) > 1 {
					for _, op := range group {
						conn = s.commitGroup(conn, []*appendOp{op})
					}
					return conn
				}
				s.fail(group, fmt.Errorf("postgres: append: %w", err))
				return conn
			}
			conn.Close(context.Background())
			conn = nil
		}
		if s.ctx.Err() != nil {
			s.fail(group, fmt.Errorf("postgres: store closed while the append was being committed; it may be stored (retry with the same ids to know): %w", eventstore.ErrClosed))
			return nil
		}
		if !retryable(err) {
			s.fail(group, fmt.Errorf("postgres: connect to %s: %w", s.url, err))
			return nil
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(s.opts.RetryTimeout)
		}
		if time.Now().After(deadline) {
			s.fail(group, fmt.Errorf("postgres: append: %s unreachable for %v; the append may be stored (retry with the same ids to know): %w", s.url, s.opts.RetryTimeout, err))
			return nil
		}
		s.stats.retries.Add(1)
		s.log.Warn("postgres: lost the server during a commit; reconnecting", "attempt", attempt+1, "appends", len(group), "err", err)
		if sleep(s.ctx, backoff(attempt)) != nil {
			continue // closed: answered at the top of the next round
		}
	}
}

func (s *Store) fail(group []*appendOp, err error) {
	for _, op := range group {
		op.results, op.err = nil, err
		close(op.done)
	}
}

// storedID is where an id is stored.
type storedID struct {
	stream   string
	position uint64
}

// chunk is how many rows or ids go into one statement's arrays.
const chunk = 4096

// tryCommit runs one transaction for group in two round trips:
//
//  1. BEGIN; LOCK the events table (EXCLUSIVE: readers go on, writers
//     wait); read the head's position and chain hash, the streams' last
//     revisions and which of the group's ids are stored;
//  2. insert the rows of every append that passed its checks (a large
//     group by COPY first, a round trip of its own), NOTIFY the new head,
//     COMMIT.
//
// Each append's checks see the appends before it in the group. On success
// every op has its results or its own refusal (op.err) set.
func (s *Store) tryCommit(conn *pgx.Conn, group []*appendOp) error {
	ctx := s.ctx
	streamSet := map[string]struct{}{}
	var streams, ids []string
	for _, op := range group {
		for _, r := range op.reqs {
			if _, ok := streamSet[r.Stream]; !ok {
				streamSet[r.Stream] = struct{}{}
				streams = append(streams, r.Stream)
			}
			for _, e := range r.Events {
				ids = append(ids, e.ID)
			}
		}
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("LOCK TABLE " + s.t.events + " IN EXCLUSIVE MODE")
	b.Queue("SELECT position, chain FROM " + s.t.events + " ORDER BY position DESC LIMIT 1")
	b.Queue("SELECT s, (SELECT max(revision) FROM "+s.t.events+" e WHERE e.stream = s) FROM unnest($1::text[]) AS s", streams)
	idQueries := 0
	for i := 0; i < len(ids); i += chunk {
		b.Queue("SELECT id, stream, position FROM "+s.t.events+" WHERE id = ANY($1::text[])", ids[i:min(i+chunk, len(ids))])
		idQueries++
	}
	br := conn.SendBatch(ctx, b)
	var head uint64
	var prev [32]byte
	nextRev := make(map[string]uint64, len(streams))
	stored := map[string]storedID{}
	err := func() error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		if _, err := br.Exec(); err != nil {
			return err
		}
		var chain []byte
		switch err := br.QueryRow().Scan(&head, &chain); {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		case len(chain) != 32:
			return fmt.Errorf("%w: the chain hash of position %d is %d bytes, not 32", eventstore.ErrCorrupt, head, len(chain))
		default:
			copy(prev[:], chain)
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			var name string
			var rev *int64
			if err := rows.Scan(&name, &rev); err != nil {
				rows.Close()
				return err
			}
			if rev != nil {
				nextRev[name] = uint64(*rev) + 1
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for range idQueries {
			rows, err := br.Query()
			if err != nil {
				return err
			}
			for rows.Next() {
				var id string
				var at storedID
				if err := rows.Scan(&id, &at.stream, &at.position); err != nil {
					rows.Close()
					return err
				}
				stored[id] = at
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}

	// Plan: positions, revisions and chain hashes in group order.
	var ins rowsToInsert
	next := head + 1
	for _, op := range group {
		op.err = nil
		op.results, op.err = s.plan(op, &next, &prev, nextRev, stored, &ins)
	}

	b = &pgx.Batch{}
	if len(ins.position) >= copyRows {
		// Large groups go by COPY, several times faster per row than
		// INSERT … unnest, at the price of its own round trip.
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{s.opts.Schema, "events"}, []string{"position", "stream", "revision", "id", "type", "time", "data", "chain"}, &ins); err != nil {
			return err
		}
	}
	for i := 0; i < len(ins.position) && len(ins.position) < copyRows; i += chunk {
		j := min(i+chunk, len(ins.position))
		b.Queue("INSERT INTO "+s.t.events+" (position, stream, revision, id, type, time, data, chain) "+
			"SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::bytea[])",
			ins.position[i:j], ins.stream[i:j], ins.revision[i:j], ins.id[i:j], ins.typ[i:j], ins.time[i:j], ins.data[i:j], ins.chain[i:j])
	}
	if n := len(ins.position); n > 0 {
		b.Queue("SELECT pg_notify($1, $2)", s.t.channel, strconv.FormatInt(ins.position[n-1], 10))
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	if n := len(ins.position); n > 0 {
		s.stats.commits.Add(1)
		s.stats.events.Add(uint64(n))
		s.advance(uint64(ins.position[n-1]))
	}
	return nil
}

// copyRows is the group size from which rows go by COPY.
const copyRows = 256

// rowsToInsert are the new rows of a group commit, column by column. It
// is also their pgx.CopyFromSource.
type rowsToInsert struct {
	position, revision    []int64
	stream, id, typ, time []string
	data, chain           [][]byte
	next                  int
}

func (r *rowsToInsert) Next() bool { r.next++; return r.next <= len(r.position) }

func (r *rowsToInsert) Values() ([]any, error) {
	i := r.next - 1
	return []any{r.position[i], r.stream[i], r.revision[i], r.id[i], r.typ[i], r.time[i], r.data[i], r.chain[i]}, nil
}

func (r *rowsToInsert) Err() error { return nil }

// plan checks one append against the log as it stands after the appends
// before it in the group and, when it passes, adds its rows to ins. The
// rules are the embedded store's: ids all stored in this stream is a
// retry (their positions, nothing written); some stored, or stored in
// another stream, is ErrDuplicateID; then the expected revision. A
// refused append changes nothing.
func (s *Store) plan(op *appendOp, next *uint64, prev *[32]byte, nextRev map[string]uint64, stored map[string]storedID, ins *rowsToInsert) ([]eventstore.AppendResult, error) {
	results := make([]eventstore.AppendResult, len(op.reqs))
	added := map[string]uint64{}  // this op's events per stream
	mine := map[string]storedID{} // this op's ids
	pos, chain := *next, *prev
	var rows rowsToInsert
	for i, r := range op.reqs {
		rev := nextRev[r.Stream] + added[r.Stream]
		n := 0
		var first, last uint64
		for _, e := range r.Events {
			at, ok := stored[e.ID]
			if !ok {
				at, ok = mine[e.ID]
			}
			if !ok {
				continue
			}
			if at.stream != r.Stream {
				return nil, fmt.Errorf("%w: id %s is already stored at position %d in another stream than %q", eventstore.ErrDuplicateID, e.ID, at.position, r.Stream)
			}
			if n == 0 || at.position < first {
				first = at.position
			}
			last = max(last, at.position)
			n++
		}
		switch {
		case n == len(r.Events):
			results[i] = eventstore.AppendResult{FirstPosition: first, LastPosition: last, NextRevision: rev, Duplicate: true}
			continue
		case n > 0:
			return nil, fmt.Errorf("%w: %d of the %d events for %q are already stored (a retry must repeat the same batch)", eventstore.ErrDuplicateID, n, len(r.Events), r.Stream)
		case !r.Expected.Check(rev):
			cur := "no stream"
			if rev > 0 {
				cur = fmt.Sprintf("revision %d", rev-1)
			}
			return nil, fmt.Errorf("%w: stream %q is at %s, append expected %s", eventstore.ErrWrongRevision, r.Stream, cur, r.Expected)
		}
		results[i] = eventstore.AppendResult{FirstPosition: pos, LastPosition: pos + uint64(len(r.Events)) - 1, NextRevision: rev + uint64(len(r.Events))}
		for j := range r.Events {
			e := &r.Events[j]
			rec := eventstore.RecordedEvent{Position: pos, Revision: rev + uint64(j), Stream: r.Stream, ID: e.ID, Type: e.Type, Time: e.Time, Data: e.Data}
			chain = eventstore.ChainHash(chain, &rec)
			rows.position = append(rows.position, int64(pos))
			rows.revision = append(rows.revision, int64(rec.Revision))
			rows.stream = append(rows.stream, r.Stream)
			rows.id = append(rows.id, e.ID)
			rows.typ = append(rows.typ, e.Type)
			rows.time = append(rows.time, e.Time)
			data := e.Data
			if data == nil {
				data = []byte{} // the column is NOT NULL; empty data stays empty
			}
			rows.data = append(rows.data, data)
			rows.chain = append(rows.chain, append([]byte(nil), chain[:]...))
			mine[e.ID] = storedID{stream: r.Stream, position: pos}
			pos++
		}
		added[r.Stream] += uint64(len(r.Events))
	}
	// Passed: what it wrote is what the next appends of the group see.
	for k, v := range mine {
		stored[k] = v
	}
	for k, v := range added {
		nextRev[k] += v
	}
	*next, *prev = pos, chain
	ins.position = append(ins.position, rows.position...)
	ins.revision = append(ins.revision, rows.revision...)
	ins.stream = append(ins.stream, rows.stream...)
	ins.id = append(ins.id, rows.id...)
	ins.typ = append(ins.typ, rows.typ...)
	ins.time = append(ins.time, rows.time...)
	ins.data = append(ins.data, rows.data...)
	ins.chain = append(ins.chain, rows.chain...)
	return results, nil
}
