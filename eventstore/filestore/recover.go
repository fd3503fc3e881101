package filestore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/epochledger/epochledger/eventstore"
)

// recovery rebuilds a Store's indexes, head and staging state (the
// position, hash chain and CRC the next append continues) from its
// segments, and judges the end of the newest one: a clean end, zeros
// ahead, a torn tail (cut, unless read-only) or damage. Open runs one,
// Verify runs one with its checks turned on (verifyChain, strictTail,
// matchHash), and a lazily opened store's first stream read runs one for
// the stream index (loadStreams); each reads what it found from it.
type recovery struct {
	s *Store // the store it fills, not yet in use by anyone else

	// noIDIndex: do not build the id index (a read-only store does not
	// append; Verify builds it to find ids stored twice).
	noIDIndex bool
	// Set by Verify: recompute every chain hash, report a torn tail
	// (torn) instead of cutting it, report the bytes scanned, and look for
	// matchHash among the events' chain hashes.
	verifyChain bool
	strictTail  bool
	progress    func(done int64)
	matchHash   *[32]byte

	// What it found.
	//
	// rec is the commit record it held the log against (nil: none, or a
	// read-only open beside a live writer, which judges by the frames).
	rec *commitRecord
	// repaired describes a torn tail cut, or left alone by a read-only
	// open ("" when none): Store.Repaired.
	repaired string
	// torn is the torn or uncommitted tail a strict recovery (Verify)
	// found at the end of the newest segment of a log not closed cleanly.
	torn *TornTail
	// zeroTail is how many zero bytes it found past the newest segment's
	// last committed frame (Options.ZeroAhead).
	zeroTail int64
	// matchPos is the position whose chain hash is matchHash (0: none).
	matchPos uint64
	scanned  int64 // bytes of the segments scanned so far
	// chainSkipped: the last segment scanned is a version 2 one whose
	// chain was not recomputed (recoverSegment); nextFirst is the first
	// position of the segment after the one being scanned.
	chainSkipped bool
	nextFirst    uint64

	// Scratch while it runs.
	streams map[string]*streamRec
	pending []pendingEvent
	hasher  *chainDigest
}

// run scans every segment, rebuilds the indexes and, unless read-only,
// repairs a torn tail of the newest segment.
func (r *recovery) run() error {
	s := r.s
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
	r.streams = make(map[string]*streamRec)
	r.hasher = newChainDigest()
	defer func() { r.streams, r.pending, r.hasher = nil, nil, nil }()
	if s.lazy && len(names) > 0 {
		return r.recoverLazy(names, firsts)
	}
	// A read-only open beside a live writer judges by the frames alone:
	// the writer updates the record as it goes.
	if !s.opts.ReadOnly || r.strictTail {
		if r.rec, err = readCommitRecord(s.fs, s.path(commitRecordName)); err != nil {
			return err
		}
	}
	if cr := r.rec; cr != nil && cr.head > 0 && (len(names) == 0 || firsts[len(firsts)-1] < cr.segFirst) {
		return &eventstore.CorruptError{Segment: segmentName(cr.segFirst), Offset: cr.end, Position: cr.head,
			Reason: fmt.Sprintf("segment missing: the commit record shows events through position %d were durable in it", cr.head)}
	}
	for i, name := range names {
		last := i == len(names)-1
		if firsts[i] != s.staging.next {
			return &eventstore.CorruptError{Segment: name, Reason: fmt.Sprintf("segment starts at position %d, want %d (a segment is missing or out of place)", firsts[i], s.staging.next)}
		}
		r.nextFirst = ^uint64(0)
		if !last {
			r.nextFirst = firsts[i+1]
		}
		if err := r.recoverSegment(name, last); err != nil {
			return err
		}
	}
	if err := r.checkCommitRecord(); err != nil {
		return err
	}
	for _, st := range r.streams {
		if len(st.positions) > 0 {
			s.streams[st.name] = st.positions
		}
	}
	s.head = s.staging.next - 1
	return nil
}

// checkCommitRecord holds the recovered log against its commit record:
// nothing the record shows durable may be missing, and a cleanly closed
// log must end exactly where its writer left it.
func (r *recovery) checkCommitRecord() error {
	s := r.s
	cr := r.rec
	if cr == nil || len(s.segs) == 0 {
		return nil
	}
	newest := s.segs[len(s.segs)-1]
	head := s.staging.next - 1
	if head < cr.head {
		return &eventstore.CorruptError{Segment: segmentName(cr.segFirst), Offset: cr.end, Position: s.staging.next,
			Reason: fmt.Sprintf("the log ends at position %d, but its commit record shows events through position %d were durable (the end of the log is missing)", head, cr.head)}
	}
	if !cr.clean {
		return nil
	}
	if newest.first != cr.segFirst || head != cr.head || newest.size != cr.end {
		return &eventstore.CorruptError{Segment: newest.name, Offset: newest.size, Position: s.staging.next,
			Reason: fmt.Sprintf("the log was closed cleanly with events through position %d ending at offset %d of %s, and now holds events through %d ending at offset %d of %s", cr.head, cr.end, segmentName(cr.segFirst), head, newest.size, newest.name)}
	}
	return nil
}

// recoverLazy opens a log read-only by its segments' headers and a full
// scan of the newest segment only (its torn tail, the head and the head's
// chain hash). Each older segment's extent comes from its name and the
// next segment's; a missing or misplaced segment, or damage inside one, is
// reported with its position by the read that reaches it (every frame's
// CRC and position are checked as it is read), and Verify checks it all.
func (r *recovery) recoverLazy(names []string, firsts []uint64) error {
	s := r.s
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
		s.segs = append(s.segs, &segment{name: names[i], first: firsts[i], version: headers[i].version, prevHash: headers[i].prevHash, seed: crcs[i], lazy: true})
	}
	s.staging.next, s.headHash = firsts[last], headers[last].prevHash
	if err := r.recoverSegment(names[last], true); err != nil {
		return err
	}
	s.head = s.staging.next - 1
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
	sc := newFrameScanner(f, size, headerSize, seg.seed, seg.version)
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
	full := newStore(s.dir, s.opts, false)
	if err := (&recovery{s: full, noIDIndex: true}).run(); err != nil {
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
// is allocated once, not once per event; run moves the positions into
// Store.streams at the end.
type streamRec struct {
	name      string
	positions []uint64
}

// recoverSegment scans segment name, which must continue the log where
// recovery has it (position, chain hash), indexes its committed batches
// and, for the newest segment (last), judges what follows its last one.
func (r *recovery) recoverSegment(name string, last bool) error {
	s := r.s
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
	if h.first != s.staging.next {
		return &eventstore.CorruptError{Segment: name, Reason: fmt.Sprintf("header says first position %d, want %d", h.first, s.staging.next)}
	}
	if r.chainSkipped {
		// The segment before was not hashed (see below): its chain ends
		// where this header says.
		s.headHash, r.chainSkipped = h.prevHash, false
	}
	if h.prevHash != s.headHash {
		if n := len(s.segs); n > 0 && s.segs[n-1].version >= 2 {
			// The segment before holds no chain hashes of its own: this
			// header is the first place its chain is held against, so the
			// altered event is in it (or before it).
			p := s.segs[n-1]
			return &eventstore.CorruptError{Segment: p.name, Offset: p.size, Position: s.staging.next - 1,
				Reason: fmt.Sprintf("chain hash mismatch: the events of %s chain to %x, the header of %s holds %x (an event of %s, or one before it, was altered)", p.name, s.headHash[:8], name, h.prevHash[:8], p.name)}
		}
		return &eventstore.CorruptError{Segment: name, Reason: "header's previous chain hash does not match the last event of the previous segment"}
	}
	seg := &segment{name: name, first: h.first, version: h.version, prevHash: h.prevHash, seed: hcrc, size: headerSize}
	s.segs = append(s.segs, seg)
	s.staging.lastCRC = hcrc
	// A version 2 frame holds no chain hash: the chain is recomputed where
	// it is needed, which is the newest segment (the head's hash), the
	// segment the commit record's head is in, and everywhere for Verify.
	// An older segment's chain ends where the next one's header says, and
	// Verify holds the two against each other.
	// A read-only open (replay, queries, export) leaves the newest
	// segment's chain to the first HeadHash, which most never call: it
	// costs SHA-256 over up to a whole segment (about 85 ms for 64 MiB).
	lazyHead := last && s.opts.ReadOnly && !r.verifyChain && r.matchHash == nil
	hashed := h.version == 1 || (last && !lazyHead) || r.verifyChain || r.matchHash != nil || (r.rec != nil && r.rec.head >= h.first && r.rec.head < r.nextFirst)
	r.chainSkipped = !hashed
	if lazyHead && !hashed {
		s.headHashFrom = seg
	}

	sc := newFrameScanner(f, size, headerSize, hcrc, h.version)
	pending := r.pending[:0]
	// undo takes the uncommitted batch back out of the indexes.
	undo := func() {
		for i := len(pending) - 1; i >= 0; i-- {
			e := &pending[i]
			if e.st != nil {
				e.st.positions = e.st.positions[:len(e.st.positions)-1]
			}
			if !r.noIDIndex {
				s.staging.ids.remove(e.key)
			}
		}
		seg.offsets = seg.offsets[:s.staging.next-seg.first]
	}
	defer func() { r.pending = pending[:0] }()
	prevHash := s.headHash
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
			pos := s.staging.next + uint64(len(pending))
			if !last {
				return &eventstore.CorruptError{Segment: name, Offset: off, Position: pos, Reason: fe.reason}
			}
			if r.liveTail(f, off, sc.seed, false) {
				undo()
				pending = pending[:0]
				seg.size, s.staging.lastCRC = committedEnd, committedCRC
				return nil
			}
			live, err := r.judgeTail(f, seg, size, committedEnd, off, sc.seed, pos, fe.reason)
			if err != nil {
				return err
			}
			if live {
				undo()
				pending = pending[:0]
				seg.size, s.staging.lastCRC = committedEnd, committedCRC
				return nil
			}
			undo()
			pending = pending[:0]
			return r.endTail(f, seg, committedEnd, committedCRC, size, fe.reason, off, sc.seed)
		}
		d, err := decodePayload(p, h.version)
		pos := s.staging.next + uint64(len(pending))
		if err == nil && d.position != pos {
			err = fmt.Errorf("frame holds position %d, want %d", d.position, pos)
		}
		if err != nil {
			return &eventstore.CorruptError{Segment: name, Offset: off, Position: pos, Reason: err.Error()}
		}
		switch {
		case h.version == 1:
			copy(batchHash[:], d.hash)
			if r.verifyChain {
				if want := chainHashWith(r.hasher, &prevHash, 1, p); want != batchHash {
					return &eventstore.CorruptError{Segment: name, Offset: off, Position: pos, Reason: fmt.Sprintf("chain hash mismatch: stored %x, recomputed %x (the event or one before it was altered)", batchHash[:8], want[:8])}
				}
				prevHash = batchHash
			}
		case hashed:
			batchHash = chainHashWith(r.hasher, &prevHash, 2, p)
			prevHash = batchHash
		}
		if r.matchHash != nil && r.matchPos == 0 && batchHash == *r.matchHash {
			r.matchPos = pos
		}
		if r.verifyChain && r.progress != nil && pos&4095 == 0 {
			r.progress(r.scanned + off)
		}
		var pe pendingEvent
		if !s.lazy {
			st := r.streams[string(d.stream)]
			if st == nil {
				st = &streamRec{name: string(d.stream)}
				r.streams[st.name] = st
			}
			if want := uint64(len(st.positions)); d.revision != want {
				return &eventstore.CorruptError{Segment: name, Offset: off, Position: pos, Reason: fmt.Sprintf("event of stream %q has revision %d, want %d", st.name, d.revision, want)}
			}
			st.positions = append(st.positions, pos)
			pe.st = st
		}
		if !r.noIDIndex {
			pe.key = keyOfBytes(d.id)
			if _, inserted := s.staging.ids.lookupOrInsert(pe.key, pos); !inserted {
				return &eventstore.CorruptError{Segment: name, Offset: off, Position: pos, Reason: fmt.Sprintf("event id %s is stored twice", d.id)}
			}
		}
		seg.offsets = append(seg.offsets, uint32(off))
		pending = append(pending, pe)
		if kind == kindCommit {
			s.headHash = batchHash
			s.staging.next += uint64(len(pending))
			if cr := r.rec; cr != nil && hashed && cr.head == s.staging.next-1 && cr.headHash != batchHash {
				return &eventstore.CorruptError{Segment: name, Offset: off, Position: s.staging.next - 1,
					Reason: fmt.Sprintf("chain hash %x differs from the one the commit record holds for this position (%x): the log was rewritten", batchHash[:8], cr.headHash[:8])}
			}
			pending = pending[:0]
			committedEnd = sc.offset()
			committedCRC = sc.seed
			seg.size = committedEnd
			s.staging.lastCRC = committedCRC
		}
	}
	r.scanned += size
	if len(pending) > 0 {
		if !last {
			return &eventstore.CorruptError{Segment: name, Offset: committedEnd, Position: s.staging.next, Reason: "batch without its commit frame before the end of an older segment"}
		}
		const why = "batch without its commit frame"
		live, err := r.judgeTail(f, seg, size, committedEnd, sc.offset(), sc.seed, s.staging.next+uint64(len(pending)), why)
		if err != nil {
			return err
		}
		undo()
		if live {
			pending = pending[:0]
			seg.size, s.staging.lastCRC = committedEnd, committedCRC
			return nil
		}
		pending = pending[:0]
		return r.endTail(f, seg, committedEnd, committedCRC, size, why, sc.offset(), sc.seed)
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
func (r *recovery) judgeTail(f File, seg *segment, size, committedEnd, stop int64, seed uint32, pos uint64, why string) (live bool, err error) {
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
	if cr := r.rec; cr != nil {
		if cr.clean {
			return false, corrupt("the log was closed cleanly, so this is damage, not a torn write")
		}
		if cr.segFirst == seg.first && committedEnd < cr.end {
			return false, corrupt(fmt.Sprintf("the commit record shows the frames up to offset %d were durable, so this is damage, not a torn write", cr.end))
		}
		return false, nil
	}
	v, err := findValidFrame(f, size, stop, seed, pos, seg.version)
	if err != nil {
		return false, fmt.Errorf("filestore: read %s: %w", seg.name, err)
	}
	if v >= 0 {
		if r.liveTail(f, stop, seed, true) {
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
func (r *recovery) liveTail(f File, off int64, seed uint32, patience bool) bool {
	s := r.s
	if !s.opts.ReadOnly || r.strictTail {
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
func (r *recovery) endTail(f File, seg *segment, end int64, crc uint32, size int64, why string, stop int64, stopSeed uint32) error {
	s := r.s
	seg.size = end
	s.staging.lastCRC = crc
	dataEnd, err := nonZeroEnd(f, end, size)
	if err != nil {
		return fmt.Errorf("filestore: read tail of %s: %w", seg.name, err)
	}
	if dataEnd == end {
		r.zeroTail = size - end
		return nil
	}
	// Beside a live writer those bytes may be its latest commit, half
	// written when the scan read it: then the frame the scan stopped at
	// is whole by now.
	if r.liveTail(f, stop, stopSeed, true) {
		return nil
	}
	msg := fmt.Sprintf("torn tail in %s: %d bytes from offset %d (%s)", seg.name, dataEnd-end, end, why)
	if r.strictTail {
		// Verify: the tail is reported (Problem) and described, for the
		// caller to tell what a crash leaves from damage.
		r.torn = &TornTail{Segment: seg.name, Offset: end, Bytes: dataEnd - end, Position: s.staging.next, Reason: why}
		return nil
	}
	if s.opts.ReadOnly {
		r.repaired = msg + "; left alone (read-only)"
		return nil
	}
	kept := r.keepTornTail(f, seg.name, end, dataEnd)
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
	r.repaired = msg + "; " + kept
	s.opts.Logger.Warn("filestore: repaired torn tail", "segment", seg.name, "offset", end, "bytes", dataEnd-end, "reason", why, "kept", kept)
	return nil
}

// keepTornTail copies the torn tail [end, dataEnd) of segment name into
// DIR/torn for inspection and says where. The copy is evidence, not
// data (nothing in it was committed): when it cannot be made, a full
// disk most likely, recovery goes on without it (it must work on a full
// disk, and cutting the tail frees space) and says so.
func (r *recovery) keepTornTail(f File, name string, end, dataEnd int64) string {
	s := r.s
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
