package esdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/epochledger/epochledger/eventstore"
)

// filter says which events of $all belong to this log.
type filter struct {
	streamPrefix string   // StreamPrefix
	chainStream  string   // server name of the chain stream
	typePrefixes []string // TypePrefixes
}

// typeVisible reports whether an event type passes TypePrefixes.
func (f filter) typeVisible(typ string) bool {
	if len(f.typePrefixes) == 0 {
		return true
	}
	for _, p := range f.typePrefixes {
		if strings.HasPrefix(typ, p) {
			return true
		}
	}
	return false
}

// visible reports whether an event of $all is one of ours: not a system
// event, in a stream with our prefix, not a chain checkpoint, and — unless
// all — of a type TypePrefixes lets through.
func (f filter) visible(stream, typ string, all bool) bool {
	return !strings.HasPrefix(typ, "$") && !strings.HasPrefix(stream, "$") &&
		strings.HasPrefix(stream, f.streamPrefix) && stream != f.chainStream &&
		(all || f.typeVisible(typ))
}

// server is the filter the server applies. It can test the stream or the
// type, not both: with a StreamPrefix it tests the stream (the client
// tests the rest), else the type. Either way system events ('$' types) do
// not cross the network, apart from those in prefixed streams.
func (f filter) server(all bool) *esdbclient.SubscriptionFilter {
	switch {
	case f.streamPrefix != "":
		return &esdbclient.SubscriptionFilter{Type: esdbclient.StreamFilterType, Prefixes: []string{f.streamPrefix}}
	case !all && len(f.typePrefixes) > 0:
		// No prefix starts with '$' (Options.Validate), so this also
		// excludes system events.
		return &esdbclient.SubscriptionFilter{Type: esdbclient.EventFilterType, Prefixes: append([]string(nil), f.typePrefixes...)}
	}
	return esdbclient.ExcludeSystemEventsFilter()
}

func allPos(p uint64) esdbclient.Position { return esdbclient.Position{Commit: p, Prepare: p} }

// Head returns the position of the newest event of this log (0 when it
// has none).
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if err := s.open(); err != nil {
		return 0, err
	}
	h, err := s.head(ctx, false)
	return h, mapError("head", err)
}

// head reads $all backwards until an event of ours. The client library
// offers server-side filters only on subscriptions, so system events are
// skipped here, 64 at a time.
func (s *Store) head(ctx context.Context, all bool) (uint64, error) {
	const page = 64
	var head uint64
	err := s.do(ctx, "read $all backwards", func(c *esdbclient.Client) error {
		head = 0
		var from esdbclient.AllPosition = esdbclient.End{}
		for {
			rs, err := c.ReadAll(ctx, esdbclient.ReadAllOptions{Direction: esdbclient.Backwards, From: from}, page)
			if err != nil {
				return err
			}
			n, found := 0, false
			var oldest esdbclient.Position
			err = each(rs, func(e *esdbclient.RecordedEvent) (bool, error) {
				n++
				oldest = e.Position
				if !s.filter.visible(e.StreamID, e.EventType, all) {
					return false, nil
				}
				p, err := eventPosition(e.Position)
				head, found = p, err == nil
				return true, err
			})
			if err != nil || found || n < page {
				return err
			}
			from = oldest // backwards reads return the events before it
		}
	})
	return head, err
}

// resolveStart finds where to start reading $all so that every event at
// position >= from is seen. EventStoreDB can start only at a position that
// holds a record (anything else is "invalid position"), and callers pass
// "last position seen + 1". So the start is, in order of preference:
// from-1 when it is known or proven to hold a record (the start itself is
// then skipped); the head when from is beyond it; the record before from
// when from holds one; else the start of $all (correct, but a full scan:
// logged).
func (s *Store) resolveStart(ctx context.Context, from, head uint64) (esdbclient.AllPosition, error) {
	if from <= 1 || head == 0 {
		return esdbclient.Start{}, nil // nothing of ours before from to skip cheaply
	}
	c := from - 1
	if c == head || s.known.has(c) {
		return allPos(c), nil
	}
	if head > 0 && from > head {
		return allPos(head), nil
	}
	ok, err := s.isRecord(ctx, c)
	if err != nil {
		return nil, err
	}
	if ok {
		s.known.add(c)
		return allPos(c), nil
	}
	ok, err = s.isRecord(ctx, from)
	if err != nil {
		return nil, err
	}
	if ok {
		prev, found, err := s.recordBefore(ctx, from)
		if err != nil || !found {
			return esdbclient.Start{}, err
		}
		return allPos(prev), nil
	}
	s.log.Warn("esdb: position holds no event (nor does the one before): reading $all from its start", "from", from)
	return esdbclient.Start{}, nil
}

// isRecord reports whether a record of the transaction log starts at p.
func (s *Store) isRecord(ctx context.Context, p uint64) (bool, error) {
	var ok bool
	err := s.do(ctx, "probe $all position", func(c *esdbclient.Client) error {
		ok = false
		rs, err := c.ReadAll(ctx, esdbclient.ReadAllOptions{Direction: esdbclient.Forwards, From: allPos(p)}, 1)
		if err == nil {
			err = each(rs, func(e *esdbclient.RecordedEvent) (bool, error) {
				ok = e.Position.Prepare == p || e.Position.Commit == p
				return true, nil
			})
		}
		if err != nil && !classify(err).retry {
			return nil // the server refused the position: no record there
		}
		return err
	})
	return ok, err
}

// recordBefore returns the position of the record before p.
func (s *Store) recordBefore(ctx context.Context, p uint64) (uint64, bool, error) {
	var prev uint64
	var found bool
	err := s.do(ctx, "read $all backwards", func(c *esdbclient.Client) error {
		rs, err := c.ReadAll(ctx, esdbclient.ReadAllOptions{Direction: esdbclient.Backwards, From: allPos(p)}, 1)
		if err != nil {
			return err
		}
		return each(rs, func(e *esdbclient.RecordedEvent) (bool, error) {
			prev, found = e.Position.Prepare, e.Position.Prepare < p
			return true, nil
		})
	})
	return prev, found, err
}

// ReadAll calls fn for every event of this log at position >= from, in
// order, up to the head at the time of the call.
func (s *Store) ReadAll(ctx context.Context, from uint64, fn func(*eventstore.RecordedEvent) error) error {
	if err := s.open(); err != nil {
		return err
	}
	return mapError("read $all", s.readAll(ctx, from, false, fn))
}

// readAll reads through a filtered catch-up subscription, the client
// library's only way to have the server filter $all, and stops at the head
// found first. all widens the view past TypePrefixes (chain checkpoints).
func (s *Store) readAll(ctx context.Context, from uint64, all bool, fn func(*eventstore.RecordedEvent) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if from == 0 {
		from = 1
	}
	head, err := s.head(ctx, all)
	if err != nil || head == 0 || from > head {
		return err
	}
	start, err := s.resolveStart(ctx, from, head)
	if err != nil {
		return err
	}
	var last uint64 // newest position received: where a retry resumes
	return s.do(ctx, "read $all", func(c *esdbclient.Client) error {
		pos := start
		if last > 0 {
			pos = allPos(last)
		}
		sub, err := c.SubscribeToAll(ctx, esdbclient.SubscribeToAllOptions{From: pos, Filter: s.filter.server(all)})
		if err != nil {
			return err
		}
		defer sub.Close()
		for {
			ev := sub.Recv()
			switch {
			case ev.SubscriptionDropped != nil:
				if ev.SubscriptionDropped.Error == nil {
					return errors.New("esdb: subscription dropped")
				}
				return ev.SubscriptionDropped.Error
			case ev.CaughtUp != nil:
				return nil
			case ev.CheckPointReached != nil:
				if ev.CheckPointReached.Commit > head {
					return nil
				}
			case ev.EventAppeared != nil:
				e := ev.EventAppeared.OriginalEvent()
				p, err := eventPosition(e.Position)
				if err != nil {
					return err
				}
				if p > head {
					return nil
				}
				if last > 0 && p <= last {
					if p < last {
						return fmt.Errorf("%w: %d after %d", ErrPositionOrder, p, last)
					}
					continue
				}
				last = p
				if p < from || !s.filter.visible(e.StreamID, e.EventType, all) {
					continue
				}
				rec, err := s.convert(e)
				if err != nil {
					return err
				}
				s.known.add(p)
				if err := fn(&rec); err != nil {
					return &callbackError{err}
				}
				if p == head {
					return nil
				}
			}
		}
	})
}

// Subscribe delivers every event of this log at position >= from: those
// stored, then new ones as they are appended. It uses the server's
// filtered catch-up subscription to $all; when the connection drops it
// resubscribes from the last event received (so a leader change is
// invisible to the consumer), giving up after Retry.MaxAttempts failures
// in a row, with Err saying why. To survive a restart, keep the position
// of the last event processed and subscribe from it + 1.
func (s *Store) Subscribe(ctx context.Context, from uint64) (eventstore.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	if from == 0 {
		from = 1
	}
	head, err := s.head(ctx, false)
	if err != nil {
		return nil, mapError("subscribe to $all", err)
	}
	start, err := s.resolveStart(ctx, from, head)
	if err != nil {
		return nil, mapError("subscribe to $all", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	sub := &subscription{c: make(chan eventstore.RecordedEvent, s.opts.SubscriptionBuffer), cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel()
		return nil, eventstore.ErrClosed
	}
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	go sub.run(ctx, s, from, start)
	return sub, nil
}

type subscription struct {
	c      chan eventstore.RecordedEvent
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	err    error
}

func (sub *subscription) C() <-chan eventstore.RecordedEvent { return sub.c }

func (sub *subscription) Err() error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.err
}

// Close stops the subscription and waits for its goroutine to end.
func (sub *subscription) Close() {
	sub.cancel()
	<-sub.done
}

func (sub *subscription) fail(err error) {
	sub.mu.Lock()
	sub.err = err
	sub.mu.Unlock()
}

func (sub *subscription) run(ctx context.Context, s *Store, from uint64, start esdbclient.AllPosition) {
	defer close(sub.done)
	defer close(sub.c)
	defer func() {
		s.mu.Lock()
		delete(s.subs, sub)
		s.mu.Unlock()
	}()
	var last uint64
	failures := 0
	renewed := false
	for {
		c, err := s.current()
		if err == nil {
			pos := start
			if last > 0 {
				pos = allPos(last)
			}
			var es *esdbclient.Subscription
			es, err = c.SubscribeToAll(ctx, esdbclient.SubscribeToAllOptions{From: pos, Filter: s.filter.server(false)})
			if err == nil {
				err = sub.pump(ctx, s, es, from, &last, &failures)
				_ = es.Close()
			}
		}
		if ctx.Err() != nil {
			return // Close, or the caller's context: Err stays nil
		}
		v := classify(err)
		if v.reconnect && c != nil {
			s.reconnect(c) // see Store.do
			if !renewed {
				renewed = true
				continue
			}
		}
		renewed = false
		failures++
		if !v.retry || failures >= s.opts.Retry.MaxAttempts {
			sub.fail(mapError("subscribe to $all", err))
			return
		}
		d := s.opts.Retry.Delay(failures, randFloat())
		s.log.Warn("esdb: subscription dropped, resubscribing", "after", last, "attempt", failures, "delay", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// pump passes events from one server subscription to the channel until
// the subscription drops; it returns why.
func (sub *subscription) pump(ctx context.Context, s *Store, es *esdbclient.Subscription, from uint64, last *uint64, failures *int) error {
	for {
		ev := es.Recv()
		switch {
		case ev.SubscriptionDropped != nil:
			if ev.SubscriptionDropped.Error == nil {
				return errors.New("esdb: subscription dropped")
			}
			return ev.SubscriptionDropped.Error
		case ev.EventAppeared != nil:
			e := ev.EventAppeared.OriginalEvent()
			p, err := eventPosition(e.Position)
			if err != nil {
				return err
			}
			if *last > 0 && p <= *last {
				if p < *last {
					return fmt.Errorf("%w: %d after %d", ErrPositionOrder, p, *last)
				}
				continue
			}
			*last = p
			*failures = 0
			if p < from || !s.filter.visible(e.StreamID, e.EventType, false) {
				continue
			}
			rec, err := s.convert(e)
			if err != nil {
				return err
			}
			s.known.add(p)
			select {
			case sub.c <- rec:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}
