package filestore

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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
