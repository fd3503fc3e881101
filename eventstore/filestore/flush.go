package filestore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/epochledger/epochledger/eventstore"
)

// openActive opens the newest segment for appending, creating the first
// segment of an empty log.
func (s *Store) openActive() error {
	if len(s.segs) == 0 {
		seg, err := s.createSegment(s.staging.next, s.headHash)
		if err != nil {
			return err
		}
		s.segs = append(s.segs, seg)
		s.staging.lastCRC = seg.seed
	}
	seg := s.segs[len(s.segs)-1]
	if seg.version != segVersion && len(seg.offsets) == 0 {
		// An older version's newest segment without a frame (its writer
		// stopped right after starting it, or its only batch was a torn
		// tail): replaced by a segment of this version with the same
		// name, so that no segment mixes versions. One with frames is
		// continued by a new segment (enqueue).
		made, err := s.createSegment(seg.first, seg.prevHash)
		if err != nil {
			return err
		}
		s.segs[len(s.segs)-1] = made
		s.staging.lastCRC = made.seed
		seg = made
	}
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
	s.flusher.file, s.flusher.end, s.flusher.zeroEnd = f, seg.size, size
	return nil
}

// openCommitRecord marks the log open for writing in its commit record
// (durably, before any append), so that a crash from now on is not taken
// for a clean close. A record that cannot be written is only a loss of
// evidence for a later recovery, unless it says the log was closed
// cleanly: left so, a crash would make every torn tail look like damage.
// prev is the record recovery read (nil: none).
func (s *Store) openCommitRecord(prev *commitRecord) error {
	seg := s.segs[len(s.segs)-1]
	s.flusher.first, s.flusher.durHash, s.flusher.durCRC = seg.first, s.headHash, s.staging.lastCRC
	r := commitRecord{segFirst: seg.first, end: seg.size, head: s.staging.next - 1, headHash: s.headHash}
	cw, err := openCommitWriter(s.fs, s.dir, s.path(commitRecordName), prev, r)
	if err != nil {
		if prev != nil && prev.clean {
			return fmt.Errorf("%w (it says the log was closed cleanly, and must be updated before the log is written)", err)
		}
		s.opts.Logger.Warn("filestore: commit record not written; recovery after a crash will judge torn tails by the frames alone", "err", err)
		return nil
	}
	s.flusher.cw = cw
	return nil
}

// ErrWriteFailed wraps the sticky write or fsync error.
var ErrWriteFailed = errors.New("filestore: an earlier write or fsync failed; reopen the log to recover")

// ErrNotStored wraps the error of a commit that failed before any of it
// reached the log, or whose partial write the writer cut back off (no
// space left): its appends are refused, the log holds none of them, and
// later appends are tried again. Only a write or fsync whose outcome is
// unknown is sticky (ErrWriteFailed). It is eventstore.ErrNotStored, so a
// caller holding any backend (the coordinator) tells it from a failure.
var ErrNotStored = eventstore.ErrNotStored

// notWritten marks a flush error after which the log holds nothing of
// the flush (see ErrNotStored).
type notWritten struct{ err error }

func (e *notWritten) Error() string { return e.err.Error() }

func (e *notWritten) Unwrap() error { return e.err }

// noSpace reports whether err is the file system refusing space: a write
// that fails so has written only what it reports, and the writer can cut
// that back.
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG)
}

// ready reports whether the flusher should take the queue now (staging
// locked), with the pending appends it stages first. A small flush waits
// for the appends already on their way and those the previous flush's
// writers will send; a large one, a segment roll or Close does not.
func (s *Store) ready() bool {
	if s.staging.closing {
		return true
	}
	pending := s.staging.deferredN.Load()
	if len(s.staging.queue) == 0 && pending <= 0 {
		return false
	}
	if s.staging.queueLen >= lingerMaxBytes || s.staging.queueOps.Load()+pending >= max(s.staging.inflight.Load(), s.staging.want.Load()) {
		return true
	}
	for i := 1; i < len(s.staging.queue); i++ { // the queue may be empty, the appends pending
		if s.staging.queue[i].newSeg != nil {
			return true
		}
	}
	return false
}

// kick wakes the flusher if it sleeps and the queue is now ready (staging
// locked).
func (s *Store) kick() {
	if s.staging.asleep && s.ready() {
		s.staging.asleep = false
		select {
		case s.staging.wake <- struct{}{}:
		default:
		}
	}
}

// gatherMax bounds the chunks the flusher copies together into one write.
const gatherMax = 64 << 10

// lingerMaxBytes ends a group commit's wait for more appends: a flush this
// large already spreads its fsync over enough bytes, and waiting would only
// leave the disk idle while the appenders stage the appends behind it
// (batched appends then pipeline: one group is written while the next is
// staged). The wait is for many small concurrent appends.
const lingerMaxBytes = 128 << 10

// flushLoop takes the staged groups from the queue, writes them and makes
// them durable with one fdatasync (group commit), then publishes them and
// wakes their waiters. Nothing is acknowledged before its fdatasync
// returns.
//
// While the queue is small it waits, at most CommitLinger, for the appends
// that belong with this flush: those already on their way, and, when
// writers are concurrent, the ones the previous fdatasync woke and that
// are about to come back (want). One fdatasync then serves all of them
// instead of alternating half-cohorts; a lone writer never waits. The wait
// blocks (never spins: a busy CPU would delay the kernel's journal thread
// and so every fdatasync), and the append that completes the flush wakes
// the flusher once; CommitLinger is only the backstop for writers that do
// not come back. The small appends pushed meanwhile (deferOp) are staged
// just before the queue is taken.
func (s *Store) flushLoop() {
	defer close(s.flusher.done)
	defer s.stopChainer()
	backstop := time.NewTimer(time.Hour)
	backstop.Stop()
	var batch []*group // reused: the groups of one flush
	for {
		s.staging.Lock()
		armed := false
		for !s.ready() {
			if len(s.staging.queue) == 0 && s.staging.deferredN.Load() <= 0 && s.staging.want.Load() == 0 {
				// Idle: the next append wakes the flusher (it is ready at
				// once unless others are on their way, and the last of those
				// wakes it).
				s.sleep(nil)
				continue
			}
			if !armed {
				backstop.Reset(s.opts.CommitLinger)
				armed = true
			}
			if s.sleep(backstop.C) {
				armed = false
				if len(s.staging.queue) > 0 || s.staging.deferredN.Load() > 0 {
					break // flush what came
				}
				s.staging.want.Store(0) // the writers did not come back
			}
		}
		if armed {
			backstop.Stop()
		}
		s.stageDeferred()
		// Take the queue, up to the next group that starts a segment (a
		// new segment starts with its own write).
		n := min(1, len(s.staging.queue))
		for n < len(s.staging.queue) && s.staging.queue[n].newSeg == nil {
			n++
		}
		batch = append(batch[:0], s.staging.queue[:n]...)
		ops := 0
		for _, g := range batch {
			ops += g.ops
			s.staging.queueLen -= g.size
		}
		s.staging.queueOps.Add(-int64(ops))
		rest := copy(s.staging.queue, s.staging.queue[n:])
		clear(s.staging.queue[rest:])
		s.staging.queue = s.staging.queue[:rest]
		stop := s.staging.closing && len(s.staging.queue) == 0
		s.staging.Unlock()

		if len(batch) > 0 {
			s.commit(batch, ops)
		}
		clear(batch)
		if stop {
			s.closeDeferred()
			return
		}
	}
}

// sleep releases the staging lock until kick, Close or the timer c (nil: none)
// wakes the flusher, and reports whether the timer did.
func (s *Store) sleep(c <-chan time.Time) (timedOut bool) {
	s.staging.asleep = true
	s.staging.Unlock()
	select {
	case <-s.staging.wake:
	case <-c:
		timedOut = true
	}
	s.staging.Lock()
	s.staging.asleep = false
	return timedOut
}

// commit makes batch durable (or fails it with the sticky write error),
// publishes its events and answers its ops (the appends in batch).
func (s *Store) commit(batch []*group, ops int) {
	var err error
	if p := s.flusher.werr.Load(); p != nil {
		err = *p
	} else {
		err = s.flush(batch)
		var nw *notWritten
		switch {
		case err == nil:
		case errors.As(err, &nw):
			// Nothing of it is in the log: staging goes back to the
			// last durable commit, and the groups staged on top of this
			// one fail with it.
			extra, extraOps := s.unstage(batch)
			batch = append(batch, extra...)
			ops += extraOps
			err = fmt.Errorf("%w: %w", ErrNotStored, nw.err)
		default:
			err = fmt.Errorf("%w: %w", ErrWriteFailed, err)
			s.flusher.werr.Store(&err)
		}
	}
	if err == nil {
		lg := batch[len(batch)-1]
		s.flusher.durHash, s.flusher.durCRC = lg.hash, lg.crc
		if s.flusher.cw != nil {
			r := commitRecord{segFirst: s.flusher.first, end: s.flusher.end, head: lg.last, headHash: lg.hash}
			if werr := s.flusher.cw.write(r); werr != nil && !s.flusher.cwWarned {
				s.flusher.cwWarned = true
				s.opts.Logger.Warn("filestore: commit record not updated; recovery after a crash will trust less of the log", "err", werr)
			}
		}
		s.mu.Lock()
		if lg.last > s.head {
			s.head, s.headHash = lg.last, lg.hash
			close(s.headCh)
			s.headCh = make(chan struct{})
		}
		s.mu.Unlock()
	}
	// Everyone waiting now will be back soon: expect them in the next
	// flush.
	s.staging.want.Store(s.staging.inflight.Load())
	s.staging.inflight.Add(-int64(ops))
	for _, g := range batch {
		g.release()
		g.err = err
		if first := g.first; first != nil {
			g.first, g.lastOp = nil, nil
			first.done <- struct{}{} // it wakes the next (deferOp)
		}
		close(g.done) // wakes all the group's other appenders at once
	}
}

// flush writes groups (only the first may start a segment) and makes them
// durable with one fdatasync.
func (s *Store) flush(batch []*group) error {
	if g := batch[0]; g.newSeg != nil {
		// The segment being left keeps no zeros past its frames: only the
		// newest may have a zero tail (recovery treats one anywhere else as
		// damage).
		if err := s.trimZeros(); err != nil {
			return err
		}
		// The chain hash before it is known now: every commit before this
		// one is durable and hashed.
		g.newSeg.prevHash = s.flusher.durHash
		f, err := s.startSegment(g.newSeg)
		if err != nil {
			return err
		}
		if err := s.flusher.file.Close(); err != nil {
			f.Close()
			return err
		}
		s.flusher.file, s.flusher.end, s.flusher.zeroEnd, s.flusher.first = f, headerSize, headerSize, g.newSeg.first
		s.flusher.durCRC = g.newSeg.seed
		s.flusher.zeroOff = false
	}
	// Staging placed every group right after the one before it.
	begin := s.flusher.end
	at := s.flusher.end
	for _, g := range batch {
		if g.base != at {
			return fmt.Errorf("internal error: group encoded for offset %d, the segment is written to %d", g.base, at)
		}
		at += int64(g.size)
	}
	// Small chunks (many concurrent single-event appends make a group
	// each) are gathered into one write: a write system call costs more
	// than copying a few KiB. Large ones are written as they are.
	wrote := 0
	write := func(c []byte) error {
		n, err := s.flusher.file.WriteAt(c, s.flusher.end)
		if err == nil && n < len(c) {
			err = io.ErrShortWrite
		}
		if err != nil {
			err = fmt.Errorf("write %d bytes at offset %d: %w", len(c), s.flusher.end, err)
			if noSpace(err) {
				// The file system wrote what it reported and no more: cut
				// it back, so that the log holds nothing of this flush.
				if cerr := s.cutBack(begin); cerr != nil {
					return fmt.Errorf("%w; cutting the partial write back to offset %d failed: %w", err, begin, cerr)
				}
				return &notWritten{err}
			}
			return err
		}
		s.flusher.end += int64(n)
		wrote += n
		return nil
	}
	// The flusher's own buffer: a pooled one is often gone after a GC,
	// and then 64 KiB are allocated and cleared once per commit.
	if s.flusher.gather == nil {
		s.flusher.gather = make([]byte, 0, gatherMax)
	}
	gather := s.flusher.gather[:0]
	for _, g := range batch {
		for _, c := range g.chunks {
			switch {
			case len(c) == 0:
			case len(c) < gatherMax:
				if len(gather)+len(c) > cap(gather) {
					if err := write(gather); err != nil {
						return err
					}
					gather = gather[:0]
				}
				gather = append(gather, c...)
			default:
				if len(gather) > 0 {
					if err := write(gather); err != nil {
						return err
					}
					gather = gather[:0]
				}
				if err := write(c); err != nil {
					return err
				}
			}
		}
	}
	if len(gather) > 0 {
		if err := write(gather); err != nil {
			return err
		}
	}
	if wrote == 0 {
		chainGroups(s.flusher.hasher, batch, s.flusher.durHash) // groups kept for a roll: no events
		return nil
	}
	s.flusher.zeroEnd = max(s.flusher.zeroEnd, s.flusher.end)
	if err := s.zeroAhead(wrote); err != nil {
		// The frames are written: zeroing ahead is only an optimisation,
		// and its failure (no space, most likely) must not fail them. It
		// stops until the next segment.
		s.flusher.zeroOff = true
		s.opts.Logger.Warn("filestore: zeroing ahead failed; stopped until the next segment", "err", err)
	}
	// The frames' chain hashes are computed while they are on their way to
	// disk (chain.go).
	s.flusher.chainer.syncing.Store(true)
	waitHashes := s.hashCommit(batch, wrote)
	start := time.Now()
	err := s.flusher.file.Datasync()
	synced := time.Since(start)
	s.flusher.chainer.syncing.Store(false)
	waitHashes()
	if err != nil {
		return fmt.Errorf("fdatasync: %w", err)
	}
	s.flusher.stats.syncNanos.Add(uint64(synced))
	s.flusher.stats.fsyncs.Add(1)
	s.flusher.stats.bytes.Add(uint64(wrote))
	return nil
}

// cutBack truncates the active segment back to start, the end of the last
// durable commit, after a write that failed for want of space, and makes
// the cut durable.
func (s *Store) cutBack(start int64) error {
	if err := s.flusher.file.Truncate(start); err != nil {
		return err
	}
	if err := s.flusher.file.Sync(); err != nil {
		return err
	}
	s.flusher.end, s.flusher.zeroEnd = start, start
	return nil
}

// Stats are counters of the writer since Open.
type Stats struct {
	Fsyncs       uint64        // group commits: one write burst and one fdatasync each
	BytesWritten uint64        // frame bytes made durable by them (not the zeros written ahead)
	SyncTime     time.Duration // spent waiting for their fdatasyncs
}

// Stats returns the writer's counters: BytesWritten / Fsyncs is the mean
// size of a group commit, SyncTime / Fsyncs its mean fdatasync.
func (s *Store) Stats() Stats {
	return Stats{
		Fsyncs:       s.flusher.stats.fsyncs.Load(),
		BytesWritten: s.flusher.stats.bytes.Load(),
		SyncTime:     time.Duration(s.flusher.stats.syncNanos.Load()),
	}
}
