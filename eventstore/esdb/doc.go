// Package esdb is the distributed backend of epochledger: an
// eventstore.Store on EventStoreDB / KurrentDB (22.10 or later) through
// the official gRPC client, github.com/EventStore/EventStore-Client-Go/v4.
//
//	s, err := esdb.Open(ctx, "esdb://admin:changeit@db:2113?tls=true", nil)
//
// # Mapping
//
//	epochledger                   EventStoreDB
//	stream "job-42"               stream StreamPrefix+"job-42" (StreamPrefix "" by default)
//	event id (UUID string)        event id (the same UUID; a non-canonical spelling is kept in metadata)
//	type                          event type (a '$' prefix is refused: reserved for system events)
//	data                          data, byte for byte; content type JSON when it is one JSON object, else binary
//	time                          user metadata {"time":"…"} (the server's "created" is its own clock)
//	revision                      event number
//	position                      the event's prepare position in the transaction log (see below)
//	Any / NoStream / Exact(r)     Any / NoStream / StreamRevision(r)
//
// # Positions
//
// EventStoreDB gives each event of $all a (commit, prepare) pair of byte
// offsets into its transaction log. Since gRPC replaced the TCP API every
// append is an implicit transaction of one prepare record per event, each
// carrying the "committed" flag, and the server reports such an event at
// (its record's offset, the same offset): every event of a batch has its
// own, strictly increasing number. Only the legacy explicit transactions
// of the TCP API (removed in 24.x) share one commit position among several
// events and can interleave. Position is therefore the prepare position:
// unique, strictly increasing in $all order, never 0, not gap-free (the
// suite runs with GapFree false). ReadAll and Subscribe check the order
// and fail with ErrPositionOrder on a log where it does not hold.
//
// A read of $all can start only at a position that holds a record, and
// callers resume from "last position seen + 1". ReadAll(from) and
// Subscribe(from) therefore start at from-1 when it is known (this store
// delivered or wrote it) or proven by a one-event probe to hold a record,
// at the head when from is beyond it, at the record before from when from
// holds one, and from the start of $all otherwise (correct but slow,
// logged). Events before from are skipped.
//
// Stream reads must report $all positions, which servers do since 22.10;
// an older server makes reads fail with ErrNoPosition.
//
// # Idempotency
//
// Ids make appends idempotent: an append whose ids are all stored in the
// stream writes nothing and returns their positions with Duplicate set;
// some of them stored, or one stored in another stream, is ErrDuplicateID.
// EventStoreDB's own check does not suffice: for Any it remembers recent
// ids only (an in-memory cache, empty after a restart), it does not look
// at other streams, and its reply does not say whether it wrote. So before
// writing, Append looks itself:
//
//   - with NoStream or Exact(r), at the revisions the batch would occupy
//     (exact at any depth: this is what a retry after a lost reply hits);
//   - with Any, among the stream's newest IdempotencyWindow events;
//   - in this process's memory of the ids it wrote or found (IDCacheSize),
//     which is also what catches an id reused in another stream.
//
// An id reused in another stream by another process, or a retry with Any
// older than the window, is not caught; nor is it by the server.
// After the server accepts, Append reads the batch back for its
// positions (the reply has one position for the batch). Each append is
// thus three round trips to the leader: look, write, read back.
//
// Transient failures — Unavailable, not leader (the client reconnects to
// the leader the node names), gRPC deadlines, server-side timeouts, a
// client that gave up after a failed discovery — are retried with
// RetryPolicy's exponential backoff and jitter. Retrying an append is safe
// because every attempt looks for its ids first: when a reply was lost
// after the write, the retry finds the events and returns them.
//
// # Filters
//
// ReadAll and Subscribe read $all through the server's filtered catch-up
// subscription (the client offers server-side filters only there):
// system events ('$' types) are excluded by the server, and TypePrefixes,
// when set, narrow the view further. With a StreamPrefix the server
// filters on the stream name instead and the client applies the rest.
// ReadAll stops at the head it found when it began. Head reads $all
// backwards, skipping system events on the client side.
//
// # Multi-stream appends
//
// EventStoreDB appends atomically to one stream only, so Store does not
// implement eventstore.MultiAppender. What `epochledger import` should do
// on this backend: split the file into runs of consecutive events of one
// stream, append each run in file order as one atomic append with the
// expected revision the file implies (Exact, NoStream for a new stream),
// and on a re-run after a failure treat Duplicate results as done and go
// on. A file is then not atomic as a whole, but a failure leaves a prefix
// of it stored, and the idempotent re-run completes it.
//
// # Tamper evidence: chain checkpoints
//
// The embedded store chains every event's hash to the one before as it
// writes; many writers cannot share such a chain. Here the chain is
// computed after the fact over $all order: hash_i = ChainHash(hash_i-1,
// event i), from 32 zero bytes, over content only (stream, revision, id,
// type, time, data — see ChainHash), never positions, so it can be
// recomputed from an export on any backend. WriteChainCheckpoint extends
// it to the head and appends {upto_position, count, chain_hash} to stream
// ChainStreamName with the expected revision it read, so of several
// writers one wins and the others get ErrWrongRevision. VerifyChain
// recomputes everything and locates a mismatch between two consecutive
// checkpoints. The settlement writer can anchor the newest checkpoint's
// hash in its memo, outside the database.
package esdb
