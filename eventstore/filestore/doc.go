// Package filestore is the embedded default event log of epochledger: a
// segmented, append-only write-ahead log on local disk.
//
// # Directory
//
//	DIR/LOCK                        locked (flock(2); LockFileEx on Windows) by the process that has the log open; holds its pid
//	DIR/COMMIT                      the commit record: how far the log was durable, and whether it was closed cleanly
//	DIR/00000000000000000001.seg    segments, named by their first position (%020d),
//	DIR/00000000000000052429.seg    so `ls` order is log order
//	DIR/torn/<segment>.<offset>.torn  bytes cut from a torn tail, kept for inspection
//
// # Segment
//
// A segment is a 64-byte header followed by frames. The newest segment may
// end in zeros after its last frame (see "Zeros ahead" below); no other
// segment does.
//
// A segment is laid out:
//
//	0        8        12       16               24                       56       60       64
//	+--------+--------+--------+----------------+------------------------+--------+--------+
//	| magic  | version| zero   | first position | chain hash before it   | zero   | CRC-32C|
//	|EPLOGSEG| u32 1|2|        | u64            | [32]byte               |        | of 0:60|
//	+--------+--------+--------+----------------+------------------------+--------+--------+
//
// version is the segment's format (see "Versions" below); the writer
// writes 2.
//
// # Frame (one event)
//
//	+------------+--------+------------------------+------------+
//	| length u32 | kind u8| payload [length]       | CRC-32C u32|
//	+------------+--------+------------------------+------------+
//
// kind is 1 for an event whose batch continues and 2 for the last event of
// a batch (an atomic append): a batch is committed only once its kind-2
// frame is complete. The CRC covers length, kind and payload and is
// chained: it starts from the previous frame's CRC, so a frame cannot be
// moved or dropped unnoticed. A segment's first frame starts from the CRC
// of the header's first 24 bytes (magic, version, first position) in
// version 2, and from the header's CRC (of bytes 0:60) in version 1.
// All integers are little-endian.
//
// # Payload (version 2)
//
//	0          8          16   17   18   19   20         24
//	+----------+----------+----+----+----+----+----------+------------------------------+
//	| position | revision |idL |tyL |stL |tiL | data len | id type stream time data     |
//	| u64      | u64      | u8 | u8 | u8 | u8 | u32      | (the lengths before them)    |
//	+----------+----------+----+----+----+----+----------+------------------------------+
//
// # Chain hash
//
// The chain hash of event n is SHA-256(chain hash of event n-1 || its
// version 2 payload): it commits to the event's position, revision and
// every byte of its content, and to all events before it. The first
// event's predecessor is 32 zero bytes. An auditor who kept any event's
// chain hash (settlement memos record the head's) detects a rewrite of
// anything before it even if every CRC was recomputed. A version 2 frame
// does not store its chain hash: it is recomputed from the frames, and
// held against the next segment's header (the chain hash before it) and
// the commit record (the head's). The writer computes it after writing a
// commit's frames, while their fdatasync runs, and answers no append
// before it is known (chain.go).
//
// # Versions
//
// Version 1 (the first format) has a 56-byte fixed payload: the event's
// chain hash is stored in it, after the revision,
//
//	0          8          16               48   49   50   51   52         56
//	| position | revision | chain hash     |idL |tyL |stL |tiL | data len | id type stream time data
//
// and it is the same chain: SHA-256(previous || payload[0:16] ||
// payload[48:]), which are the bytes of the event's version 2 payload.
// Version 2 (issue 23) dropped the stored hash, so that staging, the
// serial part of every append, no longer computes SHA-256: a 1,000-event
// batch spent about 250 µs of its 450 µs of staging in it. A version 1
// log opens, reads and verifies as before (Verify also checks every stored
// hash against the recomputed one). A writer continues it with a new
// version 2 segment, so a segment never mixes versions; a version 1
// newest segment with no frame is replaced by a version 2 segment of the
// same name. The chain runs on unchanged through both, so chain hashes
// kept before (settlement memos' log_head) stay valid, and export/import
// and every reader see the same events.
//
// What version 2 gives up: in version 1 a rewritten event with recomputed
// CRCs is found at that event (its stored hash no longer matches); in
// version 2, at the end of its segment (the next header) or at the commit
// record, and within the newest segment of a log without a commit record
// only by a chain hash kept elsewhere (VerifyHead, verify --anchors),
// which is also all that holds against a rewriter who recomputes every
// stored hash in version 1.
//
// # Commit record
//
// DIR/COMMIT holds two 512-byte slots; each may hold a 96-byte record,
// and the valid one with the higher sequence number counts:
//
//	0        8        12   13   16       24               32               40               48                   80       92       96
//	+--------+--------+----+----+--------+----------------+----------------+----------------+--------------------+--------+--------+
//	| magic  | version|flag|zero| seq    | segment first  | committed end  | head position  | head chain hash    | zero   | CRC-32C|
//	|EPLOGCMT| u32 =1 | u8 |    | u64    | position u64   | offset u64     | u64            | [32]byte           |        | of 0:92|
//	+--------+--------+----+----+--------+----------------+----------------+----------------+--------------------+--------+--------+
//
// flag bit 0 means the log was closed cleanly. A writer, once recovery is
// done, writes a record without it and fsyncs it before any append (a
// crash from then on is not a clean close); after every commit's
// fdatasync it writes the record of that commit, alternating slots,
// without a sync of its own: a record is written only once what it names
// is durable, so whichever version a crash leaves is true (a torn one
// fails its CRC and the other slot counts). Close, after cutting the zeros
// ahead, writes the record with the clean flag and fsyncs it.
//
// Recovery holds the log against the record: a log that ends before the
// record's head, or whose chain hash at that position differs, or that
// lacks the record's segment, is corrupt (the end of the log was cut); a
// log closed cleanly must end exactly where the record says, and any bad
// frame in it is damage, not a torn write. Logs written before the record
// existed (or copied without it) have none, and open and verify as before
// (see below).
//
// # Durability and recovery
//
// Each appending goroutine encodes its own events' frames and parses their
// ids. Its append is then staged, under one lock (appends are staged one
// at a time, in log order): its expected revisions and ids are checked,
// and its frames sealed (positions, revisions, CRCs) into
// the group at the end of the flusher's queue. An append of more than a
// few events stages itself, in its own goroutine; a small one is pushed
// onto a lock-free stack that the flusher stages, all of a commit's small
// appends in one pass, before it writes. The flusher goroutine takes
// every group waiting, writes them and makes them durable with one
// fdatasync(2) for all of them (group commit; while the flush is small it
// also waits, at most CommitLinger, for appends already on their way or
// about to be sent again by the writers the previous commit woke, and the
// append that completes it wakes the flusher; a large flush starts at
// once so the next group is staged while it is on its way to disk). No
// append is acknowledged before the fdatasync covering it returns: it
// makes the frames and the file's size durable, leaving only the file's
// times to the file system. A write or fdatasync whose outcome is unknown
// (EIO, a short write, a failed fdatasync) is sticky: every later append
// returns it (ErrWriteFailed), and the log must be reopened (which runs
// recovery). A failure whose outcome is known is not: a segment file that
// cannot be created (EMFILE, ENOSPC) before anything was written, and a
// write refused for space, which the writer cuts back (truncate, fsync)
// to the end of the last commit, fail the appends of that commit and of
// those staged behind it (ErrNotStored, wrapping the cause) and leave the
// log exactly as it was; staging goes back to the last commit and later
// appends are tried afresh. Verify passes such a log without a reopen.
// A segment is rolled only between groups, so a batch never spans
// segments.
//
// # Zeros ahead
//
// While flushes are small (concurrent appends of a few events each), the
// writer keeps Options.ZeroAhead bytes (1 MiB) past the last frame of the
// newest segment written as zeros, topped up by a small flush's own
// fdatasync when fewer than a quarter are left. Frames are then written
// over blocks already on disk and their fdatasync commits no size change
// to the file system's journal, most of the cost of a small commit on
// ext4 (64 concurrent writers: 1.1-1.4x the events/s; see
// docs/benchmarks.md). Large flushes write past the zeros and never zero
// ahead, so batched appends do not write twice. Writing the zeros can
// fail like any write (ENOSPC comes up to ZeroAhead bytes sooner); they
// are only an optimisation, so that fails nothing (the commit's frames are
// written, and its fdatasync decides it) and zeroing stops until the next
// segment. The zeros are cut off
// (truncate, fsync) before a new segment is started and on Close, so only
// the newest segment of a log whose writer stopped uncleanly ends in zeros.
//
// Recovery reads zeros after the last committed frame of the newest
// segment as its clean end. A crash before an fdatasync returns may leave
// any part of the unsynced frames written over those zeros, in any order
// (page by page): a frame that is cut, or whose start or end is still
// zeros, fails its length or CRC check, and the tail from the last
// committed frame to the last nonzero byte is handled as a torn tail
// (below); frames of the same unsynced write may follow the hole.
//
// On open every segment is scanned and its frames checked; the in-memory
// indexes (id → position, stream → positions, position → offset) are rebuilt
// from the segments (the commit record only judges what they hold). Damage
// is tolerated only at the end of the newest segment, where a crash can
// leave a torn or uncommitted tail, and only past what is known durable:
//   - with a commit record, a bad frame (or a batch without its commit
//     frame) past the record's committed end is the remnant of the writes
//     in flight, whatever follows it (a power cut may keep any of their
//     sectors, so frames may follow a hole); one before that end, or any
//     in a log closed cleanly, is damage. The record's updates are not
//     synced, so after a power cut it may lag behind the last commits
//     that were durable; damage at rest inside those, in the same crash,
//     would be taken for the tail;
//   - without one, the bad frame's own length field is not trusted (one
//     flipped bit in it would hide everything after it): every offset of
//     the rest of the segment is tried, and if a valid frame starts
//     anywhere after the bad one (its CRC chained from the CRC stored
//     before it), the damage is inside the log. Only a bad frame with
//     nothing valid after it is a torn tail, which may then be the last
//     committed batch damaged at rest: the record is what tells.
//
// Zeros alone after the last frame are a clean end (zeros ahead). A torn
// tail's bytes (up to the last nonzero one) are copied to DIR/torn when
// there is room (on a full disk the copy is skipped with a warning: it is
// evidence, not data, and cutting the tail frees space), and the segment
// is truncated to the last committed batch and fsynced. Damage is
// corruption: Open returns an *eventstore.CorruptError naming the segment
// and offset, and nothing is repaired. Verify checks everything read-only,
// including the hash chain; it reports a torn tail (Problem, and TornTail
// with where it starts and how many bytes) so that a caller can tell what
// a crash leaves from damage (the verify command exits 0 for it), and
// VerifyHead checks that the log holds an event whose chain hash an
// auditor kept.
//
// A read-only Open may run beside a live writer (it takes no lock), whose
// latest commit the scan of the newest segment can catch half written or
// still zeros. Where the scan stops on a bad frame, the reader looks again:
// a frame that is whole by then (it waits a few milliseconds for one that
// is not) was being written, and the store simply ends at its last
// committed batch; only bytes that stay bad are reported as a torn tail or
// as damage.
//
// A read-only Open (Options.ReadOnly: replay, queries, export) scans only
// the newest segment, for the head and its tail (the chain hash of a
// version 2 head is computed by the first HeadHash, which those never
// call), and reads the older segments' headers: an older segment's frame offsets are loaded when a
// read starts inside it, and the stream index is built by a full scan the
// first time a stream is read. Each frame's CRC and position are checked
// as it is read, so damage anywhere is still reported, with its segment,
// offset and position, by the read that reaches it.
//
// # Source files
//
//	store.go      Store, Open, Close, Options; Store's state by owner
//	format.go     segment header, frame and payload encoding (both versions), chain hash
//	chain.go      the chain hashes the flusher computes during fdatasync; the id tables' grower
//	commitrec.go  the commit record
//	segment.go    segment files: listed, created, the one holding a position
//	idindex.go    the id index and the id keys appenders parse
//	stage.go      Append: an append's checks and sealing (staging state)
//	flush.go      the flusher goroutine: group commit (flusher state)
//	zeroahead.go  the zeros written ahead and their trimming
//	pool.go       the pools of appends and buffers
//	recover.go    the recovery Open, Verify and lazy reads drive
//	scan.go       the frame scanner recovery and reads share
//	read.go       ReadAll, ReadStream, Subscribe
//	verify.go     Verify and VerifyHead
//	vfs*.go       the file system (FS) the store runs on; tests inject faults
//	lock_*.go     the LOCK file
//	prefault*.go  index slices grown with their pages faulted in
package filestore
