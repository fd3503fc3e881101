// Package filestore is the embedded default event log of epochledger: a
// segmented, append-only write-ahead log on local disk.
//
// # Directory
//
//	DIR/LOCK                        locked (flock(2); LockFileEx on Windows) by the process that has the log open; holds its pid
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
//	|EPLOGSEG| u32 =1 |        | u64            | [32]byte               |        | of 0:60|
//	+--------+--------+--------+----------------+------------------------+--------+--------+
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
// chained: it starts from the previous frame's CRC (the header's CRC for a
// segment's first frame), so a frame cannot be moved or dropped unnoticed.
// All integers are little-endian.
//
// # Payload
//
//	0          8          16               48   49   50   51   52         56
//	+----------+----------+----------------+----+----+----+----+----------+------------------------------+
//	| position | revision | chain hash     |idL |tyL |stL |tiL | data len | id type stream time data     |
//	| u64      | u64      | [32]byte       | u8 | u8 | u8 | u8 | u32      | (the lengths before them)    |
//	+----------+----------+----------------+----+----+----+----+----------+------------------------------+
//
// The chain hash of event n is SHA-256(chain hash of event n-1 ||
// payload[0:16] || payload[48:]): it commits to the event's position,
// revision and every byte of its content, and to all events before it. The
// first event's predecessor is 32 zero bytes. An auditor who kept any event's
// chain hash (settlement memos record the head's) detects a rewrite of
// anything before it even if every CRC was recomputed.
//
// # Durability and recovery
//
// Each appending goroutine encodes its own events' frames and parses their
// ids. Its append is then staged, under one lock (appends are staged one
// at a time, in log order): its expected revisions and ids are checked,
// and its frames sealed (positions, revisions, chain hashes, CRCs) into
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
// times to the file system. A failed write or fdatasync is sticky: every later
// append returns it, and the log must be reopened (which runs recovery).
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
// fail like any write (ENOSPC comes up to ZeroAhead bytes sooner), and
// the failure is sticky like any other. The zeros are cut off
// (truncate, fsync) before a new segment is started and on Close, so only
// the newest segment of a log whose writer stopped uncleanly ends in zeros.
//
// Recovery reads zeros after the last committed frame of the newest
// segment as its clean end. A crash before an fdatasync returns may leave
// any part of the unsynced frames written over those zeros, in any order
// (page by page): a frame that is cut, or whose start or end is still
// zeros, fails its length or CRC check, and the tail from the last
// committed frame to the last nonzero byte is handled as a torn tail
// (below). A frame that spans more than two pages could, in theory, come
// back with its first and last pages and without a middle one: its intact
// length and CRC fields then let the next frame check out, which is the
// mark of damage in the middle of the log, so recovery reports corruption
// and refuses to open rather than cut (nothing acknowledged is lost).
//
// On open every segment is scanned and its frames checked; the in-memory
// indexes (id → position, stream → positions, position → offset) are rebuilt
// from the segments, so nothing but the segments needs to survive a crash.
// Damage is tolerated only at the end of the newest segment, where a crash
// can leave a torn or uncommitted tail: those bytes (up to the last nonzero
// one) are copied to DIR/torn,
// the segment is truncated to the last committed batch and fsynced. A bad
// frame that is followed by a valid one, or damage in any older segment, is
// corruption: Open returns an *eventstore.CorruptError naming the segment and
// offset, and nothing is repaired. Verify checks everything read-only,
// including the hash chain.
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
// the newest segment, for the head and its tail, and reads the older
// segments' headers: an older segment's frame offsets are loaded when a
// read starts inside it, and the stream index is built by a full scan the
// first time a stream is read. Each frame's CRC and position are checked
// as it is read, so damage anywhere is still reported, with its segment,
// offset and position, by the read that reaches it.
package filestore
