// Package postgres is the PostgreSQL backend of epochledger: an
// eventstore.Store (and eventstore.MultiAppender) on one database through
// github.com/jackc/pgx/v5.
//
//	s, err := postgres.Open(ctx, "postgres://ledger@db1:5432,db2:5432/ledger?sslmode=verify-full&target_session_attrs=read-write", nil)
//
// # Schema
//
// The backend creates and versions its own tables, in schema
// Options.Schema ("epochledger"; a schema=NAME URL parameter overrides
// it), in one transaction under an advisory lock on first open:
//
//	epochledger.meta    (key text PRIMARY KEY, value text)      schema_version = 1
//	epochledger.events  (position bigint PRIMARY KEY  -- gap-free from 1
//	                     stream   text,  revision bigint         -- UNIQUE (stream, revision), from 0
//	                     id       text                           -- UNIQUE INDEX events_id: idempotency, forever
//	                     type     text,  time text
//	                     data     bytea                          -- byte for byte
//	                     chain    bytea)                         -- 32 bytes, see below
//
// A log written by a newer version (schema_version higher than
// SchemaVersion) is refused. Text columns cannot hold NUL bytes or
// invalid UTF-8, so an event whose id, type, time or stream has them is
// refused (ErrInvalidEvent) rather than altered.
//
// # Appends: group commit in commit order
//
// Gap-free positions and a chain through every row need each append to
// know the head when it writes, so appends are serialized: a transaction
// takes LOCK TABLE events IN EXCLUSIVE MODE (readers go on; writers of
// every process, and anyone inserting by hand, wait) and holds it until
// its commit is visible. To keep concurrent appenders sharing one WAL
// flush despite that, each Store has one committer goroutine that takes
// every append waiting (up to MaxGroupEvents / MaxGroupBytes; after a
// commit it lingers up to CommitLinger for the appenders it woke) and
// stores them in one transaction, two round trips:
//
//  1. BEGIN; LOCK; the head's position and chain hash; the last revision
//     of each stream involved; which of the group's ids are stored;
//  2. the rows of every append that passed its checks (INSERT … unnest,
//     or COPY from 256 rows), pg_notify(schema_events, head); COMMIT.
//
// Each append is checked against the log and the appends before it in
// its group, with the embedded store's rules: ids all stored in the
// stream is a retry (their positions, Duplicate, nothing written); some
// stored, or stored in another stream, is ErrDuplicateID; then the
// expected revision. A refused append fails alone and writes nothing; an
// AppendMulti is all or nothing. Append returns once COMMIT has returned:
// with synchronous_commit on and a synchronous standby, once the standby
// has flushed the commit too.
//
// # Retries, only where safe
//
// A connection lost during a commit (failover, restart) leaves its outcome
// unknown. The committer reconnects (with several hosts in the URL,
// target_session_attrs=read-write finds the promoted one) and runs the
// group again for up to RetryTimeout: the retry looks its ids up under
// the lock first, so appends that committed come back with their stored
// positions (marked Duplicate), never written twice. Refusals and other
// server errors are not retried. Reads resume after the last row they
// delivered. A caller whose context ends while its append is in flight
// gets an error wrapping ctx.Err() that says the append may be stored;
// the commit is not canceled: the connection's context watcher drops the
// socket rather than sending a cancel request, because canceling a COMMIT
// that waits for the synchronous standby makes it visible without the
// standby.
//
// # Reads and subscriptions
//
// ReadAll and ReadStream read by position (revision) in pages that start
// small and grow to ReadPage, with no connection held during callbacks.
// Positions are assigned under the table lock in commit order, so a
// reader never sees position n+1 before n. Subscribe is the catch-up
// subscription of eventstore: it reads by position, then waits; the
// committing transaction NOTIFYs the new head, one LISTEN connection per
// Store wakes the waiters, and a poll every PollInterval covers a
// notification lost while that connection reconnects.
//
// # Chain
//
// Each row stores chain = eventstore.ChainHash(chain of the row before,
// row): SHA-256 over the previous hash and the row's stream, revision,
// id, type, time and data (the content chain the esdb backend checkpoints,
// so a log has the same chain on both and it can be recomputed from an
// export). Verify reads every row in position order and names the first
// that fails: a missing position (a deleted row), a revision out of
// sequence, or a stored hash that differs from the recomputed one (an
// altered row, rows reordered, or rows deleted and renumbered). Someone
// who rewrites rows and recomputes every hash after them changes the
// head's hash: compare it with one recorded elsewhere (HeadHash).
package postgres
