package eventstore

import (
	"context"
	"errors"
	"fmt"
)

// StreamEvent is an event with the stream it goes to.
type StreamEvent struct {
	Stream string
	Event  EventData
}

// Appender is the part of a Store that appends; AppendInOrder needs no
// more (a writer such as the coordinator holds only this much of a store).
type Appender interface {
	Append(ctx context.Context, stream string, expected ExpectedRevision, events ...EventData) (AppendResult, error)
}

// AppendInOrder appends events spanning streams in the given order, each
// stream with expected revision Any: in one atomic append when s is a
// MultiAppender, else one append per run of same-stream events (atomic per
// run only; a failure leaves the runs before it stored, and their results
// are returned with the error).
//
// positions[i] is where events[i] is stored, 0 when its run was already
// stored (an idempotent retry: every id of the run was there, and the
// event is where the first append put it). On a store whose positions
// have gaps (EventStoreDB) a run's positions are read back from its
// stream, so s must also read streams there.
func AppendInOrder(ctx context.Context, s Appender, events []StreamEvent) (results []AppendResult, positions []uint64, err error) {
	if len(events) == 0 {
		return nil, nil, nil
	}
	var reqs []AppendRequest
	for _, e := range events {
		if n := len(reqs); n > 0 && reqs[n-1].Stream == e.Stream {
			reqs[n-1].Events = append(reqs[n-1].Events, e.Event)
			continue
		}
		reqs = append(reqs, AppendRequest{Stream: e.Stream, Expected: Any(), Events: []EventData{e.Event}})
	}
	if m, ok := s.(MultiAppender); ok {
		if results, err = m.AppendMulti(ctx, reqs); err != nil {
			return nil, nil, err
		}
	} else {
		results = make([]AppendResult, 0, len(reqs))
		for _, r := range reqs {
			res, err := s.Append(ctx, r.Stream, r.Expected, r.Events...)
			if err != nil {
				return results, nil, err
			}
			results = append(results, res)
		}
	}
	positions = make([]uint64, 0, len(events))
	for i, r := range reqs {
		res := results[i]
		switch n := uint64(len(r.Events)); {
		case res.Duplicate:
			for range r.Events {
				positions = append(positions, 0)
			}
		case res.LastPosition-res.FirstPosition == n-1: // gap-free
			for k := range n {
				positions = append(positions, res.FirstPosition+k)
			}
		default:
			// Positions with gaps (EventStoreDB's are its transaction
			// log's): the result bounds them, the stream has each.
			p, err := readBackPositions(ctx, s, r, res)
			if err != nil {
				return results, nil, err
			}
			positions = append(positions, p...)
		}
	}
	return results, positions, nil
}

// readBackPositions reads the positions of an append's events from its
// stream.
func readBackPositions(ctx context.Context, s Appender, r AppendRequest, res AppendResult) ([]uint64, error) {
	sr, ok := s.(interface {
		ReadStream(ctx context.Context, stream string, from uint64, fn func(*RecordedEvent) error) error
	})
	n := uint64(len(r.Events))
	if !ok || res.NextRevision < n {
		return nil, fmt.Errorf("eventstore: %d events appended to %s at positions %d..%d with gaps, and the store cannot read them back for the position of each", n, r.Stream, res.FirstPosition, res.LastPosition)
	}
	out := make([]uint64, 0, n)
	err := sr.ReadStream(ctx, r.Stream, res.NextRevision-n, func(e *RecordedEvent) error {
		if k := len(out); k < len(r.Events) {
			if e.ID != r.Events[k].ID {
				return fmt.Errorf("eventstore: %s revision %d holds event %s, not %s just appended there", r.Stream, e.Revision, e.ID, r.Events[k].ID)
			}
			out = append(out, e.Position)
		}
		if len(out) == len(r.Events) {
			return errStopCopy
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopCopy) {
		return nil, fmt.Errorf("eventstore: read back the positions of %d events of %s: %w", n, r.Stream, err)
	}
	if len(out) != len(r.Events) {
		return nil, fmt.Errorf("eventstore: %s holds %d of the %d events just appended", r.Stream, len(out), n)
	}
	return out, nil
}
