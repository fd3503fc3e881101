package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/epochledger/epochledger/eventstore"
)

var (
	_ eventstore.Store         = (*Store)(nil)
	_ eventstore.MultiAppender = (*Store)(nil)
)

// Store is an eventstore.Store on one PostgreSQL database.
type Store struct {
	opts Options
	url  string // redacted, for messages
	t    tables
	log  *slog.Logger

	pool    *pgxpool.Pool   // reads
	connCfg *pgx.ConnConfig // the committer's and the listener's connections

	ctx    context.Context // the store's lifetime; canceled by Close
	cancel context.CancelFunc

	// commit is the group committer's state: only its goroutine touches
	// conn; ops is its queue.
	commit struct {
		ops     chan *appendOp
		closing chan struct{} // closed by Close: finish the group in flight, then stop
		done    chan struct{} // closed when the committer has stopped
	}

	// head is the highest position known to be committed (own commits
	// and notifications); wake is closed and replaced when it moves.
	head struct {
		pos  atomic.Uint64
		mu   sync.Mutex
		wake chan struct{}
	}
	listener sync.Once // starts the LISTEN goroutine on first Subscribe
	wg       sync.WaitGroup

	closeOnce sync.Once
	stats     commitStats
}

// Open connects to the database at url (postgres://user@host:port/db?…,
// several host:port pairs for failover; see package doc), creates or
// checks the schema, and starts the group committer.
func Open(ctx context.Context, url string, opts *Options) (*Store, error) {
	o := DefaultOptions()
	if opts != nil {
		*o = *opts
	}
	pgURL, err := splitURL(url, o)
	if err != nil {
		return nil, err
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	poolCfg, err := pgxpool.ParseConfig(pgURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", Redact(url), err)
	}
	connCfg := poolCfg.ConnConfig.Copy()
	// A canceled context closes the socket instead of sending a cancel
	// request: canceling a COMMIT that waits for the synchronous standby
	// would make it visible before the standby has it.
	connCfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	// Appends need the primary: after a failover, of the hosts listed the
	// one that was promoted.
	if connCfg.ValidateConnect == nil {
		connCfg.ValidateConnect = pgconn.ValidateConnectTargetSessionAttrsReadWrite
	}
	poolCfg.ConnConfig.BuildContextWatcherHandler = connCfg.BuildContextWatcherHandler
	s := &Store{opts: *o, url: Redact(url), t: newTables(o.Schema), log: o.Logger, connCfg: connCfg}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	conn, err := s.connect(ctx)
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("postgres: connect to %s: %w", s.url, err)
	}
	err = ensureSchema(ctx, conn, s.t)
	var head uint64
	if err == nil {
		err = conn.QueryRow(ctx, "SELECT coalesce(max(position), 0) FROM "+s.t.events).Scan(&head)
	}
	if err != nil {
		conn.Close(context.Background())
		s.cancel()
		return nil, fmt.Errorf("postgres: %s: %w", s.url, err)
	}
	if s.pool, err = pgxpool.NewWithConfig(s.ctx, poolCfg); err != nil {
		conn.Close(context.Background())
		s.cancel()
		return nil, fmt.Errorf("postgres: %s: %w", s.url, err)
	}
	s.head.pos.Store(head)
	s.head.wake = make(chan struct{})
	s.commit.ops = make(chan *appendOp, 1024)
	s.commit.closing = make(chan struct{})
	s.commit.done = make(chan struct{})
	go s.commitLoop(conn)
	return s, nil
}

func (s *Store) connect(ctx context.Context) (*pgx.Conn, error) {
	return pgx.ConnectConfig(ctx, s.connCfg)
}

// Close stops the committer (letting the commit in flight finish for up
// to CloseTimeout), fails appends still queued with ErrClosed, and closes
// the connections.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.commit.closing)
		select {
		case <-s.commit.done:
		case <-time.After(s.opts.CloseTimeout):
			s.log.Warn("postgres: closing while a commit waits; dropping its connection (its appends' outcome is unknown)")
		}
		s.cancel()
		<-s.commit.done
		s.wg.Wait()
		s.pool.Close()
	})
	return nil
}

func (s *Store) closed() error {
	select {
	case <-s.commit.closing:
		return eventstore.ErrClosed
	default:
		return nil
	}
}

// Head returns the position of the last committed event.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if err := s.closed(); err != nil {
		return 0, err
	}
	var head uint64
	err := s.retry(ctx, "read the head", func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, "SELECT coalesce(max(position), 0) FROM "+s.t.events).Scan(&head)
	})
	if err == nil {
		s.advance(head)
	}
	return head, err
}

// ReadAll calls fn for every event from position from up to the head at
// the time of the call, a page of rows at a time.
func (s *Store) ReadAll(ctx context.Context, from uint64, fn func(*eventstore.RecordedEvent) error) error {
	head, err := s.Head(ctx)
	if err != nil {
		return err
	}
	from = max(from, 1)
	q := "SELECT position, revision, stream, id, type, time, data FROM " + s.t.events + " WHERE position >= $1 AND position <= $2 ORDER BY position LIMIT $3"
	return s.readPages(ctx, "read the log", from, func(next uint64, limit int) (string, []any) {
		if next > head {
			return "", nil
		}
		return q, []any{next, head, limit}
	}, func(e *eventstore.RecordedEvent) uint64 { return e.Position + 1 }, fn)
}

// ReadStream calls fn for the events of stream from revision from on.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, fn func(*eventstore.RecordedEvent) error) error {
	q := "SELECT position, revision, stream, id, type, time, data FROM " + s.t.events + " WHERE stream = $1 AND revision >= $2 ORDER BY revision LIMIT $3"
	n := 0
	err := s.readPages(ctx, "read stream "+stream, from, func(next uint64, limit int) (string, []any) {
		return q, []any{stream, next, limit}
	}, func(e *eventstore.RecordedEvent) uint64 { n++; return e.Revision + 1 }, fn)
	if err != nil || n > 0 {
		return err
	}
	var exists bool
	err = s.retry(ctx, "read stream "+stream, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+s.t.events+" WHERE stream = $1)", stream).Scan(&exists)
	})
	if err == nil && !exists {
		err = fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, stream)
	}
	return err
}

// readPages runs the query page(next, limit) until it returns no rows (or
// page returns ""), calling fn for each row outside the query so that a
// slow callback holds no connection, and resuming after the last row on a
// lost connection. Pages start small and double up to ReadPage: many
// readers want one event (a lookup by position, a check of one stored
// event) and stop.
func (s *Store) readPages(ctx context.Context, what string, next uint64, page func(next uint64, limit int) (string, []any), after func(*eventstore.RecordedEvent) uint64, fn func(*eventstore.RecordedEvent) error) error {
	if err := s.closed(); err != nil {
		return err
	}
	var buf []eventstore.RecordedEvent
	limit := min(16, s.opts.ReadPage)
	for ; ; limit = min(2*limit, s.opts.ReadPage) {
		q, args := page(next, limit)
		if q == "" {
			return nil
		}
		buf = buf[:0]
		err := s.retry(ctx, what, func(ctx context.Context) error {
			buf = buf[:0]
			rows, err := s.pool.Query(ctx, q, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var e eventstore.RecordedEvent
				if err := rows.Scan(&e.Position, &e.Revision, &e.Stream, &e.ID, &e.Type, &e.Time, &e.Data); err != nil {
					return err
				}
				buf = append(buf, e)
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		if len(buf) == 0 {
			return nil
		}
		for i := range buf {
			if err := fn(&buf[i]); err != nil {
				return err
			}
			next = after(&buf[i])
		}
	}
}

// retry runs op until it succeeds, fails for a reason other than a lost
// server, or RetryTimeout has passed since the first failure. Only reads
// go through here: they are safe to repeat.
func (s *Store) retry(ctx context.Context, what string, op func(ctx context.Context) error) error {
	var deadline time.Time
	for attempt := 0; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s.ctx.Err() != nil {
			return eventstore.ErrClosed
		}
		if !retryable(err) {
			return fmt.Errorf("postgres: %s: %w", what, err)
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(s.opts.RetryTimeout)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres: %s: %s unreachable for %v: %w", what, s.url, s.opts.RetryTimeout, err)
		}
		s.log.Warn("postgres: lost the server; retrying", "op", what, "attempt", attempt+1, "err", err)
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
}

// retryable reports whether err means the server went away or cannot
// serve now (shutdown, failover, starting up, read-only standby), after
// which the operation may be repeated on a new connection.
func retryable(err error) bool {
	if errors.Is(err, eventstore.ErrClosed) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"): // connection exception
			return true
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // admin / crash shutdown, cannot connect now
			return true
		case pe.Code == "25006": // read-only transaction: a standby (not yet promoted)
			return true
		case pe.Code == "53300", pe.Code == "40001", pe.Code == "40P01": // too many connections, serialization, deadlock
			return true
		}
		return false
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ne) || errors.As(err, &ce) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "connection refused")
}

// backoff is the pause before retry attempt n: 20 ms doubling to 1 s,
// with jitter so reconnecting clients do not arrive together.
func backoff(n int) time.Duration {
	d := 20 * time.Millisecond << min(n, 6)
	d = min(d, time.Second)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// checkText refuses what a text column cannot hold byte for byte: NUL
// bytes and invalid UTF-8 (the database's encoding). Data is bytea and
// takes anything.
func checkText(stream string, events []eventstore.EventData) error {
	bad := func(s string) bool { return strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) }
	if bad(stream) {
		return fmt.Errorf("%w: stream name %q is not valid UTF-8 text without NUL bytes", eventstore.ErrInvalidEvent, stream)
	}
	for i := range events {
		e := &events[i]
		for _, f := range []struct{ name, v string }{{"id", e.ID}, {"type", e.Type}, {"time", e.Time}} {
			if bad(f.v) {
				return fmt.Errorf("%w: event %q of %q: %s %q is not valid UTF-8 text without NUL bytes", eventstore.ErrInvalidEvent, e.ID, stream, f.name, f.v)
			}
		}
	}
	return nil
}
