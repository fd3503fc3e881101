package eventstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// LogReader is the part of a Store that reads the whole log: what Copy
// and Compare need of their source.
type LogReader interface {
	ReadAll(ctx context.Context, from uint64, fn func(*RecordedEvent) error) error
	Head(ctx context.Context) (uint64, error)
}

// StreamReader is the part of a Store that reads one stream: what Compare
// needs of the store it checks.
type StreamReader interface {
	ReadStream(ctx context.Context, stream string, from uint64, fn func(*RecordedEvent) error) error
}

// Copied is what Copy did.
type Copied struct {
	// Events is how many events of the source were appended to the
	// destination or found there; AlreadyThere how many of them were found
	// there (same ids: an earlier, interrupted copy stored them).
	Events       uint64
	AlreadyThere uint64
}

// Copy appends every event of src to dst in log order, each stream keeping
// its events and ids, batch events per AppendInOrder (each run of one
// stream's events an atomic append, the whole batch one where dst is a
// MultiAppender). It is idempotent: the appends are retries for events
// dst already holds, so an interrupted copy is resumed by running it
// again. progress, if not nil, gets (events copied, src's head) after
// every batch. On an error, the Copied returned says how far it got.
func Copy(ctx context.Context, dst Appender, src LogReader, batch int, progress func(copied, head uint64)) (Copied, error) {
	var c Copied
	if batch <= 0 {
		return c, fmt.Errorf("eventstore: copy in batches of %d events: want at least 1", batch)
	}
	head, err := src.Head(ctx)
	if err != nil {
		return c, err
	}
	var pending []StreamEvent
	flush := func() error {
		_, positions, err := AppendInOrder(ctx, dst, pending)
		if err != nil {
			return err
		}
		for _, p := range positions {
			if p == 0 {
				c.AlreadyThere++
			}
		}
		c.Events += uint64(len(pending))
		pending = pending[:0]
		if progress != nil {
			progress(c.Events, head)
		}
		return nil
	}
	err = src.ReadAll(ctx, 1, func(r *RecordedEvent) error {
		if r.Position > head {
			return errStopCopy
		}
		// The source's buffers are reused as it reads: the batch keeps copies.
		pending = append(pending, StreamEvent{Stream: r.Stream, Event: EventData{ID: r.ID, Type: r.Type, Time: r.Time, Data: bytes.Clone(r.Data)}})
		if len(pending) >= batch {
			return flush()
		}
		return nil
	})
	if errors.Is(err, errStopCopy) {
		err = nil
	}
	if err == nil && len(pending) > 0 {
		err = flush()
	}
	return c, err
}

var errStopCopy = errors.New("stop copying")

// Compared is what Compare checked.
type Compared struct {
	// Events and Streams are the events and streams of the first store,
	// each found in the second.
	Events  uint64
	Streams int
}

// Difference is the first event of one store that the other does not
// hold the same: Compare's refusal.
type Difference struct {
	Position uint64 // in the first store
	ID       string
	Stream   string
	Revision uint64
	// Missing: the second store has no event at that stream revision.
	Missing bool
}

func (d *Difference) Error() string {
	what := "differs"
	if d.Missing {
		what = "is missing"
	}
	return fmt.Sprintf("eventstore: position %d (%s, stream %s revision %d) %s in the second store", d.Position, d.ID, d.Stream, d.Revision, what)
}

// Compare checks that every event of a, up to its head, is in b at the
// same stream and revision with the same id, type, time and data, as a
// Copy of a into b makes it. b may hold more (positions are not compared:
// they are each backend's own). The first event that differs is returned
// as a *Difference; other errors are the stores' own.
func Compare(ctx context.Context, a LogReader, b StreamReader) (Compared, error) {
	var c Compared
	head, err := a.Head(ctx)
	if err != nil {
		return c, err
	}
	streams := map[string]struct{}{}
	var diff *Difference
	err = a.ReadAll(ctx, 1, func(r *RecordedEvent) error {
		if r.Position > head {
			return errStopCopy
		}
		var got *RecordedEvent
		rerr := b.ReadStream(ctx, r.Stream, r.Revision, func(d *RecordedEvent) error {
			e := *d
			e.Data = bytes.Clone(d.Data)
			got = &e
			return errStopCopy
		})
		if rerr != nil && !errors.Is(rerr, errStopCopy) && !errors.Is(rerr, ErrStreamNotFound) {
			return fmt.Errorf("eventstore: read back %s@%d: %w", r.Stream, r.Revision, rerr)
		}
		if got == nil || got.ID != r.ID || got.Type != r.Type || got.Time != r.Time || got.Revision != r.Revision || !bytes.Equal(got.Data, r.Data) {
			diff = &Difference{Position: r.Position, ID: r.ID, Stream: r.Stream, Revision: r.Revision, Missing: got == nil}
			return errStopCopy
		}
		streams[r.Stream] = struct{}{}
		c.Events++
		return nil
	})
	c.Streams = len(streams)
	if err != nil && !errors.Is(err, errStopCopy) {
		return c, err
	}
	if diff != nil {
		return c, diff
	}
	return c, nil
}
