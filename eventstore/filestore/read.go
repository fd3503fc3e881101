package filestore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/epochledger/epochledger/eventstore"
)

// ReadAll calls fn for every durable event from position from on; see
// eventstore.Store. Each frame's CRC is checked as it is read.
func (s *Store) ReadAll(ctx context.Context, from uint64, fn func(*eventstore.RecordedEvent) error) error {
	// Streams, types and times repeat: they are interned, so a long read
	// allocates one string (the id) per event.
	intern := make(map[string]string)
	str := func(b []byte) string {
		if v, ok := intern[string(b)]; ok {
			return v
		}
		v := string(b)
		if len(intern) < 4096 {
			intern[v] = v
		}
		return v
	}
	var ev eventstore.RecordedEvent
	return s.readAll(ctx, from, func(r *eventstore.RawEvent) error {
		ev = eventstore.RecordedEvent{
			Position: r.Position, Revision: r.Revision,
			Stream: str(r.Stream), ID: string(r.ID), Type: str(r.Type), Time: str(r.Time),
			Data: r.Data,
		}
		return fn(&ev)
	})
}

// ReadAllRaw is ReadAll without copying: see eventstore.RawReader.
func (s *Store) ReadAllRaw(ctx context.Context, from uint64, fn func(*eventstore.RawEvent) error) error {
	return s.readAll(ctx, from, fn)
}

// snapshot returns the head and the segments to read from position from,
// with the offset to start at in each.
func (s *Store) snapshot(from uint64) (uint64, []*segment, []uint32, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, nil, nil, eventstore.ErrClosed
	}
	if from > s.head {
		return s.head, nil, nil, nil
	}
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].first > from }) - 1
	if seg := s.segs[i]; seg.lazy && from != seg.first {
		s.mu.RUnlock()
		err := s.loadOffsets(seg)
		s.mu.RLock()
		if err != nil {
			return 0, nil, nil, err
		}
	}
	segs := append([]*segment(nil), s.segs[i:]...)
	starts := make([]uint32, len(segs))
	for j, seg := range segs {
		p := seg.first
		if j == 0 {
			p = from
		}
		if p > s.head {
			segs, starts = segs[:j], starts[:j]
			break
		}
		if p == seg.first {
			starts[j] = headerSize // also where a lazy segment's first frame is
		} else {
			starts[j] = seg.offsets[p-seg.first]
		}
	}
	return s.head, segs, starts, nil
}

// readAll reads frames from position from to the head, checking each CRC,
// and passes each event (aliasing the buffer).
func (s *Store) readAll(ctx context.Context, from uint64, fn func(e *eventstore.RawEvent) error) error {
	if from == 0 {
		from = 1
	}
	head, segs, starts, err := s.snapshot(from)
	if err != nil || len(segs) == 0 {
		return err
	}
	pos := from
	var ev eventstore.RawEvent
	for j, seg := range segs {
		if pos > head {
			break
		}
		if seg.first > pos {
			return &eventstore.CorruptError{Segment: seg.name, Position: pos, Reason: "position missing between segments"}
		}
		f, err := s.fs.OpenFile(s.path(seg.name), os.O_RDONLY, 0)
		if err != nil {
			return fmt.Errorf("filestore: open %s: %w", seg.name, err)
		}
		size, err := f.Size()
		if err != nil {
			f.Close()
			return err
		}
		seed, err := crcSeed(f, seg, int64(starts[j]))
		if err != nil {
			f.Close()
			return err
		}
		sc := newFrameScanner(f, size, int64(starts[j]), seed, seg.version)
		for pos <= head {
			d, _, err := sc.nextEvent(seg.name, pos)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				f.Close()
				return err
			}
			ev = eventstore.RawEvent{
				Position: pos, Revision: d.revision,
				Stream: d.stream, ID: d.id, Type: d.typ, Time: d.time, Data: d.data,
			}
			if err := fn(&ev); err != nil {
				f.Close()
				return err
			}
			pos++
			if pos&1023 == 0 {
				if err := ctx.Err(); err != nil {
					f.Close()
					return err
				}
			}
		}
		f.Close()
	}
	if pos <= head {
		return &eventstore.CorruptError{Segment: segs[len(segs)-1].name, Position: pos, Reason: "log ends before the head"}
	}
	return nil
}

// crcSeed returns the CRC the frame at off is chained to: the CRC stored
// just before it, or the header's for the first frame.
func crcSeed(r io.ReaderAt, seg *segment, off int64) (uint32, error) {
	if off == headerSize {
		return seg.seed, nil
	}
	var b [4]byte
	if _, err := r.ReadAt(b[:], off-4); err != nil {
		return 0, fmt.Errorf("filestore: read %s at %d: %w", seg.name, off-4, err)
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

// ReadStream calls fn for the durable events of stream from revision from.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, fn func(*eventstore.RecordedEvent) error) error {
	type loc struct {
		seg *segment
		off uint32
		pos uint64
	}
	if s.opts.ReadOnly {
		if err := s.loadStreams(); err != nil {
			return err
		}
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return eventstore.ErrClosed
	}
	positions := s.streams[stream]
	n := sort.Search(len(positions), func(i int) bool { return positions[i] > s.head })
	if n == 0 {
		s.mu.RUnlock()
		return fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, stream)
	}
	var locs []loc
	for i := from; i < uint64(n); i++ {
		p := positions[i]
		seg := s.segmentOf(p)
		locs = append(locs, loc{seg, seg.offsets[p-seg.first], p})
	}
	s.mu.RUnlock()

	files := map[*segment]File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	buf := make([]byte, 4096)
	for i, l := range locs {
		if i&255 == 255 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		f := files[l.seg]
		if f == nil {
			var err error
			if f, err = s.fs.OpenFile(s.path(l.seg.name), os.O_RDONLY, 0); err != nil {
				return fmt.Errorf("filestore: open %s: %w", l.seg.name, err)
			}
			files[l.seg] = f
		}
		seed, err := crcSeed(f, l.seg, int64(l.off))
		if err != nil {
			return err
		}
		var lb [4]byte
		if _, err := f.ReadAt(lb[:], int64(l.off)); err != nil {
			return &eventstore.CorruptError{Segment: l.seg.name, Offset: int64(l.off), Position: l.pos, Reason: "frame cut short: " + err.Error()}
		}
		size := frameOverhead + int(binary.LittleEndian.Uint32(lb[:]))
		if size > frameOverhead+maxPayload {
			return &eventstore.CorruptError{Segment: l.seg.name, Offset: int64(l.off), Position: l.pos, Reason: "frame length out of range"}
		}
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := f.ReadAt(buf, int64(l.off)); err != nil {
			return &eventstore.CorruptError{Segment: l.seg.name, Offset: int64(l.off), Position: l.pos, Reason: "frame cut short: " + err.Error()}
		}
		_, p, _, _, err := decodeFrame(buf, seed)
		var d payload
		if err == nil {
			d, err = decodePayload(p, l.seg.version)
		}
		if err == nil && d.position != l.pos {
			err = fmt.Errorf("frame holds position %d, want %d", d.position, l.pos)
		}
		if err != nil {
			return &eventstore.CorruptError{Segment: l.seg.name, Offset: int64(l.off), Position: l.pos, Reason: err.Error()}
		}
		ev := eventstore.RecordedEvent{
			Position: l.pos, Revision: d.revision, Stream: stream,
			ID: string(d.id), Type: string(d.typ), Time: string(d.time), Data: d.data,
		}
		if err := fn(&ev); err != nil {
			return err
		}
	}
	return nil
}

// Subscribe delivers stored events from position from, then new ones.
func (s *Store) Subscribe(ctx context.Context, from uint64) (eventstore.Subscription, error) {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return nil, eventstore.ErrClosed
	}
	return eventstore.NewCatchUpSubscription(ctx, from, 256, s.ReadAll, s.waitAfter), nil
}

// waitAfter blocks until the head passes after.
func (s *Store) waitAfter(ctx context.Context, after uint64) error {
	for {
		s.mu.RLock()
		head, ch, closed := s.head, s.headCh, s.closed
		s.mu.RUnlock()
		if closed {
			return eventstore.ErrClosed
		}
		if head > after {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
