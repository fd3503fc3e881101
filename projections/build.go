package projections

import (
	"context"
	"fmt"

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
	d := decoded{pos: e.Position, id: e.ID, typ: e.Type, time: e.Time}
	d.ev, d.err = domain.DecodeEvent(e.Type, e.Data)
	l.applyDecoded(&d)
}

// CatchUp folds every event after the ledger's position up to the store's
// head. progress, if not nil, gets (position, head) now and then.
//
// Reading and decoding run in a goroutine ahead of the fold (decoding is
// most of a replay's cost and the fold is sequential), handing over
// batches of decoded events; the result is the same as folding one by one.
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
	batches := make(chan []decoded, 8)
	var readErr error
	go func() {
		defer close(batches)
		batch := make([]decoded, 0, decodeBatch)
		readErr = r.ReadAll(ctx, l.Position+1, func(e *eventstore.RecordedEvent) error {
			if e.Position > head {
				return errStop
			}
			d := decoded{pos: e.Position, id: e.ID, typ: e.Type, time: e.Time}
			d.ev, d.err = domain.DecodeEvent(e.Type, e.Data)
			batch = append(batch, d)
			if len(batch) == decodeBatch {
				select {
				case batches <- batch:
				case <-ctx.Done():
					return ctx.Err()
				}
				batch = make([]decoded, 0, decodeBatch)
			}
			return nil
		})
		if len(batch) > 0 && (readErr == nil || readErr == errStop) {
			batches <- batch
		}
	}()
	for batch := range batches {
		for i := range batch {
			l.applyDecoded(&batch[i])
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

const decodeBatch = 1024

// decoded is a stored event decoded ahead of the fold.
type decoded struct {
	pos  uint64
	id   string
	typ  string
	time string
	ev   domain.Event
	err  error
}

func (l *Ledger) applyDecoded(d *decoded) {
	if l.cfg.TrackIDs {
		l.IDs[d.id] = d.pos
	}
	l.LastID = d.id
	if d.err != nil {
		l.AnomalyCount++
		if len(l.Anomalies) < maxAnomalies {
			l.Anomalies = append(l.Anomalies, Anomaly{Position: d.pos, Type: d.typ, Error: d.err.Error()})
		}
		l.Position = d.pos
		l.Events++
		return
	}
	l.Apply(d.pos, d.time, d.ev)
}

var errStop = fmt.Errorf("stop")

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
