package filestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/epochledger/epochledger/eventstore"
)

var _ eventstore.Store = (*Store)(nil)
var _ eventstore.MultiAppender = (*Store)(nil)

// Options configure a Store.
type Options struct {
	// FS is the file system; nil means the operating system's.
	FS FS
	// SegmentSize is the size past which a new segment is started (a
	// segment may exceed it by one group of appends).
	SegmentSize int64
	// MaxGroupBytes caps the encoded bytes of one group commit.
	MaxGroupBytes int
	// CommitLinger bounds how long a group commit waits for appends that
	// belong with the current flush (default 1ms, a backstop: the wait ends
	// as soon as they are in); see flushLoop.
	// It never delays a lone writer.
	CommitLinger time.Duration
	// ZeroAhead is how many bytes past the end of the log the writer keeps
	// written as zeros while group commits are small (many concurrent
	// appends of a few events): their fdatasync then overwrites blocks
	// already on disk and commits no file-size change to the file
	// system's journal, which is much of a small commit's cost. Large
	// commits (batched appends) write past the zeros and never pay for
	// them. 0 means 1 MiB; negative turns it off.
	ZeroAhead int64
	// ReadOnly opens the log without the lock, the writer or repair: for
	// readers (export, verify, queries) beside a live writer. A torn tail is
	// then left alone and not read.
	ReadOnly bool
	// Logger receives recovery notices; nil discards them.
	Logger *slog.Logger
}

// DefaultOptions returns the options Open uses for a nil *Options.
func DefaultOptions() *Options {
	return &Options{FS: OSFS{}, SegmentSize: 64 << 20, MaxGroupBytes: 8 << 20}
}

// Validate fills defaults and checks the options.
func (o *Options) Validate() error {
	if o.FS == nil {
		o.FS = OSFS{}
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = 64 << 20
	}
	if o.MaxGroupBytes == 0 {
		o.MaxGroupBytes = 8 << 20
	}
	if o.CommitLinger == 0 {
		o.CommitLinger = time.Millisecond
	}
	if o.ZeroAhead == 0 {
		o.ZeroAhead = 1 << 20
	}
	if o.SegmentSize < headerSize+1 {
		return fmt.Errorf("filestore: segment size %d is too small", o.SegmentSize)
	}
	if o.SegmentSize > 1<<31 {
		return fmt.Errorf("filestore: segment size %d exceeds 2 GiB", o.SegmentSize)
	}
	if o.MaxGroupBytes < 1 {
		return fmt.Errorf("filestore: max group bytes %d must be positive", o.MaxGroupBytes)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// segment is the in-memory index of one segment file.
type segment struct {
	name      string
	first     uint64
	prevHash  [32]byte
	headerCRC uint32
	offsets   []uint32 // frame offset of position first+i
	size      int64    // encoded bytes, including groups not yet flushed
	// lazy: offsets are not loaded yet (an older segment of a read-only
	// open; see Store.lazy).
	lazy bool
}

// Store is the embedded event log. It is safe for concurrent use.
type Store struct {
	dir  string
	opts Options
	fs   FS
	lock io.Closer

	// mu guards the indexes and the published head. Appenders write the
	// indexes while staging (holding stageMu too); readers see positions
	// <= head.
	mu      sync.RWMutex
	segs    []*segment
	streams map[string][]uint64 // stream -> positions, index = revision
	head    uint64
	headCh  chan struct{} // closed and replaced when head moves
	closed  bool

	// stageMu serializes staging: each appender in turn checks its append
	// against the indexes, seals its frames into the hash chain and puts
	// them in the queue the flusher takes (see enqueue). It guards the
	// staging state (set by Open before the flusher starts) and the
	// flusher's queue below.
	stageMu  sync.Mutex
	next     uint64   // position the next event gets
	ids      *idIndex // event id -> position, of every stored or staged event
	lastHash [32]byte
	lastCRC  uint32
	hasher   *chainDigest // staging's reusable SHA-256
	// stageOffs is staging's scratch for an append's frame offsets.
	stageOffs []uint32
	closing   bool     // no more appends
	queue     []*group // staged groups in log order, not yet taken by the flusher
	queueLen  int      // bytes in queue
	// queueOps counts the appends in queue, and want how many appends the
	// flusher expects in its next flush: those waiting when the last one
	// ended (its writers come back). Both change under stageMu; they are
	// atomic for the deferred appends, which read them without it to
	// decide whether theirs completes the flush (deferOp).
	queueOps, want atomic.Int64
	// asleep: the flusher waits on wake until the queue is ready; whoever
	// makes it so (an appender, Close) sends the one wake-up.
	asleep bool
	wake   chan struct{} // capacity 1

	// Small appends are not staged by their appenders but pushed here for
	// the flusher to stage, all of a commit's at once (see deferOp).
	// deferred is a lock-free stack (newest first; closedStack once the
	// flusher has stopped); deferredN counts the appends on it.
	deferred  atomic.Pointer[appendOp]
	deferredN atomic.Int64

	done chan struct{} // closed when the flusher has stopped
	werr atomic.Pointer[error]
	// inflight counts appends past their own checks and not yet answered:
	// the flusher waits (up to CommitLinger) for those on their way.
	inflight atomic.Int64
	stats    struct{ fsyncs, bytes, syncNanos atomic.Uint64 }
	wfile    File // active segment, owned by the flusher
	// wend is the end of the frames written to wfile; zeroEnd (>= wend) is
	// wfile's size, the bytes past wend being zeros (see Options.ZeroAhead).
	// Owned by the flusher.
	wend, zeroEnd int64
	gather        []byte // the flusher's buffer for gathering small chunks

	// noIDIndex: a read-only open does not build the id index (it is for
	// appends; Verify builds it to find ids stored twice), which is most of
	// the cost of opening a large log.
	noIDIndex bool

	// Repaired describes a torn tail cut by Open ("" when none).
	Repaired string
	// rec is the commit record recovery read (nil: none, or ignored);
	// cw keeps it up to date while the writer runs (nil: read-only, or
	// the record could not be written).
	rec *commitRecord
	cw  *commitWriter
	// torn is the torn or uncommitted tail Verify found at the end of the
	// newest segment of a log that was not closed cleanly.
	torn *TornTail
	// matchHash, when set (Verify's WantHash), is looked for among the
	// events' chain hashes; matchPos is the position that has it.
	matchHash *[32]byte
	matchPos  uint64
	// wfirst is the first position of the segment wfile is; durHash and
	// durCRC are the chain hash and CRC of the last durable frame (the
	// staging state to go back to when a commit fails before anything of
	// it reached the log; see unstage). Owned by the flusher.
	wfirst  uint64
	durHash [32]byte
	durCRC  uint32
	// zeroOff stops zeroing ahead after it failed, until the next segment.
	zeroOff bool
	// cwWarned: a failed update of the commit record was logged.
	cwWarned bool
	// zeroTail is how many zero bytes recovery found past the newest
	// segment's last committed frame (Options.ZeroAhead).
	zeroTail int64

	// Set by Verify: recompute every chain hash, treat a torn tail as
	// damage, and report scanned bytes.
	verifyChain bool
	strictTail  bool
	progress    func(done int64)
	scanned     int64

	// Used by recovery only.
	recStreams map[string]*streamRec
	pending    []pendingEvent

	// lazy: a read-only open that scanned only the newest segment. Older
	// segments' offsets are loaded when a read starts inside one, and the
	// stream index is built by a full scan the first time a stream is read:
	// a replay from position 1, the common read-only job, never pays for
	// indexes it does not use. lazyMu serializes the loading.
	lazy   bool
	lazyMu sync.Mutex
}

// Open opens (creating if needed) the log in dir and recovers it.
func Open(dir string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	} else {
		o = *DefaultOptions()
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	s := &Store{
		dir: dir, opts: o, fs: o.FS,
		ids:       newIDIndex(),
		streams:   make(map[string][]uint64),
		headCh:    make(chan struct{}),
		next:      1,
		hasher:    newChainDigest(),
		noIDIndex: o.ReadOnly,
		lazy:      o.ReadOnly,
	}
	if !o.ReadOnly {
		if err := s.fs.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("filestore: create %s: %w", dir, err)
		}
		l, err := s.fs.Lock(filepath.Join(dir, "LOCK"))
		if err != nil {
			return nil, err
		}
		s.lock = l
	}
	if err := s.recover(); err != nil {
		s.releaseLock()
		return nil, err
	}
	if o.ReadOnly {
		return s, nil
	}
	if err := s.openActive(); err != nil {
		s.releaseLock()
		return nil, err
	}
	if err := s.openCommitRecord(); err != nil {
		s.wfile.Close()
		s.releaseLock()
		return nil, err
	}
	s.wake = make(chan struct{}, 1)
	s.done = make(chan struct{})
	go s.flushLoop()
	return s, nil
}

func (s *Store) releaseLock() {
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}

// Dir returns the data directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(name string) string { return filepath.Join(s.dir, name) }

// listSegments returns the segment files of dir in log order.
func listSegments(fs FS, dir string) ([]string, []uint64, error) {
	names, err := fs.List(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("filestore: list %s: %w", dir, err)
	}
	var segs []string
	var firsts []uint64
	for _, n := range names {
		if !strings.HasSuffix(n, ".seg") || len(n) != 24 {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(n, ".seg"), 10, 64)
		if err != nil || first == 0 {
			return nil, nil, &eventstore.CorruptError{Segment: n, Reason: "segment file name is not a position"}
		}
		segs = append(segs, n)
		firsts = append(firsts, first)
	}
	return segs, firsts, nil
}

// recover scans every segment, rebuilds the indexes and, unless read-only,
// repairs a torn tail of the newest segment.
func (s *Store) recover() error {
	if !s.opts.ReadOnly {
		// Leftovers of a segment creation that crashed before its rename.
		if names, err := s.fs.List(s.dir); err == nil {
			for _, n := range names {
				if strings.HasSuffix(n, ".seg.tmp") {
					_ = s.fs.Remove(s.path(n))
				}
			}
		}
	}
	names, firsts, err := listSegments(s.fs, s.dir)
	if err != nil {
		return err
	}
	s.recStreams = make(map[string]*streamRec)
	defer func() { s.recStreams, s.pending = nil, nil }()
	if s.lazy && len(names) > 0 {
		return s.recoverLazy(names, firsts)
	}
	// A read-only open beside a live writer judges by the frames alone:
	// the writer updates the record as it goes.
	if !s.opts.ReadOnly || s.strictTail {
		if s.rec, err = readCommitRecord(s.fs, s.path(commitRecordName)); err != nil {
			return err
		}
	}
	if r := s.rec; r != nil && r.head > 0 && (len(names) == 0 || firsts[len(firsts)-1] < r.segFirst) {
		return &eventstore.CorruptError{Segment: segmentName(r.segFirst), Offset: r.end, Position: r.head,
			Reason: fmt.Sprintf("segment missing: the commit record shows events through position %d were durable in it", r.head)}
	}
	for i, name := range names {
		last := i == len(names)-1
		if firsts[i] != s.next {
			return &eventstore.CorruptError{Segment: name, Reason: fmt.Sprintf("segment starts at position %d, want %d (a segment is missing or out of place)", firsts[i], s.next)}
		}
		if err := s.recoverSegment(name, last); err != nil {
			return err
		}
	}
	if err := s.checkCommitRecord(); err != nil {
		return err
	}
	for _, st := range s.recStreams {
		if len(st.positions) > 0 {
			s.streams[st.name] = st.positions
		}
	}
	s.head = s.next - 1
	return nil
}

// checkCommitRecord holds the recovered log against its commit record:
// nothing the record shows durable may be missing, and a cleanly closed
// log must end exactly where its writer left it.
func (s *Store) checkCommitRecord() error {
	r := s.rec
	if r == nil || len(s.segs) == 0 {
		return nil
	}
	newest := s.segs[len(s.segs)-1]
	head := s.next - 1
	if head < r.head {
		return &eventstore.CorruptError{Segment: segmentName(r.segFirst), Offset: r.end, Position: s.next,
			Reason: fmt.Sprintf("the log ends at position %d, but its commit record shows events through position %d were durable (the end of the log is missing)", head, r.head)}
	}
	if !r.clean {
		return nil
	}
	if newest.first != r.segFirst || head != r.head || newest.size != r.end {
		return &eventstore.CorruptError{Segment: newest.name, Offset: newest.size, Position: s.next,
			Reason: fmt.Sprintf("the log was closed cleanly with events through position %d ending at offset %d of %s, and now holds events through %d ending at offset %d of %s", r.head, r.end, segmentName(r.segFirst), head, newest.size, newest.name)}
	}
	return nil
}

// recoverLazy opens a log read-only by its segments' headers and a full
// scan of the newest segment only (its torn tail, the head and the head's
// chain hash). Each older segment's extent comes from its name and the
// next segment's; a missing or misplaced segment, or damage inside one, is
// reported with its position by the read that reaches it (every frame's
// CRC and position are checked as it is read), and Verify checks it all.
func (s *Store) recoverLazy(names []string, firsts []uint64) error {
	headers := make([]header, len(names))
	crcs := make([]uint32, len(names))
	hb := make([]byte, headerSize)
	for i, name := range names {
		if i > 0 && firsts[i] <= firsts[i-1] {
			return &eventstore.CorruptError{Segment: name, Reason: "segment names are not in log order"}
		}
		if err := s.readHeader(name, hb); err != nil {
			return err
		}
		h, hcrc, err := decodeHeader(hb)
		if err != nil {
			return &eventstore.CorruptError{Segment: name, Offset: 0, Reason: err.Error()}
		}
		if h.first != firsts[i] {
			return &eventstore.CorruptError{Segment: name, Reason: fmt.Sprintf("header says first position %d, the file name %d", h.first, firsts[i])}
		}
		headers[i], crcs[i] = h, hcrc
	}
	if firsts[0] != 1 {
		return &eventstore.CorruptError{Segment: names[0], Reason: fmt.Sprintf("segment starts at position %d, want 1 (a segment is missing or out of place)", firsts[0])}
	}
	last := len(names) - 1
	for i := range last {
		s.segs = append(s.segs, &segment{name: names[i], first: firsts[i], prevHash: headers[i].prevHash, headerCRC: crcs[i], lazy: true})
	}
	s.next, s.lastHash = firsts[last], headers[last].prevHash
	if err := s.recoverSegment(names[last], true); err != nil {
		return err
	}
	s.head = s.next - 1
	return nil
}

func (s *Store) readHeader(name string, hb []byte) error {
	f, err := s.fs.OpenFile(s.path(name), os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("filestore: open %s: %w", name, err)
	}
	defer f.Close()
	n, err := f.ReadAt(hb, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("filestore: read %s: %w", name, err)
	}
	if n < len(hb) {
		return &eventstore.CorruptError{Segment: name, Offset: int64(n), Reason: "segment header is short"}
	}
	return nil
}

// loadOffsets loads the frame offsets of a lazily opened segment (read-only
// stores only): one sequential scan of that segment.
func (s *Store) loadOffsets(seg *segment) error {
	s.lazyMu.Lock()
	defer s.lazyMu.Unlock()
	if !seg.lazy {
		return nil
	}
	s.mu.RLock()
	end := s.head + 1
	for _, o := range s.segs {
		if o.first > seg.first {
			end = o.first
			break
		}
	}
	s.mu.RUnlock()
	f, err := s.fs.OpenFile(s.path(seg.name), os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("filestore: open %s: %w", seg.name, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return fmt.Errorf("filestore: stat %s: %w", seg.name, err)
	}
	offs := make([]uint32, 0, end-seg.first)
	sc := newFrameScanner(f, size, headerSize, seg.headerCRC)
	for pos := seg.first; ; pos++ {
		_, off, err := sc.nextEvent(seg.name, pos)
		if errors.Is(err, io.EOF) {
			if pos != end {
				return &eventstore.CorruptError{Segment: seg.name, Offset: off, Position: pos, Reason: fmt.Sprintf("segment ends at position %d, the next begins at %d", pos-1, end)}
			}
			break
		}
		if err != nil {
			return err
		}
		offs = append(offs, uint32(off))
	}
	s.mu.Lock()
	seg.offsets, seg.lazy = offs, false
	s.mu.Unlock()
	return nil
}

// loadStreams builds the stream index of a lazily opened store (and every
// segment's offsets) by scanning the whole log, the first time a stream is
// read.
func (s *Store) loadStreams() error {
	s.lazyMu.Lock()
	defer s.lazyMu.Unlock()
	if !s.lazy {
		return nil
	}
	full := &Store{dir: s.dir, opts: s.opts, fs: s.fs, ids: newIDIndex(), streams: make(map[string][]uint64), next: 1, hasher: newChainDigest(), noIDIndex: true}
	if err := full.recover(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(full.segs) < len(s.segs) {
		return &eventstore.CorruptError{Segment: s.segs[len(s.segs)-1].name, Reason: "segment disappeared while the log was open"}
	}
	for i, seg := range s.segs {
		if seg.lazy {
			seg.offsets, seg.lazy = full.segs[i].offsets, false
		}
	}
	s.streams, s.lazy = full.streams, false
	return nil
}

// pendingEvent is an event of a batch whose commit frame is not yet seen.
// Recovery indexes it at once and takes it back if the batch turns out to
// be a torn tail.
type pendingEvent struct {
	st  *streamRec
	key idKey // of its id, when the id index is built
}

// streamRec is one stream's positions while recovery rebuilds the stream
// index. Recovery looks streams up by the frame's bytes, so a stream's name
// is allocated once, not once per event; recover moves the positions into
// Store.streams at the end.
type streamRec struct {
	name      string
	positions []uint64
}

func (s *Store) recoverSegment(name string, last bool) error {
	f, err := s.fs.OpenFile(s.path(name), os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("filestore: open %s: %w", name, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return fmt.Errorf("filestore: stat %s: %w", name, err)
	}
	hb := make([]byte, headerSize)
	if _, err := f.ReadAt(hb, 0); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("filestore: read %s: %w", name, err)
	}
	h, hcrc, err := decodeHeader(hb)
	if err != nil {
		return &eventstore.CorruptError{Segment: name, Offset: 0, Reason: err.Error()}
	}
	if h.first != s.next {
		return &eventstore.CorruptError{Segment: name, Reason: fmt.Sprintf("header says first position %d, want %d", h.first, s.next)}
	}
	if h.prevHash != s.lastHash {
		return &eventstore.CorruptError{Segment: name, Reason: "header's previous chain hash does not match the last event of the previous segment"}
	}
	seg := &segment{name: name, first: h.first, prevHash: h.prevHash, headerCRC: hcrc, size: headerSize}
	s.segs = append(s.segs, seg)
	s.lastCRC = hcrc

	sc := newFrameScanner(f, size, headerSize, hcrc)
	pending := s.pending[:0]
	// undo takes the uncommitted batch back out of the indexes.
	undo := func() {
		for i := len(pending) - 1; i >= 0; i-- {
			e := &pending[i]
			if e.st != nil {
				e.st.positions = e.st.positions[:len(e.st.positions)-1]
			}
			if !s.noIDIndex {
				s.ids.remove(e.key)
			}
		}
		seg.offsets = seg.offsets[:s.next-seg.first]
	}
	defer func() { s.pending = pending[:0] }()
	prevHash := s.lastHash
	var batchHash [32]byte // chain hash of the batch's latest event
	committedEnd := int64(headerSize)
	committedCRC := hcrc
	for {
		kind, p, off, err := sc.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var fe *frameError
			if !errors.As(err, &fe) {
				return fmt.Errorf("filestore: read %s: %w", name, err)
			}
			pos := s.next + uint64(len(pending))
			if !last {
				return &eventstore.CorruptError{Segment: name, Offset: off, Position: pos, Reason: fe.reason}
			}
			if s.liveTail(f, off, sc.seed, false) {
				undo()
				pending = pending[:0]
				seg.size, s.lastCRC = committedEnd, committedCRC
				return nil
			}
			live, err := s.judgeTail(f, seg, size, committedEnd, off, sc.seed, pos, fe.reason)
			if err != nil {
				return err
			}
			if live {
				undo()
				pending = pending[:0]
				seg.size, s.lastCRC = committedEnd, committedCRC
				return nil
			}
			undo()
			pending = pending[:0]
			return s.endTail(f, seg, committedEnd, committedCRC, size, fe.reason, off, sc.seed)
		}
		d, err := decodePayload(p)
		pos := s.next + uint64(len(pending))
		if err == nil && d.position != pos {
			err = fmt.Errorf("frame holds position %d, want %d", d.position, pos)
		}
		if err != nil {
			return &eventstore.CorruptError{Segment: name, Offset: off, Position: pos, Reason: err.Error()}
		}
		copy(batchHash[:], d.hash)
		if s.matchHash != nil && s.matchPos == 0 && batchHash == *s.matchHash {
			s.matchPos = pos
		}
		if s.verifyChain {
			if want := chainHashWith(s.hasher, &prevHash, p); want != batchHash {
				return &eventstore.CorruptError{Segment: name, Offset: off, Position: pos, Reason: fmt.Sprintf("chain hash mismatch: stored %x, recomputed %x (the event or one before it was altered)", batchHash[:8], want[:8])}
			}
			prevHash = batchHash
			if s.progress != nil && pos&4095 == 0 {
				s.progress(s.scanned + off)
			}
		}
		var pe pendingEvent
		if !s.lazy {
			st := s.recStreams[string(d.stream)]
			if st == nil {
				st = &streamRec{name: string(d.stream)}
				s.recStreams[st.name] = st
			}
			if want := uint64(len(st.positions)); d.revision != want {
				return &eventstore.CorruptError{Segment: name, Offset: off, Position: pos, Reason: fmt.Sprintf("event of stream %q has revision %d, want %d", st.name, d.revision, want)}
			}
			st.positions = append(st.positions, pos)
			pe.st = st
		}
		if !s.noIDIndex {
			pe.key = keyOfBytes(d.id)
			if _, inserted := s.ids.lookupOrInsert(pe.key, pos); !inserted {
				return &eventstore.CorruptError{Segment: name, Offset: off, Position: pos, Reason: fmt.Sprintf("event id %s is stored twice", d.id)}
			}
		}
		seg.offsets = append(seg.offsets, uint32(off))
		pending = append(pending, pe)
		if kind == kindCommit {
			s.lastHash = batchHash
			s.next += uint64(len(pending))
			if r := s.rec; r != nil && r.head == s.next-1 && r.headHash != batchHash {
				return &eventstore.CorruptError{Segment: name, Offset: off, Position: s.next - 1,
					Reason: fmt.Sprintf("chain hash %x differs from the one the commit record holds for this position (%x): the log was rewritten", batchHash[:8], r.headHash[:8])}
			}
			pending = pending[:0]
			committedEnd = sc.offset()
			committedCRC = sc.seed
			seg.size = committedEnd
			s.lastCRC = committedCRC
		}
	}
	s.scanned += size
	if len(pending) > 0 {
		if !last {
			return &eventstore.CorruptError{Segment: name, Offset: committedEnd, Position: s.next, Reason: "batch without its commit frame before the end of an older segment"}
		}
		const why = "batch without its commit frame"
		live, err := s.judgeTail(f, seg, size, committedEnd, sc.offset(), sc.seed, s.next+uint64(len(pending)), why)
		if err != nil {
			return err
		}
		undo()
		if live {
			pending = pending[:0]
			seg.size, s.lastCRC = committedEnd, committedCRC
			return nil
		}
		pending = pending[:0]
		return s.endTail(f, seg, committedEnd, committedCRC, size, why, sc.offset(), sc.seed)
	}
	return nil
}

// judgeTail decides whether the scan of the newest segment, which stopped
// at offset stop (a bad frame, where a frame chained from seed and
// holding position pos was expected; or the end of a batch without its
// commit frame) after the last committed frame ending at committedEnd,
// found a torn tail, which recovery may cut, or damage, which it must
// not: it returns a *CorruptError for damage.
//
// A crash leaves a torn or uncommitted tail only past the last commit
// that was durable. With a commit record (doc.go) that is known: the log
// must hold every frame up to the record's offset, and a log the record
// says was closed cleanly has no torn tail at all. Without one (a log
// written before the record existed) only the frames can tell: if any
// valid frame follows the bad one anywhere in the segment, the damage is
// inside the log. Beside a live writer (read-only opens) frames after a
// half-written one are its write landing: live is then true, and the
// store simply ends at its last committed batch.
func (s *Store) judgeTail(f File, seg *segment, size, committedEnd, stop int64, seed uint32, pos uint64, why string) (live bool, err error) {
	corrupt := func(how string) error {
		return &eventstore.CorruptError{Segment: seg.name, Offset: stop, Position: pos, Reason: why + "; " + how}
	}
	// Zeros alone past the last commit are space zeroed ahead (or left so
	// by other means): they hide no event, and endTail keeps them. What
	// the commit record shows durable is checked afterwards
	// (checkCommitRecord).
	if dataEnd, err := nonZeroEnd(f, committedEnd, size); err != nil {
		return false, fmt.Errorf("filestore: read tail of %s: %w", seg.name, err)
	} else if dataEnd == committedEnd {
		return false, nil
	}
	if r := s.rec; r != nil {
		if r.clean {
			return false, corrupt("the log was closed cleanly, so this is damage, not a torn write")
		}
		if r.segFirst == seg.first && committedEnd < r.end {
			return false, corrupt(fmt.Sprintf("the commit record shows the frames up to offset %d were durable, so this is damage, not a torn write", r.end))
		}
		return false, nil
	}
	v, err := findValidFrame(f, size, stop, seed, pos)
	if err != nil {
		return false, fmt.Errorf("filestore: read %s: %w", seg.name, err)
	}
	if v >= 0 {
		if s.liveTail(f, stop, seed, true) {
			return true, nil
		}
		return false, corrupt(fmt.Sprintf("a valid frame follows at offset %d, so this is damage inside the log, not a torn tail", v))
	}
	return false, nil
}

// liveTail reports, for a read-only open that may run beside a writer,
// whether a valid frame (chained from seed) now starts at off, where the
// scan of the newest segment stopped: the writer has since completed what
// the scan read half written, or as the zeros it writes ahead. Such a
// store ends at its last committed batch, with nothing to report; a torn
// tail or damage does not become valid by itself. With patience it looks
// again for a few milliseconds, the time a write in progress takes to
// land, before it answers no.
func (s *Store) liveTail(f File, off int64, seed uint32, patience bool) bool {
	if !s.opts.ReadOnly || s.strictTail {
		return false
	}
	for wait := time.Millisecond; ; wait *= 2 {
		if size, err := f.Size(); err == nil && validFrameAt(f, size, off, seed) {
			return true
		}
		if !patience || wait > 8*time.Millisecond {
			return false
		}
		time.Sleep(wait)
	}
}

// endTail handles what follows the last committed frame (at end) of the
// newest segment when it is not the end of the file; the scan stopped at
// offset stop, where a frame chained from stopSeed was expected. Zeros
// alone are the space the writer zeroes ahead of the log
// (Options.ZeroAhead): a clean end, kept for the writer to reuse.
// Anything else is a torn tail (unless a live writer has since completed
// it, see liveTail): the bytes up to the last nonzero one are copied aside
// into DIR/torn and the segment is cut at end (read-only stores just stop
// there).
func (s *Store) endTail(f File, seg *segment, end int64, crc uint32, size int64, why string, stop int64, stopSeed uint32) error {
	seg.size = end
	s.lastCRC = crc
	dataEnd, err := nonZeroEnd(f, end, size)
	if err != nil {
		return fmt.Errorf("filestore: read tail of %s: %w", seg.name, err)
	}
	if dataEnd == end {
		s.zeroTail = size - end
		return nil
	}
	// Beside a live writer those bytes may be its latest commit, half
	// written when the scan read it: then the frame the scan stopped at
	// is whole by now.
	if s.liveTail(f, stop, stopSeed, true) {
		return nil
	}
	msg := fmt.Sprintf("torn tail in %s: %d bytes from offset %d (%s)", seg.name, dataEnd-end, end, why)
	if s.strictTail {
		// Verify: the tail is reported (Problem) and described, for the
		// caller to tell what a crash leaves from damage.
		s.torn = &TornTail{Segment: seg.name, Offset: end, Bytes: dataEnd - end, Position: s.next, Reason: why}
		return nil
	}
	if s.opts.ReadOnly {
		s.Repaired = msg + "; left alone (read-only)"
		return nil
	}
	kept := s.keepTornTail(f, seg.name, end, dataEnd)
	wf, err := s.fs.OpenFile(s.path(seg.name), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("filestore: repair %s: %w", seg.name, err)
	}
	defer wf.Close()
	if err := wf.Truncate(end); err != nil {
		return fmt.Errorf("filestore: truncate %s: %w", seg.name, err)
	}
	if err := wf.Sync(); err != nil {
		return fmt.Errorf("filestore: sync %s: %w", seg.name, err)
	}
	s.Repaired = msg + "; " + kept
	s.opts.Logger.Warn("filestore: repaired torn tail", "segment", seg.name, "offset", end, "bytes", dataEnd-end, "reason", why, "kept", kept)
	return nil
}

// keepTornTail copies the torn tail [end, dataEnd) of segment name into
// DIR/torn for inspection and says where. The copy is evidence, not
// data (nothing in it was committed): when it cannot be made, a full
// disk most likely, recovery goes on without it (it must work on a full
// disk, and cutting the tail frees space) and says so.
func (s *Store) keepTornTail(f File, name string, end, dataEnd int64) string {
	tornDir := s.path("torn")
	aside := filepath.Join(tornDir, fmt.Sprintf("%s.%d.torn", name, end))
	err := func() error {
		damaged := make([]byte, dataEnd-end)
		if _, err := f.ReadAt(damaged, end); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read: %w", err)
		}
		if err := s.fs.MkdirAll(tornDir, 0o755); err != nil {
			return err
		}
		if err := writeFileSync(s.fs, aside, damaged); err != nil {
			_ = s.fs.Remove(aside)
			return err
		}
		return s.fs.SyncDir(tornDir)
	}()
	if err != nil {
		s.opts.Logger.Warn("filestore: torn tail not copied aside; cutting it anyway", "segment", name, "offset", end, "bytes", dataEnd-end, "err", err)
		return fmt.Sprintf("not copied aside (%v)", err)
	}
	return "copied to " + aside
}

// nonZeroEnd returns the offset just past the last nonzero byte of f in
// [from, size), or from when they are all zeros.
//
// A reader beside a live writer may find the file shorter than when it
// looked (the writer cut its zeros off to start a new segment): bytes past
// the end are no bytes.
func nonZeroEnd(f File, from, size int64) (int64, error) {
	if cur, err := f.Size(); err != nil {
		return 0, err
	} else if cur < size {
		size = cur
	}
	if size <= from {
		return from, nil
	}
	buf := make([]byte, min(size-from, 256<<10))
	for hi := size; hi > from; {
		lo := max(from, hi-int64(len(buf)))
		b := buf[:hi-lo]
		n, err := f.ReadAt(b, lo)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		b = b[:n]
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != 0 {
				return lo + int64(i) + 1, nil
			}
		}
		hi = lo
	}
	return from, nil
}

func writeFileSync(fs FS, name string, data []byte) error {
	f, err := fs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// openActive opens the newest segment for appending, creating the first
// segment of an empty log.
func (s *Store) openActive() error {
	if len(s.segs) == 0 {
		seg, err := s.createSegment(s.next, s.lastHash)
		if err != nil {
			return err
		}
		s.segs = append(s.segs, seg)
		s.lastCRC = seg.headerCRC
	}
	seg := s.segs[len(s.segs)-1]
	f, err := s.fs.OpenFile(s.path(seg.name), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("filestore: open %s for append: %w", seg.name, err)
	}
	size, err := f.Size()
	if err == nil && size < seg.size {
		err = fmt.Errorf("file is %d bytes, its frames end at %d", size, seg.size)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("filestore: open %s for append: %w", seg.name, err)
	}
	// Recovery left any zeros past the frames (a zero tail): reuse them.
	s.wfile, s.wend, s.zeroEnd = f, seg.size, size
	return nil
}

// openCommitRecord marks the log open for writing in its commit record
// (durably, before any append), so that a crash from now on is not taken
// for a clean close. A record that cannot be written is only a loss of
// evidence for a later recovery, unless it says the log was closed
// cleanly: left so, a crash would make every torn tail look like damage.
func (s *Store) openCommitRecord() error {
	seg := s.segs[len(s.segs)-1]
	s.wfirst, s.durHash, s.durCRC = seg.first, s.lastHash, s.lastCRC
	r := commitRecord{segFirst: seg.first, end: seg.size, head: s.next - 1, headHash: s.lastHash}
	cw, err := openCommitWriter(s.fs, s.dir, s.path(commitRecordName), s.rec, r)
	if err != nil {
		if s.rec != nil && s.rec.clean {
			return fmt.Errorf("%w (it says the log was closed cleanly, and must be updated before the log is written)", err)
		}
		s.opts.Logger.Warn("filestore: commit record not written; recovery after a crash will judge torn tails by the frames alone", "err", err)
		return nil
	}
	s.cw = cw
	return nil
}

// createSegment writes a new segment file durably: header to a temporary
// file, fsync, rename, fsync the directory.
func (s *Store) createSegment(first uint64, prevHash [32]byte) (*segment, error) {
	h := header{first: first, prevHash: prevHash}
	b := h.encode()
	name := segmentName(first)
	tmp := s.path(name + ".tmp")
	if err := writeFileSync(s.fs, tmp, b); err != nil {
		return nil, fmt.Errorf("filestore: create segment %s: %w", name, err)
	}
	if err := s.fs.Rename(tmp, s.path(name)); err != nil {
		return nil, fmt.Errorf("filestore: create segment %s: %w", name, err)
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		return nil, fmt.Errorf("filestore: sync %s: %w", s.dir, err)
	}
	_, crc, _ := decodeHeader(b)
	return &segment{name: name, first: first, prevHash: prevHash, headerCRC: crc, size: headerSize}, nil
}

// parseUUID returns the 16 bytes of a canonical UUID string.
func parseUUID[T string | []byte](id T) ([16]byte, bool) {
	var u [16]byte
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return u, false
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i-- // skip the dash: the next pair starts one byte later
			continue
		}
		// Only lowercase keys are compact: another case of the same UUID
		// is a different id string and must stay distinct.
		hi, lo := lowerHex[id[i]], lowerHex[id[i+1]]
		if hi|lo == 0xff {
			return u, false
		}
		u[j] = hi<<4 | lo
		j++
	}
	return u, true
}

// lowerHex maps '0'-'9' and 'a'-'f' to their value and every other byte to
// 0xff.
var lowerHex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := byte(0); i < 10; i++ {
		t['0'+i] = i
	}
	for i := byte(0); i < 6; i++ {
		t['a'+i] = 10 + i
	}
	return t
}()

// idKey is an event id parsed once: the 16 bytes of a lowercase canonical
// UUID (the compact index) and their hash, or the string itself. Appenders
// make their keys before staging, so parsing and hashing are not part of
// the serial work.
type idKey struct {
	u    [16]byte
	h    uint64 // hashUUID(&u), when uuid
	uuid bool
	s    string // only when !uuid
}

func keyOf(id string) idKey {
	if u, ok := parseUUID(id); ok {
		return idKey{u: u, h: hashUUID(&u), uuid: true}
	}
	return idKey{s: id}
}

// keyOfBytes is keyOf for an id still in a frame: a UUID needs no string.
func keyOfBytes(id []byte) idKey {
	if u, ok := parseUUID(id); ok {
		return idKey{u: u, h: hashUUID(&u), uuid: true}
	}
	return idKey{s: string(id)}
}

// segmentOf returns the segment holding pos; the caller holds mu.
func (s *Store) segmentOf(pos uint64) *segment {
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].first > pos }) - 1
	if i < 0 {
		return nil
	}
	return s.segs[i]
}

// Head returns the position of the last durable event.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, eventstore.ErrClosed
	}
	return s.head, nil
}

// HeadHash returns the chain hash of the last durable event (zeros when
// the log is empty) with its position: what an auditor records.
func (s *Store) HeadHash(ctx context.Context) (uint64, [32]byte, error) {
	s.mu.RLock()
	head := s.head
	s.mu.RUnlock()
	var h [32]byte
	if head == 0 {
		return 0, h, nil
	}
	err := s.readAll(ctx, head, func(_ *eventstore.RawEvent, hash []byte) error {
		copy(h[:], hash)
		return nil
	})
	return head, h, err
}

// Close stops the writer after the appends already queued and releases
// the log.
func (s *Store) Close() error {
	s.stageMu.Lock()
	if s.closing {
		s.stageMu.Unlock()
		return nil
	}
	s.closing = true
	s.kick()
	s.stageMu.Unlock()
	var err error
	if s.done != nil {
		<-s.done
		if s.wfile != nil {
			if s.werr.Load() == nil {
				err = s.trimZeros()
				if err == nil && s.cw != nil {
					s.mu.RLock()
					head := s.head
					s.mu.RUnlock()
					err = s.cw.closeClean(commitRecord{segFirst: s.wfirst, end: s.wend, head: head, headHash: s.durHash})
				}
			}
			if cerr := s.wfile.Close(); err == nil {
				err = cerr
			}
		}
		if s.cw != nil {
			s.cw.f.Close()
		}
	}
	s.mu.Lock()
	s.closed = true
	close(s.headCh)
	s.mu.Unlock()
	s.releaseLock()
	return err
}
