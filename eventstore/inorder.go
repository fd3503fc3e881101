package eventstore

import "context"

// StreamEvent is an event with the stream it goes to.
type StreamEvent struct {
	Stream string
	Event  EventData
}

// AppendInOrder appends events spanning streams in the given order, each
// stream with expected revision Any: in one atomic append when s is a
// MultiAppender, else one append per run of same-stream events (atomic per
// run only; a failure leaves the runs before it stored).
func AppendInOrder(ctx context.Context, s Store, events []StreamEvent) ([]AppendResult, error) {
	if len(events) == 0 {
		return nil, nil
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
		return m.AppendMulti(ctx, reqs)
	}
	results := make([]AppendResult, 0, len(reqs))
	for _, r := range reqs {
		res, err := s.Append(ctx, r.Stream, r.Expected, r.Events...)
		if err != nil {
			return results, err
		}
		results = append(results, res)
	}
	return results, nil
}
