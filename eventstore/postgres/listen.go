package postgres

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/epochledger/epochledger/eventstore"
)

// Subscribe delivers every event from position from on: what is stored,
// then new events as they commit. Every commit NOTIFYs the new head on the
// log's channel; one LISTEN connection per Store wakes the subscriptions,
// which then read by position (a notification carries no events, so one
// lost while the listener reconnects costs nothing: the head is read again
// on reconnect, and every PollInterval anyway).
func (s *Store) Subscribe(ctx context.Context, from uint64) (eventstore.Subscription, error) {
	if err := s.closed(); err != nil {
		return nil, err
	}
	s.listener.Do(func() {
		s.wg.Add(1)
		go s.listen()
	})
	return eventstore.NewCatchUpSubscription(ctx, from, 256, s.ReadAll, s.wait), nil
}

// advance records that the log holds position pos and wakes waiters.
func (s *Store) advance(pos uint64) {
	for {
		cur := s.head.pos.Load()
		if pos <= cur {
			return
		}
		if s.head.pos.CompareAndSwap(cur, pos) {
			break
		}
	}
	s.head.mu.Lock()
	close(s.head.wake)
	s.head.wake = make(chan struct{})
	s.head.mu.Unlock()
}

// wait blocks until the log holds an event after position after.
func (s *Store) wait(ctx context.Context, after uint64) error {
	for {
		s.head.mu.Lock()
		wake := s.head.wake
		s.head.mu.Unlock()
		if s.head.pos.Load() > after {
			return nil
		}
		t := time.NewTimer(s.opts.PollInterval)
		select {
		case <-wake:
		case <-t.C:
			// The safety net: a commit whose notification was lost.
			if _, err := s.Head(ctx); err != nil {
				t.Stop()
				return err
			}
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-s.ctx.Done():
			t.Stop()
			return eventstore.ErrClosed
		}
		t.Stop()
	}
}

// listen holds the LISTEN connection until Close, reconnecting when it
// is lost.
func (s *Store) listen() {
	defer s.wg.Done()
	for attempt := 0; s.ctx.Err() == nil; attempt++ {
		conn, err := pgx.ConnectConfig(s.ctx, s.connCfg)
		if err == nil {
			_, err = conn.Exec(s.ctx, "LISTEN "+pgx.Identifier{s.t.channel}.Sanitize())
			if err == nil {
				attempt = 0
				// Commits between the loss and the LISTEN sent no
				// notification to us: read the head.
				var head uint64
				if err = conn.QueryRow(s.ctx, "SELECT coalesce(max(position), 0) FROM "+s.t.events).Scan(&head); err == nil {
					s.advance(head)
				}
			}
			for err == nil {
				n, werr := conn.WaitForNotification(s.ctx)
				if err = werr; err == nil {
					if p, perr := strconv.ParseUint(n.Payload, 10, 64); perr == nil {
						s.advance(p)
					}
				}
			}
			conn.Close(context.Background())
		}
		if s.ctx.Err() != nil {
			return
		}
		s.log.Warn("postgres: LISTEN connection lost; reconnecting", "err", err)
		_ = sleep(s.ctx, backoff(attempt))
	}
}
