package projections

import (
	"context"
	"fmt"
	"runtime"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
)

// Reader is what a fold needs of an event store.
type Reader interface {
	ReadAll(ctx context.Context, from uint64, fn func(*eventstore.RecordedEvent) error) error
	Head(ctx context.Context) (uint64, error)
}

// Anomaly is a stored event the fold could not use (it never passed the
// command layer's checks, e.g. a log written by hand). Folds skip it and
// report it; they never stop on it.
type Anomaly struct {
	Position uint64 `json:"position"`
	Type     string `json:"type"`
	Error    string `json:"error"`
}

// maxAnomalies bounds the anomalies kept; AnomalyCount counts them all.
const maxAnomalies = 100

// ApplyRecorded decodes a stored event and folds it.
func (l *Ledger) ApplyRecorded(e *eventstore.RecordedEvent) {
	d := decoded{pos: e.Position, id: e.ID, typ: e.Type}
	d.ev, d.err = domain.DecodeEvent(e.Type, e.Data)
	l.applyDecoded(&d)
	l.LastID = e.ID
}

// CatchUp folds every event after the ledger's position up to the store's
// head. progress, if not nil, gets (position, head) now and then.
//
// Decoding is most of a replay's cost and the fold is sequential, so the
// log is read in batches that decoder goroutines (one per CPU) decode in
// parallel, while the fold applies the batches in log order: the result is
// the same as folding one event at a time.
func (l *Ledger) CatchUp(ctx context.Context, r Reader, progress func(pos, head uint64)) error {
	head, err := r.Head(ctx)
	if err != nil {
		return err
	}
	if head <= l.Position {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan *batch, 16)
	order := make(chan *batch, 16)
	workers := max(runtime.GOMAXPROCS(0), 1)
	for range workers {
		go func() {
			for b := range work {
				b.decode()
			}
		}()
	}
	// Folded batches go back to the reader: a batch is a few hundred KiB
	// that would otherwise be allocated and zeroed again every 1,024 events.
	free := make(chan *batch, cap(work)+cap(order)+workers+2)
	next := func() *batch {
		select {
		case b := <-free:
			b.reset()
			return b
		default:
			return newBatch(l.cfg.TrackIDs)
		}
	}
	var readErr error
	go func() {
		defer close(order)
		defer close(work)
		b := next()
		full := func() error {
			if len(b.evs) < decodeBatch {
				return nil
			}
			select {
			case work <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
			order <- b
			b = next()
			return nil
		}
		if rr, ok := r.(eventstore.RawReader); ok {
			// No string per field per event: the batch copies the bytes
			// the fold needs and the decoders make what they must.
			readErr = rr.ReadAllRaw(ctx, l.Position+1, func(e *eventstore.RawEvent) error {
				if e.Position > head {
					return errStop
				}
				b.addRaw(e)
				return full()
			})
		} else {
			readErr = r.ReadAll(ctx, l.Position+1, func(e *eventstore.RecordedEvent) error {
				if e.Position > head {
					return errStop
				}
				b.add(e)
				return full()
			})
		}
		if len(b.evs) > 0 && (readErr == nil || readErr == errStop) {
			work <- b
			order <- b
		}
	}()
	for b := range order {
		<-b.done
		for i := range b.evs {
			l.applyDecoded(&b.evs[i])
		}
		if n := len(b.evs); n > 0 {
			l.LastID = b.id(n - 1)
		}
		if poisonFolded {
			for i := range b.data {
				b.data[i] = 0xAA
			}
		}
		select {
		case free <- b:
		default:
		}
		if progress != nil {
			progress(l.Position, head)
		}
	}
	if readErr != nil && readErr != errStop {
		return fmt.Errorf("fold the log from position %d: %w", l.Position+1, readErr)
	}
	if progress != nil {
		progress(head, head)
	}
	return nil
}

// batch is a run of stored events read ahead of the fold; data holds
// their bytes (the store's buffers are reused as it reads): each event's
// id followed by its data.
type batch struct {
	evs      []decoded
	raw      []rawSpan
	data     []byte
	trackIDs bool // decoders set every decoded.id (else the fold needs only the last)
	done     chan struct{}
	arena    domain.FrameArena // the frame events' structs, reused
}

// rawSpan locates an event's id and data in batch.data.
type rawSpan struct{ id, data, end int }

// reset empties a folded batch for reuse; nothing the fold kept points
// into it (Apply copies the strings it keeps of the events that borrow
// the batch's bytes).
func (b *batch) reset() {
	clear(b.evs) // drop the decoded events for the garbage collector
	b.evs, b.raw, b.data = b.evs[:0], b.raw[:0], b.data[:0]
	b.arena.Reset()
	b.done = make(chan struct{})
}

func newBatch(trackIDs bool) *batch {
	return &batch{evs: make([]decoded, 0, decodeBatch), raw: make([]rawSpan, 0, decodeBatch), data: make([]byte, 0, 300*decodeBatch), trackIDs: trackIDs, done: make(chan struct{})}
}

func (b *batch) add(e *eventstore.RecordedEvent) {
	b.raw = append(b.raw, rawSpan{id: len(b.data), data: len(b.data), end: len(b.data) + len(e.Data)})
	b.data = append(b.data, e.Data...)
	b.evs = append(b.evs, decoded{pos: e.Position, id: e.ID, typ: e.Type})
}

func (b *batch) addRaw(e *eventstore.RawEvent) {
	start := len(b.data)
	b.data = append(b.data, e.ID...)
	mid := len(b.data)
	b.data = append(b.data, e.Data...)
	b.raw = append(b.raw, rawSpan{id: start, data: mid, end: len(b.data)})
	b.evs = append(b.evs, decoded{pos: e.Position, typ: domain.TypeName(e.Type)})
}

// id returns event i's id.
func (b *batch) id(i int) string {
	if d := &b.evs[i]; d.id != "" || b.raw[i].id == b.raw[i].data {
		return d.id
	}
	return string(b.data[b.raw[i].id:b.raw[i].data])
}

func (b *batch) decode() {
	for i := range b.evs {
		d := &b.evs[i]
		// The batch's bytes stay put until the fold is done with it, so
		// frame events may borrow them (Apply copies what it keeps).
		d.ev, d.err = domain.DecodeEventBorrowed(d.typ, b.data[b.raw[i].data:b.raw[i].end], &b.arena)
		if b.trackIDs && d.id == "" {
			d.id = b.id(i)
		}
	}
	close(b.done)
}

const decodeBatch = 1024

// decoded is a stored event decoded ahead of the fold. id may be left
// empty when ids are not tracked (the caller sets Ledger.LastID).
type decoded struct {
	pos uint64
	id  string
	typ string
	ev  domain.Event
	err error
}

// applyDecoded folds d; the caller keeps Ledger.LastID.
func (l *Ledger) applyDecoded(d *decoded) {
	if l.cfg.TrackIDs {
		l.IDs[d.id] = d.pos
	}
	if d.err != nil {
		l.AnomalyCount++
		if len(l.Anomalies) < maxAnomalies {
			l.Anomalies = append(l.Anomalies, Anomaly{Position: d.pos, Type: d.typ, Error: d.err.Error()})
		}
		l.Position = d.pos
		l.Events++
		return
	}
	l.Apply(d.pos, d.ev)
}

var errStop = fmt.Errorf("stop")

// poisonFolded (tests only) overwrites each batch's bytes once it is
// folded: state that kept a string borrowed from them would change, and
// the tests comparing state hashes would see it.
var poisonFolded bool

// Build folds a whole log into a new ledger.
func Build(ctx context.Context, r Reader, cfg Config, progress func(pos, head uint64)) (*Ledger, error) {
	l := New(cfg)
	if err := l.CatchUp(ctx, r, progress); err != nil {
		return nil, err
	}
	return l, nil
}

// Resume returns the ledger of the checkpoint at path caught up with r, or
// a rebuild from position 1 when the checkpoint is missing, damaged, or
// belongs to another log (its last event id differs or lies past the head).
// resumedAt is the checkpoint's position (0: rebuilt from position 1).
func Resume(ctx context.Context, r Reader, path string, cfg Config, progress func(pos, head uint64)) (l *Ledger, resumedAt uint64, err error) {
	if path != "" {
		if c, err := ReadCheckpoint(path); err == nil && c.cfg.TrackIDs == cfg.TrackIDs && c.belongsTo(ctx, r) {
			at := c.Position
			if err := c.CatchUp(ctx, r, progress); err != nil {
				return nil, 0, err
			}
			return c, at, nil
		}
	}
	l, err = Build(ctx, r, cfg, progress)
	return l, 0, err
}

// belongsTo reports whether the log holds, at the ledger's position, the
// event the ledger last folded.
func (l *Ledger) belongsTo(ctx context.Context, r Reader) bool {
	if l.Position == 0 {
		return true
	}
	match := false
	err := r.ReadAll(ctx, l.Position, func(e *eventstore.RecordedEvent) error {
		match = e.Position == l.Position && e.ID == l.LastID
		return errStop
	})
	return match && (err == nil || err == errStop)
}
