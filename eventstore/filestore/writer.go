package filestore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/epochledger/epochledger/eventstore"
)

// maxOpBytes bounds one append so its frames fit a segment's uint32 offsets.
const maxOpBytes = 1 << 30

// appendOp is one Append or AppendMulti call waiting for the writer.
type appendOp struct {
	ctx     context.Context
	reqs    []eventstore.AppendRequest
	keys    []idKey // every event's id, parsed by the caller, in request order
	frames  []byte  // every event's frame from encodeFrame, in request order
	size    int
	results []eventstore.AppendResult
	g       *group // the group op was staged in: its outcome is op's

	// A deferred append (see deferOp): err is why staging refused it;
	// done receives one value when it has its outcome (refused, or its
	// group committed or failed); pnext links it on Store.deferred, gnext
	// to the next deferred append of its group, which it wakes in turn.
	err          error
	done         chan struct{}
	pnext, gnext *appendOp

	// keyBuf is a batch's keys kept by a recycled op for the next batch:
	// a fresh array of a 1,000-event batch's keys is 48 KiB of new pages
	// to fault in.
	keyBuf []idKey

	// Room for the common append of one request of a few small events, so
	// that with the op recycled (opPool) it costs no allocation.
	reqArr    [1]eventstore.AppendRequest
	keyArr    [1]idKey
	resultArr [1]eventstore.AppendResult
	frameArr  [inlineFrameBytes]byte
}

// inlineFrameBytes is the room for frames inside an appendOp: one typical
// event (a few hundred bytes of JSON).
const inlineFrameBytes = 512

// opPool recycles the ops of Append, whose results are copied out before
// the op is put back. (AppendMulti returns results that may live in its
// op.) The flusher refers to an op only until it has answered it: an op
// is put back only after its append has its outcome.
var opPool = sync.Pool{New: func() any { return newAppendOp() }}

func newAppendOp() *appendOp { return &appendOp{done: make(chan struct{}, 1)} }

// maxKeptKeys bounds the keys array a recycled op keeps (keyBuf).
const maxKeptKeys = 4096

// recycle clears what op refers to and puts it back in opPool.
func (op *appendOp) recycle() {
	if c := cap(op.keys); c > len(op.keyArr) && c <= maxKeptKeys {
		clear(op.keys) // no id strings kept alive
		op.keyBuf = op.keys[:0]
	}
	op.ctx, op.reqs, op.keys, op.frames, op.results, op.g = nil, nil, nil, nil, nil, nil
	op.err, op.pnext, op.gnext = nil, nil, nil
	op.reqArr[0], op.resultArr[0] = eventstore.AppendRequest{}, eventstore.AppendResult{}
	opPool.Put(op)
}

// group is a run of staged appends, written one after another at base;
// the flusher commits every group waiting with one write burst and one
// fdatasync.
type group struct {
	// chunks are written in order: appends' own frame buffers, sealed in
	// place, and buffers the new frames of appends that repeat stored
	// events were copied into.
	chunks     [][]byte
	lastShared bool     // the last chunk is a copy buffer that may grow
	size       int      // bytes in chunks
	hint       int      // capacity for a new copy buffer
	ops        int      // appends staged in the group
	newSeg     *segment // segment file to create before writing
	base       int64    // offset in the segment where the chunks go
	from       uint64   // position of the group's first event
	last       uint64   // head once the group is durable
	hash       [32]byte // chain hash of the event at last
	crc        uint32   // CRC of the group's last frame

	// done is closed when the group is durable, or has failed with err
	// (set before): one close answers every append in it that staged
	// itself. The deferred ones, first to lastOp, are woken in a chain.
	done          chan struct{}
	err           error
	first, lastOp *appendOp

	chunkArr [1][]byte // room for the chunks of a group of one append
}

// newGroup returns an empty group whose copy buffers start at hint bytes.
func newGroup(hint int) *group {
	g := &group{hint: hint, done: make(chan struct{})}
	g.chunks = g.chunkArr[:0]
	return g
}

// appendCopy copies frame f to the end of the group and returns the copy.
func (g *group) appendCopy(f []byte) []byte {
	if !g.lastShared {
		g.chunks = append(g.chunks, getBuf(max(g.hint, len(f))))
		g.lastShared = true
	}
	c := &g.chunks[len(g.chunks)-1]
	start := len(*c)
	*c = append(*c, f...)
	g.size += len(f)
	return (*c)[start:]
}

// appendOwned puts b, which the group now owns, at the end of the group.
func (g *group) appendOwned(b []byte) {
	g.chunks = append(g.chunks, b)
	g.lastShared = false
	g.size += len(b)
}

// release gives the group's buffers back to the pool once written.
func (g *group) release() {
	for _, c := range g.chunks {
		putBuf(c)
	}
	g.chunks = nil
}

// bufPool recycles the large buffers of appends and groups (frames are
// encoded into one, copied into the other, written, and dropped), sparing
// the allocator and the garbage collector a few hundred KiB per batch.
var bufPool sync.Pool

const (
	minPooledBuf = 16 << 10 // smaller buffers are cheap to allocate
	maxPooledBuf = 4 << 20  // larger ones are rare and would pin memory
)

// getBuf returns an empty buffer with room for n bytes.
func getBuf(n int) []byte {
	if n >= minPooledBuf && n <= maxPooledBuf {
		if p, ok := bufPool.Get().(*[]byte); ok && cap(*p) >= n {
			return (*p)[:0]
		}
		return make([]byte, 0, max(n, 64<<10))
	}
	return make([]byte, 0, n)
}

// putBuf gives a buffer no longer referenced back to the pool.
func putBuf(b []byte) {
	if cap(b) >= minPooledBuf && cap(b) <= maxPooledBuf {
		p := new([]byte) // not &b: that would move b to the heap on every call
		*p = b
		bufPool.Put(p)
	}
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

// Append stores events at the end of stream; see eventstore.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	op := opPool.Get().(*appendOp)
	op.reqArr[0] = eventstore.AppendRequest{Stream: stream, Expected: expected, Events: events}
	var r eventstore.AppendResult
	res, err := s.appendOp(ctx, op, op.reqArr[:])
	if err == nil {
		r = res[0]
	}
	op.recycle()
	return r, err
}

// AppendMulti stores several streams' events in one atomic batch: every
// request's condition is checked (each seeing the requests before it) and
// either all are stored or none.
func (s *Store) AppendMulti(ctx context.Context, reqs []eventstore.AppendRequest) ([]eventstore.AppendResult, error) {
	return s.appendOp(ctx, newAppendOp(), reqs)
}

// appendOp submits op, fresh or recycled, for reqs and waits for its outcome.
func (s *Store) appendOp(ctx context.Context, op *appendOp, reqs []eventstore.AppendRequest) ([]eventstore.AppendResult, error) {
	if s.opts.ReadOnly {
		return nil, errors.New("filestore: store opened read-only")
	}
	if len(reqs) == 0 {
		return nil, fmt.Errorf("%w: empty append", eventstore.ErrInvalidEvent)
	}
	size, total := 0, 0
	for _, r := range reqs {
		total += len(r.Events)
	}
	keys := op.keyArr[:0]
	switch {
	case total <= len(op.keyArr):
	case total <= cap(op.keyBuf):
		keys = op.keyBuf[:0]
	default:
		keys = make([]idKey, 0, total)
	}
	for _, r := range reqs {
		// Ids repeated inside the op are caught by stage, which needs the
		// same set anyway.
		if err := eventstore.ValidateEventFields(r.Stream, r.Events); err != nil {
			return nil, err
		}
		for i := range r.Events {
			size += frameOverhead + payloadSize(r.Stream, &r.Events[i])
			keys = append(keys, keyOf(r.Events[i].ID))
		}
	}
	if size > maxOpBytes {
		return nil, fmt.Errorf("%w: one append of %d bytes exceeds %d; split it into batches", eventstore.ErrInvalidEvent, size, maxOpBytes)
	}
	// Everything about the frames that does not depend on their place in
	// the log (their bytes) is done here, in the caller's goroutine, in
	// parallel with other appenders; staging, one appender at a time, only
	// checks and seals them in order.
	frames := op.frameArr[:0]
	if size > len(op.frameArr) {
		frames = getBuf(size)
	}
	for _, r := range reqs {
		for i := range r.Events {
			frames = encodeFrame(frames, r.Stream, &r.Events[i])
		}
	}
	if err := ctx.Err(); err != nil {
		putBuf(frames)
		return nil, err
	}
	op.ctx, op.reqs, op.keys, op.frames, op.size = ctx, reqs, keys, frames, size
	if total <= maxDeferredEvents {
		return s.deferOp(op)
	}
	s.inflight.Add(1)
	s.stageMu.Lock()
	err := s.enqueue(op)
	if err != nil {
		s.inflight.Add(-1)
	}
	s.kick()
	s.stageMu.Unlock()
	if op.frames != nil {
		putBuf(op.frames) // copied into the group, or refused
		op.frames = nil
	}
	if err != nil {
		return nil, err
	}
	// Once queued the append is waited for even if ctx ends: it may be on
	// its way to disk, and the caller must learn whether it is stored.
	<-op.g.done
	if op.g.err != nil {
		return nil, op.g.err
	}
	return op.results, nil
}

// maxDeferredEvents is the most events an append may hold and still be
// staged by the flusher (deferOp) rather than by its appender.
const maxDeferredEvents = 4

// closedStack marks Store.deferred once the flusher has stopped: a push
// finds it and fails with ErrClosed.
var closedStack = new(appendOp)

// deferOp submits a small append for the flusher to stage and waits for
// its outcome.
//
// Many concurrent small appends are the workload of group commit: after a
// commit, its writers all come back with their next appends. Staged by
// each appender, every one took the staging lock in turn; on two cores the
// appenders woken by a commit ran on both, each staging on the core the
// previous one had left the log's state on, and those on the second core
// queued for the lock and were handed back to the first. Pushed instead
// onto a lock-free stack, they are staged by the flusher in one loop when
// the last of them is in, and their appenders take no lock: a 64-writer
// commit cycle spent 15-30% less time outside its fdatasync on a
// two-vCPU VM (docs/benchmarks.md). Larger appends still stage
// themselves, so that their staging overlaps the previous flush's
// fdatasync.
func (s *Store) deferOp(op *appendOp) ([]eventstore.AppendResult, error) {
	in := s.inflight.Add(1)
	for {
		top := s.deferred.Load()
		if top == closedStack {
			s.inflight.Add(-1)
			putBuf(op.frames)
			op.frames = nil
			return nil, eventstore.ErrClosed
		}
		op.pnext = top
		if s.deferred.CompareAndSwap(top, op) {
			break
		}
	}
	// The append that completes the flush the flusher waits for (see
	// ready) wakes it; a lone append always does.
	if n := s.deferredN.Add(1) + s.queueOps.Load(); n >= max(in, s.want.Load()) {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	// Once pushed the append is waited for even if ctx ends: it may be on
	// its way to disk, and the caller must learn whether it is stored.
	<-op.done
	if next := op.gnext; next != nil {
		next.done <- struct{}{} // the chain: one wake-up at a time
	}
	if op.err != nil {
		return nil, op.err
	}
	if op.g.err != nil {
		return nil, op.g.err
	}
	return op.results, nil
}

// stageDeferred stages the deferred appends, oldest first (stageMu held, by
// the flusher), and answers those it refuses at once.
func (s *Store) stageDeferred() {
	top := s.deferred.Swap(nil)
	var first *appendOp
	n := int64(0)
	for op := top; op != nil; n++ { // reverse: the stack's bottom was pushed first
		next := op.pnext
		op.pnext = first
		first = op
		op = next
	}
	s.deferredN.Add(-n)
	for op := first; op != nil; {
		next := op.pnext
		op.pnext = nil
		err := s.enqueue(op)
		if op.frames != nil {
			putBuf(op.frames) // copied into the group, or refused
			op.frames = nil
		}
		if err != nil {
			s.inflight.Add(-1)
			op.err = err
			op.done <- struct{}{}
		} else if g := op.g; g.lastOp == nil {
			g.first, g.lastOp = op, op
		} else {
			g.lastOp.gnext, g.lastOp = op, op
		}
		op = next
	}
}

// closeDeferred marks the stack closed once the flusher stops and refuses
// what was pushed after its last flush.
func (s *Store) closeDeferred() {
	for op := s.deferred.Swap(closedStack); op != nil; {
		next := op.pnext
		s.deferredN.Add(-1)
		s.inflight.Add(-1)
		putBuf(op.frames)
		op.frames = nil
		op.err = eventstore.ErrClosed
		op.done <- struct{}{}
		op = next
	}
}

// enqueue stages op (stageMu held): checks it against the indexes, seals
// its frames into the hash chain and queues them for the flusher, in the
// group at the end of the queue when it has room. An append of more than
// maxDeferredEvents stages itself, in its own goroutine, so that its
// staging overlaps the flush before it; smaller ones are staged by the
// flusher (stageDeferred).
func (s *Store) enqueue(op *appendOp) error {
	if s.closing {
		return eventstore.ErrClosed
	}
	if p := s.werr.Load(); p != nil {
		return *p
	}
	if err := op.ctx.Err(); err != nil {
		return err
	}
	active := s.segs[len(s.segs)-1]
	var g *group
	switch n := len(s.queue); {
	case active.size >= s.opts.SegmentSize && len(active.offsets) > 0:
		// A segment is rolled only between groups, so a batch never spans
		// segments; the flusher starts the new file with this group.
		h := header{first: s.next, prevHash: s.lastHash}
		_, crc, _ := decodeHeader(h.encode())
		seg := &segment{name: segmentName(s.next), first: s.next, prevHash: s.lastHash, headerCRC: crc, size: headerSize}
		s.mu.Lock()
		s.segs = append(s.segs, seg)
		s.mu.Unlock()
		s.lastCRC = crc
		active = seg
		g = s.newQueued(op.size, active)
		g.newSeg = seg
	case n > 0 && s.queue[n-1].size < s.opts.MaxGroupBytes:
		g = s.queue[n-1]
	default:
		g = s.newQueued(op.size, active)
	}
	before := g.size
	if err := s.stage(op, active, g); err != nil {
		if g.ops == 0 && g.newSeg == nil {
			s.queue = s.queue[:len(s.queue)-1] // the group was made for op
		}
		return err
	}
	g.ops++
	op.g = g
	active.size = g.base + int64(g.size)
	g.last, g.hash, g.crc = s.next-1, s.lastHash, s.lastCRC
	s.queueOps.Add(1)
	s.queueLen += g.size - before
	return nil
}

// newQueued puts a new group at the end of the queue, to be written at the
// end of seg.
func (s *Store) newQueued(hint int, seg *segment) *group {
	g := newGroup(hint)
	// An empty group (one kept for its segment roll after its append was
	// refused) still ends at the head: its hash and CRC are the head's, as
	// the commit record it may end is.
	g.base, g.from, g.last = seg.size, s.next, s.next-1
	g.hash, g.crc = s.lastHash, s.lastCRC
	s.queue = append(s.queue, g)
	return g
}

// ready reports whether the flusher should take the queue now (stageMu
// held), with the pending appends it stages first. A small flush waits
// for the appends already on their way and those the previous flush's
// writers will send; a large one, a segment roll or Close does not.
func (s *Store) ready() bool {
	if s.closing {
		return true
	}
	pending := s.deferredN.Load()
	if len(s.queue) == 0 && pending <= 0 {
		return false
	}
	if s.queueLen >= lingerMaxBytes || s.queueOps.Load()+pending >= max(s.inflight.Load(), s.want.Load()) {
		return true
	}
	for i := 1; i < len(s.queue); i++ { // the queue may be empty, the appends pending
		if s.queue[i].newSeg != nil {
			return true
		}
	}
	return false
}

// kick wakes the flusher if it sleeps and the queue is now ready (stageMu
// held).
func (s *Store) kick() {
	if s.asleep && s.ready() {
		s.asleep = false
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// inStream reports whether pos is one of the stream's positions.
func inStream(positions []uint64, pos uint64) bool {
	i := sort.Search(len(positions), func(i int) bool { return positions[i] >= pos })
	return i < len(positions) && positions[i] == pos
}

// stage checks op against the indexes and, if it is accepted, encodes its
// new events into g and indexes them. A refused op leaves no trace.
//
// The id check inserts each new id into the id index at once, with the
// position it will get (one probe for the lookup and the insert); a refusal
// takes those inserts back. Positions >= s.next in the index therefore
// belong to this op, which is how an id repeated inside it is caught.
func (s *Store) stage(op *appendOp, seg *segment, g *group) error {
	results := op.resultArr[:]
	if len(op.reqs) > len(op.resultArr) {
		results = make([]eventstore.AppendResult, len(op.reqs))
	}
	var added map[string]uint64 // events this op adds per stream, when it has several requests
	if len(op.reqs) > 1 {
		added = map[string]uint64{}
	}
	// Most appends are one request of a few events: their scratch stays
	// on the stack (staging is the serial part of every append).
	var dupArr [4]bool
	var dup []bool
	if n := len(op.reqs); n <= len(dupArr) {
		dup = dupArr[:n]
	} else {
		dup = make([]bool, n)
	}
	newEvents := 0
	next := s.next // position of this op's next new event
	ki := 0        // keys checked so far
	rollback := func(err error) error {
		for _, k := range op.keys[:ki] {
			if p, ok := s.ids.lookup(k); ok && p >= s.next {
				s.ids.remove(k)
			}
		}
		return err
	}
	if len(op.keys) > 1 {
		s.ids.warm(op.keys)
	}
	for i, r := range op.reqs {
		positions := s.streams[r.Stream]
		stored := 0
		var first, last uint64
		for j, e := range r.Events {
			k := op.keys[ki]
			ki++
			p, inserted := s.ids.lookupOrInsert(k, next+uint64(j))
			if inserted {
				continue
			}
			if p >= s.next {
				return rollback(fmt.Errorf("%w: id %s appears twice in one append", eventstore.ErrDuplicateID, e.ID))
			}
			if !inStream(positions, p) {
				return rollback(fmt.Errorf("%w: id %s is already stored at position %d in another stream than %q", eventstore.ErrDuplicateID, e.ID, p, r.Stream))
			}
			if stored == 0 || p < first {
				first = p
			}
			if p > last {
				last = p
			}
			stored++
		}
		rev := uint64(len(positions)) + added[r.Stream]
		switch {
		case stored == len(r.Events):
			dup[i] = true
			results[i] = eventstore.AppendResult{FirstPosition: first, LastPosition: last, NextRevision: rev, Duplicate: true}
		case stored > 0:
			return rollback(fmt.Errorf("%w: %d of the %d events for %q are already stored (a retry must repeat the same batch)", eventstore.ErrDuplicateID, stored, len(r.Events), r.Stream))
		case !r.Expected.Check(rev):
			cur := "no stream"
			if rev > 0 {
				cur = fmt.Sprintf("revision %d", rev-1)
			}
			return rollback(fmt.Errorf("%w: stream %q is at %s, append expected %s", eventstore.ErrWrongRevision, r.Stream, cur, r.Expected))
		default:
			if added != nil {
				added[r.Stream] += uint64(len(r.Events))
			}
			newEvents += len(r.Events)
			next += uint64(len(r.Events))
		}
	}
	if newEvents == 0 {
		op.results = results
		return nil
	}
	offs := s.stageOffs[:0] // the new events' offsets in seg, indexed once all are sealed
	var revs map[string]uint64
	if len(op.reqs) > 1 {
		revs = map[string]uint64{}
	}
	remaining := newEvents
	src := op.frames
	// An append with nothing already stored is sealed in place and its
	// buffer handed to the group (the flusher gathers small ones into one
	// write); one that repeats stored events is copied frame by frame,
	// without them.
	inPlace := newEvents == len(op.keys)
	inPlaceOff := g.base + int64(g.size)
	for i, r := range op.reqs {
		if dup[i] {
			for range r.Events {
				src = src[frameOverhead+int(binary.LittleEndian.Uint32(src)):]
			}
			continue
		}
		rev, ok := revs[r.Stream]
		if !ok {
			rev = uint64(len(s.streams[r.Stream]))
		}
		results[i].FirstPosition = s.next
		for range r.Events {
			remaining--
			kind := byte(kindContinue)
			if remaining == 0 {
				kind = kindCommit
			}
			fl := frameOverhead + int(binary.LittleEndian.Uint32(src))
			var f []byte
			var off int64
			if inPlace {
				off = inPlaceOff + int64(len(op.frames)-len(src))
				f = src[:fl]
			} else {
				off = g.base + int64(g.size)
				f = g.appendCopy(src[:fl])
			}
			src = src[fl:]
			s.lastHash, s.lastCRC = sealFrame(f, kind, s.next, rev, &s.lastHash, s.lastCRC, s.hasher)
			offs = append(offs, uint32(off))
			s.next++
			rev++
		}
		if revs != nil {
			revs[r.Stream] = rev
		}
		results[i].LastPosition = s.next - 1
		results[i].NextRevision = rev
	}
	if inPlace {
		g.appendOwned(op.frames)
		op.frames = nil
	}
	// Index the new events: one stream lookup per request, not per event.
	s.mu.Lock()
	for i, r := range op.reqs {
		if dup[i] {
			continue
		}
		first, last := results[i].FirstPosition, results[i].LastPosition
		ps := growFaulted(s.streams[r.Stream], int(last-first+1))
		for p := first; p <= last; p++ {
			ps = append(ps, p)
		}
		s.streams[r.Stream] = ps
	}
	seg.offsets = append(growFaulted(seg.offsets, len(offs)), offs...)
	s.mu.Unlock()
	if cap(offs) <= maxStageOffs {
		s.stageOffs = offs[:0]
	}
	op.results = results
	return nil
}

// maxStageOffs bounds the offsets scratch staging keeps between appends.
const maxStageOffs = 64 << 10

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
	defer close(s.done)
	backstop := time.NewTimer(time.Hour)
	backstop.Stop()
	var batch []*group // reused: the groups of one flush
	for {
		s.stageMu.Lock()
		armed := false
		for !s.ready() {
			if len(s.queue) == 0 && s.deferredN.Load() <= 0 && s.want.Load() == 0 {
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
				if len(s.queue) > 0 || s.deferredN.Load() > 0 {
					break // flush what came
				}
				s.want.Store(0) // the writers did not come back
			}
		}
		if armed {
			backstop.Stop()
		}
		s.stageDeferred()
		// Take the queue, up to the next group that starts a segment (a
		// new segment starts with its own write).
		n := min(1, len(s.queue))
		for n < len(s.queue) && s.queue[n].newSeg == nil {
			n++
		}
		batch = append(batch[:0], s.queue[:n]...)
		ops := 0
		for _, g := range batch {
			ops += g.ops
			s.queueLen -= g.size
		}
		s.queueOps.Add(-int64(ops))
		rest := copy(s.queue, s.queue[n:])
		clear(s.queue[rest:])
		s.queue = s.queue[:rest]
		stop := s.closing && len(s.queue) == 0
		s.stageMu.Unlock()

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

// sleep releases stageMu until kick, Close or the timer c (nil: none)
// wakes the flusher, and reports whether the timer did.
func (s *Store) sleep(c <-chan time.Time) (timedOut bool) {
	s.asleep = true
	s.stageMu.Unlock()
	select {
	case <-s.wake:
	case <-c:
		timedOut = true
	}
	s.stageMu.Lock()
	s.asleep = false
	return timedOut
}

// commit makes batch durable (or fails it with the sticky write error),
// publishes its events and answers its ops (the appends in batch).
func (s *Store) commit(batch []*group, ops int) {
	var err error
	if p := s.werr.Load(); p != nil {
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
			s.werr.Store(&err)
		}
	}
	if err == nil {
		lg := batch[len(batch)-1]
		s.durHash, s.durCRC = lg.hash, lg.crc
		if s.cw != nil {
			r := commitRecord{segFirst: s.wfirst, end: s.wend, head: lg.last, headHash: lg.hash}
			if werr := s.cw.write(r); werr != nil && !s.cwWarned {
				s.cwWarned = true
				s.opts.Logger.Warn("filestore: commit record not updated; recovery after a crash will trust less of the log", "err", werr)
			}
		}
		s.mu.Lock()
		if lg.last > s.head {
			s.head = lg.last
			close(s.headCh)
			s.headCh = make(chan struct{})
		}
		s.mu.Unlock()
	}
	// Everyone waiting now will be back soon: expect them in the next
	// flush.
	want := s.inflight.Load()
	s.stageMu.Lock()
	s.want.Store(want)
	s.stageMu.Unlock()
	s.inflight.Add(-int64(ops))
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
		f, err := s.startSegment(g.newSeg)
		if err != nil {
			return err
		}
		if err := s.wfile.Close(); err != nil {
			f.Close()
			return err
		}
		s.wfile, s.wend, s.zeroEnd, s.wfirst = f, headerSize, headerSize, g.newSeg.first
		s.durCRC = g.newSeg.headerCRC
		s.zeroOff = false
	}
	// Staging placed every group right after the one before it.
	begin := s.wend
	at := s.wend
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
		n, err := s.wfile.WriteAt(c, s.wend)
		if err == nil && n < len(c) {
			err = io.ErrShortWrite
		}
		if err != nil {
			err = fmt.Errorf("write %d bytes at offset %d: %w", len(c), s.wend, err)
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
		s.wend += int64(n)
		wrote += n
		return nil
	}
	// The flusher's own buffer: a pooled one is often gone after a GC,
	// and then 64 KiB are allocated and cleared once per commit.
	if s.gather == nil {
		s.gather = make([]byte, 0, gatherMax)
	}
	gather := s.gather[:0]
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
		return nil
	}
	s.zeroEnd = max(s.zeroEnd, s.wend)
	if err := s.zeroAhead(wrote); err != nil {
		// The frames are written: zeroing ahead is only an optimisation,
		// and its failure (no space, most likely) must not fail them. It
		// stops until the next segment.
		s.zeroOff = true
		s.opts.Logger.Warn("filestore: zeroing ahead failed; stopped until the next segment", "err", err)
	}
	start := time.Now()
	if err := s.wfile.Datasync(); err != nil {
		return fmt.Errorf("fdatasync: %w", err)
	}
	s.stats.syncNanos.Add(uint64(time.Since(start)))
	s.stats.fsyncs.Add(1)
	s.stats.bytes.Add(uint64(wrote))
	return nil
}

// zeroAheadMaxFlush is the flush size from which no zeros are written
// ahead: such a flush already spreads its journal commit over enough
// bytes, and writing zeros would double what batched appends send to disk.
const zeroAheadMaxFlush = lingerMaxBytes

// zeroBlock is written repeatedly to zero the space ahead of the log.
var zeroBlock [256 << 10]byte

// zeroAhead extends the zeros past the frames to Options.ZeroAhead bytes
// when a flush of wrote bytes is small and fewer than a quarter of them are
// left, so that the fdatasyncs of the next few dozen small flushes only
// overwrite blocks already on disk. The zeros are made durable by the
// same fdatasync as the flush's frames; that one commits the new size.
func (s *Store) zeroAhead(wrote int) error {
	za := s.opts.ZeroAhead
	if za <= 0 || s.zeroOff || wrote >= zeroAheadMaxFlush || s.zeroEnd-s.wend >= za/4 {
		return nil
	}
	for end := s.wend + za; s.zeroEnd < end; {
		off := s.zeroEnd
		b := zeroBlock[:min(int64(len(zeroBlock)), end-off)]
		n, err := s.wfile.WriteAt(b, off)
		if err == nil && n < len(b) {
			err = io.ErrShortWrite
		}
		s.zeroEnd += int64(n)
		if err != nil {
			return fmt.Errorf("write %d zero bytes ahead at offset %d: %w", len(b), off, err)
		}
	}
	return nil
}

// cutBack truncates the active segment back to start, the end of the last
// durable commit, after a write that failed for want of space, and makes
// the cut durable.
func (s *Store) cutBack(start int64) error {
	if err := s.wfile.Truncate(start); err != nil {
		return err
	}
	if err := s.wfile.Sync(); err != nil {
		return err
	}
	s.wend, s.zeroEnd = start, start
	return nil
}

// startSegment creates the segment file seg (staged by enqueue) and opens
// it for writing. When it fails, what it made is removed again and the
// error is a *notWritten: nothing was written to the log (a transient
// failure such as EMFILE must not poison the store).
func (s *Store) startSegment(seg *segment) (File, error) {
	made, err := s.createSegment(seg.first, seg.prevHash)
	if err != nil {
		return nil, s.unmake(seg, err)
	}
	if made.headerCRC != seg.headerCRC {
		return nil, fmt.Errorf("segment %s header changed between encode and write", seg.name)
	}
	f, err := s.fs.OpenFile(s.path(seg.name), os.O_WRONLY, 0)
	if err != nil {
		return nil, s.unmake(seg, fmt.Errorf("filestore: open %s for append: %w", seg.name, err))
	}
	return f, nil
}

// unmake removes what a failed startSegment may have made of seg's file;
// the failure is then a *notWritten, unless the removal fails too (the
// file may be left behind: its outcome is unknown).
func (s *Store) unmake(seg *segment, cause error) error {
	for _, name := range []string{s.path(seg.name + ".tmp"), s.path(seg.name)} {
		if err := s.fs.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w; removing %s failed: %w", cause, filepath.Base(name), err)
		}
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		return fmt.Errorf("%w; %w", cause, err)
	}
	return &notWritten{cause}
}

// unstage takes back the staging of a batch that failed before any of it
// reached the log (flusher, after flush returned a *notWritten): the
// groups still queued behind it were staged on top of it and fail with
// it (they are returned, with their appends' count, to be answered); the
// ids, stream positions and segment offsets of all their events are
// dropped, and staging resumes at the last durable commit.
func (s *Store) unstage(batch []*group) (extra []*group, extraOps int) {
	s.stageMu.Lock()
	defer s.stageMu.Unlock()
	extra = append(extra, s.queue...)
	for _, g := range extra {
		extraOps += g.ops
		s.queueLen -= g.size
	}
	s.queueOps.Add(-int64(extraOps))
	clear(s.queue)
	s.queue = s.queue[:0]
	from := batch[0].from
	streams := map[string]bool{}
	for _, gs := range [][]*group{batch, extra} {
		for _, g := range gs {
			for _, c := range g.chunks {
				for len(c) >= frameOverhead {
					n := int(binary.LittleEndian.Uint32(c))
					if d, err := decodePayload(c[5 : 5+n]); err == nil {
						k := keyOfBytes(d.id)
						if p, ok := s.ids.lookup(k); ok && p >= from {
							s.ids.remove(k)
						}
						streams[string(d.stream)] = true
					}
					c = c[frameOverhead+n:]
				}
			}
		}
	}
	s.mu.Lock()
	for st := range streams {
		ps := s.streams[st]
		i := sort.Search(len(ps), func(i int) bool { return ps[i] >= from })
		if i == 0 {
			delete(s.streams, st)
		} else {
			s.streams[st] = ps[:i]
		}
	}
	// Segments staging started that are not on disk go; the one the
	// flusher now writes (it may be the batch's new one) stays, cut to
	// what it durably holds.
	for len(s.segs) > 1 && s.segs[len(s.segs)-1].first > s.wfirst {
		s.segs = s.segs[:len(s.segs)-1]
	}
	active := s.segs[len(s.segs)-1]
	active.offsets = active.offsets[:from-active.first]
	active.size = s.wend
	s.mu.Unlock()
	s.next, s.lastHash, s.lastCRC = from, s.durHash, s.durCRC
	return extra, extraOps
}

// trimZeros cuts the zeros written ahead off the active segment and makes
// the cut durable: when the segment is left for a new one, and on Close.
func (s *Store) trimZeros() error {
	if s.zeroEnd <= s.wend {
		return nil
	}
	if err := s.wfile.Truncate(s.wend); err != nil {
		return fmt.Errorf("trim zeros past offset %d: %w", s.wend, err)
	}
	if err := s.wfile.Sync(); err != nil {
		return fmt.Errorf("fsync after trimming zeros: %w", err)
	}
	s.zeroEnd = s.wend
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
		Fsyncs:       s.stats.fsyncs.Load(),
		BytesWritten: s.stats.bytes.Load(),
		SyncTime:     time.Duration(s.stats.syncNanos.Load()),
	}
}
