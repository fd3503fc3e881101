package filestore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

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
	// group committed or failed); pnext links it on staging.deferred, gnext
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
	hash       [32]byte // chain hash of the event at last, set by the flusher (chainGroups)
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
	s.staging.inflight.Add(1)
	s.staging.Lock()
	err := s.enqueue(op)
	if err != nil {
		s.staging.inflight.Add(-1)
	}
	s.kick()
	s.staging.Unlock()
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

// closedStack marks staging.deferred once the flusher has stopped: a push
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
	in := s.staging.inflight.Add(1)
	for {
		top := s.staging.deferred.Load()
		if top == closedStack {
			s.staging.inflight.Add(-1)
			putBuf(op.frames)
			op.frames = nil
			return nil, eventstore.ErrClosed
		}
		op.pnext = top
		if s.staging.deferred.CompareAndSwap(top, op) {
			break
		}
	}
	// The append that completes the flush the flusher waits for (see
	// ready) wakes it; a lone append always does.
	if n := s.staging.deferredN.Add(1) + s.staging.queueOps.Load(); n >= max(in, s.staging.want.Load()) {
		select {
		case s.staging.wake <- struct{}{}:
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

// stageDeferred stages the deferred appends, oldest first (staging locked, by
// the flusher), and answers those it refuses at once.
func (s *Store) stageDeferred() {
	top := s.staging.deferred.Swap(nil)
	var first *appendOp
	n := int64(0)
	for op := top; op != nil; n++ { // reverse: the stack's bottom was pushed first
		next := op.pnext
		op.pnext = first
		first = op
		op = next
	}
	s.staging.deferredN.Add(-n)
	for op := first; op != nil; {
		next := op.pnext
		op.pnext = nil
		err := s.enqueue(op)
		if op.frames != nil {
			putBuf(op.frames) // copied into the group, or refused
			op.frames = nil
		}
		if err != nil {
			s.staging.inflight.Add(-1)
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
	for op := s.staging.deferred.Swap(closedStack); op != nil; {
		next := op.pnext
		s.staging.deferredN.Add(-1)
		s.staging.inflight.Add(-1)
		putBuf(op.frames)
		op.frames = nil
		op.err = eventstore.ErrClosed
		op.done <- struct{}{}
		op = next
	}
}

// enqueue stages op (staging locked): checks it against the indexes, seals
// its frames (positions, revisions, CRCs) and queues them for the flusher, in the
// group at the end of the queue when it has room. An append of more than
// maxDeferredEvents stages itself, in its own goroutine, so that its
// staging overlaps the flush before it; smaller ones are staged by the
// flusher (stageDeferred).
func (s *Store) enqueue(op *appendOp) error {
	if s.staging.closing {
		return eventstore.ErrClosed
	}
	if p := s.flusher.werr.Load(); p != nil {
		return *p
	}
	if err := op.ctx.Err(); err != nil {
		return err
	}
	active := s.segs[len(s.segs)-1]
	var g *group
	switch n := len(s.staging.queue); {
	case (active.size >= s.opts.SegmentSize || active.version != segVersion) && len(active.offsets) > 0:
		// A segment is rolled only between groups, so a batch never spans
		// segments; the flusher starts the new file with this group. A
		// segment of an older version is continued by a new one.
		// Its header's chain hash is set by the flusher (flush); the seed
		// of its frames' CRCs does not depend on it.
		h := header{version: segVersion, first: s.staging.next}
		crc := h.frameSeed()
		seg := &segment{name: segmentName(s.staging.next), first: s.staging.next, version: segVersion, seed: crc, size: headerSize}
		s.mu.Lock()
		s.segs = append(s.segs, seg)
		s.mu.Unlock()
		s.staging.lastCRC = crc
		active = seg
		g = s.newQueued(op.size, active)
		g.newSeg = seg
	case n > 0 && s.staging.queue[n-1].size < s.opts.MaxGroupBytes:
		g = s.staging.queue[n-1]
	default:
		g = s.newQueued(op.size, active)
	}
	before := g.size
	if err := s.stage(op, active, g); err != nil {
		if g.ops == 0 && g.newSeg == nil {
			s.staging.queue = s.staging.queue[:len(s.staging.queue)-1] // the group was made for op
		}
		return err
	}
	g.ops++
	op.g = g
	active.size = g.base + int64(g.size)
	g.last, g.crc = s.staging.next-1, s.staging.lastCRC
	s.staging.queueOps.Add(1)
	s.staging.queueLen += g.size - before
	return nil
}

// newQueued puts a new group at the end of the queue, to be written at the
// end of seg.
func (s *Store) newQueued(hint int, seg *segment) *group {
	g := newGroup(hint)
	// An empty group (one kept for its segment roll after its append was
	// refused) still ends at the head: its CRC is the head's, and its
	// chain hash (chainGroups) too, as the commit record it may end is.
	g.base, g.from, g.last = seg.size, s.staging.next, s.staging.next-1
	g.crc = s.staging.lastCRC
	s.staging.queue = append(s.staging.queue, g)
	return g
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
// takes those inserts back. Positions >= s.staging.next in the index therefore
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
	next := s.staging.next // position of this op's next new event
	ki := 0                // keys checked so far
	rollback := func(err error) error {
		for _, k := range op.keys[:ki] {
			if p, ok := s.staging.ids.lookup(k); ok && p >= s.staging.next {
				s.staging.ids.remove(k)
			}
		}
		return err
	}
	if len(op.keys) > 1 {
		s.staging.ids.warm(op.keys)
	}
	for i, r := range op.reqs {
		positions := s.streams[r.Stream]
		stored := 0
		var first, last uint64
		for j, e := range r.Events {
			k := op.keys[ki]
			ki++
			p, inserted := s.staging.ids.lookupOrInsert(k, next+uint64(j))
			if inserted {
				continue
			}
			if p >= s.staging.next {
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
	offs := s.staging.offs[:0] // the new events' offsets in seg, indexed once all are sealed
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
		results[i].FirstPosition = s.staging.next
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
			s.staging.lastCRC = sealFrame(f, kind, s.staging.next, rev, s.staging.lastCRC)
			offs = append(offs, uint32(off))
			s.staging.next++
			rev++
		}
		if revs != nil {
			revs[r.Stream] = rev
		}
		results[i].LastPosition = s.staging.next - 1
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
		s.staging.offs = offs[:0]
	}
	op.results = results
	return nil
}

// maxStageOffs bounds the offsets scratch staging keeps between appends.
const maxStageOffs = 64 << 10

// unstage takes back the staging of a batch that failed before any of it
// reached the log (flusher, after flush returned a *notWritten): the
// groups still queued behind it were staged on top of it and fail with
// it (they are returned, with their appends' count, to be answered); the
// ids, stream positions and segment offsets of all their events are
// dropped, and staging resumes at the last durable commit.
func (s *Store) unstage(batch []*group) (extra []*group, extraOps int) {
	s.staging.Lock()
	defer s.staging.Unlock()
	extra = append(extra, s.staging.queue...)
	for _, g := range extra {
		extraOps += g.ops
		s.staging.queueLen -= g.size
	}
	s.staging.queueOps.Add(-int64(extraOps))
	clear(s.staging.queue)
	s.staging.queue = s.staging.queue[:0]
	from := batch[0].from
	streams := map[string]bool{}
	for _, gs := range [][]*group{batch, extra} {
		for _, g := range gs {
			for _, c := range g.chunks {
				for len(c) >= frameOverhead {
					n := int(binary.LittleEndian.Uint32(c))
					if d, err := decodePayload(c[5:5+n], segVersion); err == nil {
						k := keyOfBytes(d.id)
						if p, ok := s.staging.ids.lookup(k); ok && p >= from {
							s.staging.ids.remove(k)
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
	for len(s.segs) > 1 && s.segs[len(s.segs)-1].first > s.flusher.first {
		s.segs = s.segs[:len(s.segs)-1]
	}
	active := s.segs[len(s.segs)-1]
	active.offsets = active.offsets[:from-active.first]
	active.size = s.flusher.end
	s.mu.Unlock()
	s.staging.next, s.staging.lastCRC = from, s.flusher.durCRC
	return extra, extraOps
}
