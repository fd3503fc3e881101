package filestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
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

// Store is the embedded event log. It is safe for concurrent use.
type Store struct {
	dir  string
	opts Options
	fs   FS
	lock io.Closer

	// mu guards the indexes and the published head. Appenders write the
	// indexes while staging (holding the staging lock too); readers see
	// positions <= head.
	mu       sync.RWMutex
	segs     []*segment
	streams  map[string][]uint64 // stream -> positions, index = revision
	head     uint64
	headHash [32]byte // chain hash of the event at head (zeros when empty)
	// headHashFrom is the newest segment of a read-only open, whose chain
	// recovery left for HeadHash to compute once (headHashOnce; nil: none,
	// headHash is known).
	headHashFrom *segment
	headHashOnce sync.Once
	headHashErr  error
	headCh       chan struct{} // closed and replaced when head moves
	closed       bool

	// staging is what appenders check and seal their appends against, one
	// at a time, and the queue they hand the flusher (stage.go).
	staging staging
	// flusher is what only the flusher goroutine writes: the active
	// segment and the commit record (flush.go).
	flusher flusher

	// Repaired describes a torn tail cut by Open ("" when none).
	Repaired string

	// lazy: a read-only open that scanned only the newest segment. Older
	// segments' offsets are loaded when a read starts inside one, and the
	// stream index is built by a full scan the first time a stream is read:
	// a replay from position 1, the common read-only job, never pays for
	// indexes it does not use. lazyMu serializes the loading.
	lazy   bool
	lazyMu sync.Mutex
}

// staging is the state appends are staged against, in log order, and the
// queue of staged groups the flusher takes. Its mutex serializes staging:
// each appender in turn (or the flusher, for the small appends it stages;
// see deferOp) checks its append against the indexes, seals its frames
// (positions, revisions, CRCs) and puts them in the queue (see enqueue). Recovery
// sets it before the flusher starts; the flusher resets it after a commit
// that failed before anything reached the log (unstage).
type staging struct {
	sync.Mutex
	next    uint64   // position the next event gets
	ids     *idIndex // event id -> position, of every stored or staged event
	lastCRC uint32   // of the last frame staged
	// offs is staging's scratch for an append's frame offsets.
	offs     []uint32
	closing  bool     // no more appends
	queue    []*group // staged groups in log order, not yet taken by the flusher
	queueLen int      // bytes in queue
	// queueOps counts the appends in queue, and want how many appends the
	// flusher expects in its next flush: those waiting when the last one
	// ended (its writers come back). queueOps changes under the lock; want
	// is set by the flusher after each commit without it: only a sleeping
	// flusher is woken on it (kick), and the flusher reads it again under
	// the lock before it sleeps (flushLoop), so the grower holding the lock
	// does not delay the commit's answer. Both are atomic for the deferred
	// appends, which read them without the lock to decide whether theirs
	// completes the flush (deferOp).
	queueOps, want atomic.Int64
	// asleep: the flusher waits on wake until the queue is ready; whoever
	// makes it so (an appender, Close) sends the one wake-up.
	asleep bool
	wake   chan struct{} // capacity 1

	// The rest is used without the lock.
	//
	// Small appends are not staged by their appenders but pushed here for
	// the flusher to stage, all of a commit's at once (see deferOp).
	// deferred is a lock-free stack (newest first; closedStack once the
	// flusher has stopped); deferredN counts the appends on it.
	deferred  atomic.Pointer[appendOp]
	deferredN atomic.Int64
	// inflight counts appends past their own checks and not yet answered:
	// the flusher waits (up to CommitLinger) for those on their way.
	inflight atomic.Int64
}

// flusher is the state of the flusher goroutine (flushLoop), which alone
// writes the log: it is set by Open before the goroutine starts and read
// by Close after it stopped. Only werr and stats are read by others.
type flusher struct {
	done chan struct{} // closed when the flusher has stopped
	// werr is the sticky write error (ErrWriteFailed): staging refuses
	// every append once it is set.
	werr  atomic.Pointer[error]
	stats struct{ fsyncs, bytes, syncNanos atomic.Uint64 }
	file  File // the active segment
	// first is the first position of the segment in file; end is the end
	// of the frames written to it; zeroEnd (>= end) is file's size, the
	// bytes past end being zeros (see Options.ZeroAhead).
	first        uint64
	end, zeroEnd int64
	// durHash and durCRC are the chain hash and CRC of the last durable
	// frame (the staging state to go back to when a commit fails before
	// anything of it reached the log; see unstage).
	durHash [32]byte
	durCRC  uint32
	// hasher hashes small commits; chainer large ones (chain.go).
	hasher  *chainDigest
	chainer *chainer
	gather  []byte // buffer for gathering small chunks into one write
	// zeroOff stops zeroing ahead after it failed, until the next segment.
	zeroOff bool
	// cw keeps the commit record up to date (nil: read-only, or the
	// record could not be written); cwWarned: a failed update was logged.
	cw       *commitWriter
	cwWarned bool
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
	s := newStore(dir, o, o.ReadOnly)
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
	r := &recovery{s: s, noIDIndex: o.ReadOnly}
	if err := r.run(); err != nil {
		s.releaseLock()
		return nil, err
	}
	s.Repaired = r.repaired
	if o.ReadOnly {
		return s, nil
	}
	if err := s.openActive(); err != nil {
		s.releaseLock()
		return nil, err
	}
	if err := s.openCommitRecord(r.rec); err != nil {
		s.flusher.file.Close()
		s.releaseLock()
		return nil, err
	}
	s.staging.wake = make(chan struct{}, 1)
	s.flusher.done = make(chan struct{})
	s.flusher.hasher = newChainDigest()
	s.startChainer()
	go s.flushLoop()
	return s, nil
}

// newStore returns the empty Store of the log in dir that a recovery
// fills: for Open, Verify and the full scan of a lazily opened store
// (loadStreams).
func newStore(dir string, o Options, lazy bool) *Store {
	s := &Store{
		dir: dir, opts: o, fs: o.FS,
		streams: make(map[string][]uint64),
		headCh:  make(chan struct{}),
		lazy:    lazy,
	}
	s.staging.next = 1
	s.staging.ids = newIDIndex()
	return s
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
	if s.headHashFrom != nil {
		s.headHashOnce.Do(func() {
			h, err := s.chainThrough(s.headHashFrom)
			s.mu.Lock()
			s.headHash, s.headHashErr = h, err
			s.mu.Unlock()
		})
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, [32]byte{}, eventstore.ErrClosed
	}
	return s.head, s.headHash, s.headHashErr
}

// chainThrough recomputes the chain hash of the last event of seg, the
// newest segment of a read-only store, from its header's (HeadHash). Each
// frame's CRC and position are checked again as it is read.
func (s *Store) chainThrough(seg *segment) ([32]byte, error) {
	h := seg.prevHash
	f, err := s.fs.OpenFile(s.path(seg.name), os.O_RDONLY, 0)
	if err != nil {
		return h, fmt.Errorf("filestore: open %s: %w", seg.name, err)
	}
	defer f.Close()
	d := newChainDigest()
	sc := newFrameScanner(f, seg.size, headerSize, seg.seed, seg.version)
	for pos := seg.first; pos < seg.first+uint64(len(seg.offsets)); pos++ {
		dp, _, err := sc.nextEvent(seg.name, pos)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = &eventstore.CorruptError{Segment: seg.name, Position: pos, Reason: "segment ends before the head"}
			}
			return h, err
		}
		h = chainHashWith(d, &h, seg.version, dp.raw)
	}
	return h, nil
}

// Close stops the writer after the appends already queued and releases
// the log.
func (s *Store) Close() error {
	s.staging.Lock()
	if s.staging.closing {
		s.staging.Unlock()
		return nil
	}
	s.staging.closing = true
	s.kick()
	s.staging.Unlock()
	var err error
	if s.flusher.done != nil {
		<-s.flusher.done
		if s.flusher.file != nil {
			if s.flusher.werr.Load() == nil {
				err = s.trimZeros()
				if err == nil && s.flusher.cw != nil {
					s.mu.RLock()
					head := s.head
					s.mu.RUnlock()
					err = s.flusher.cw.closeClean(commitRecord{segFirst: s.flusher.first, end: s.flusher.end, head: head, headHash: s.flusher.durHash})
				}
			}
			if cerr := s.flusher.file.Close(); err == nil {
				err = cerr
			}
		}
		if s.flusher.cw != nil {
			s.flusher.cw.f.Close()
		}
	}
	s.mu.Lock()
	s.closed = true
	close(s.headCh)
	s.mu.Unlock()
	s.releaseLock()
	return err
}
