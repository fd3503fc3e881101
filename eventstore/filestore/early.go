package filestore

import (
	"fmt"
	"io"
)

// Early writes: a large append's frames go to the file while the rest of
// them is sealed.
//
// One appender of large batches (import, migrate, a settlement journal)
// waits for each batch's fdatasync before it sends the next, so nothing
// else can overlap the sealing of a batch (its SHA-256 chain above all)
// with the disk: sealed first and written after, a batch of 1,000 events
// kept the disk idle for about 40% of each commit. When the flusher is
// idle and the append starts a group of its own, staging hands it the
// frames in chunks of earlyChunkBytes as they are sealed; the flusher
// writes each at once, on the other core, so that the copy into the page
// cache (about 120 µs for a batch of 1,000 events) overlaps the sealing.
// The commit then writes only what was not written early. (Starting each
// chunk's write-back at once with sync_file_range(SYNC_FILE_RANGE_WRITE)
// was measured too, and made the commits slower on ext4: see
// docs/benchmarks.md.)
//
// Nothing changes for durability or the format: the early bytes are the
// frames the commit would write at the same offsets, past the last
// commit, and nothing is acknowledged before the commit's fdatasync. A
// crash before it leaves them as it leaves any part of a commit's write
// (an uncommitted tail). An append is sealed only after every check
// passed, so a batch written early is never refused; a write that fails
// early fails its commit as a failed write in the commit would (a write
// refused for space is cut back, with the early bytes, and the appends
// are not stored).

const (
	// earlyMinBytes is the smallest append written early: smaller ones
	// are sealed in a few tens of µs.
	earlyMinBytes = 128 << 10
	// earlyChunkBytes is how much staging seals before it hands the
	// flusher a chunk: large enough that a write system call is cheap
	// beside sealing it, small enough that the disk starts soon.
	earlyChunkBytes = 64 << 10
	// earlyQueue bounds the chunks in the hand-off; staging never waits
	// for room (it holds the staging lock, which the flusher may be
	// waiting for) and writes the rest with the commit instead.
	earlyQueue = 64
)

// earlyChunk is a run of sealed frames of group g, to be written at off.
type earlyChunk struct {
	g   *group
	off int64
	b   []byte
}

// earlyWriter is the hand-off and the flusher's record of what it wrote
// early. ch is sent to by staging (holding the staging lock) and received
// by the flusher; the rest is the flusher's.
type earlyWriter struct {
	ch chan earlyChunk
	// g is the group whose first n bytes were written early, at the end
	// of the frames; err, when set, is the write that failed (n bytes of
	// it written), which fails g's commit.
	g   *group
	n   int64
	err error
}

// canWriteEarly reports whether op, staged into g, may be written while it
// is sealed (staging locked): the flusher sleeps with nothing in hand (so
// the file ends where g starts), g is the only group queued and op its
// first append, and g starts no segment.
func (s *Store) canWriteEarly(g *group, opBytes int) bool {
	return opBytes >= earlyMinBytes && s.flusher.early.ch != nil && s.staging.asleep &&
		g.ops == 0 && g.size == 0 && g.newSeg == nil &&
		len(s.staging.queue) == 1 && s.staging.queue[0] == g
}

// sendEarly hands the flusher sealed frames b of g to write at off
// (staging locked); false means the hand-off is full and the rest of the
// append is written with its commit.
func (s *Store) sendEarly(g *group, off int64, b []byte) bool {
	select {
	case s.flusher.early.ch <- earlyChunk{g: g, off: off, b: b}:
		return true
	default:
		return false
	}
}

// writeEarly writes a chunk handed off by staging (flusher). A chunk that
// does not continue what was written early is dropped: the commit writes
// it.
func (s *Store) writeEarly(c earlyChunk) {
	e := &s.flusher.early
	if e.err != nil {
		return
	}
	if e.g == nil {
		if c.off != s.flusher.end {
			return
		}
		e.g, e.n = c.g, 0
	}
	if c.g != e.g || c.off != s.flusher.end+e.n {
		return
	}
	n, err := s.flusher.file.WriteAt(c.b, c.off)
	e.n += int64(n)
	if err == nil && n < len(c.b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		e.err = fmt.Errorf("write %d bytes at offset %d: %w", len(c.b), c.off, err)
		return
	}
}

// drainEarly writes the chunks already handed off (flusher, staging
// locked: no more can come until it is released).
func (s *Store) drainEarly() {
	for {
		select {
		case c := <-s.flusher.early.ch:
			s.writeEarly(c)
		default:
			return
		}
	}
}

// takeEarly returns how many bytes of batch, which the flusher is about to
// write at the end of the frames, were written early, or the error of an
// early write, and forgets them.
func (s *Store) takeEarly(batch []*group) (int64, error) {
	e := &s.flusher.early
	g, n, err := e.g, e.n, e.err
	e.g, e.n, e.err = nil, 0, nil
	switch {
	case g == nil:
		return 0, nil
	case g != batch[0]:
		return 0, fmt.Errorf("internal error: %d bytes were written early for a group that is not the next to commit", n)
	}
	return n, err
}
