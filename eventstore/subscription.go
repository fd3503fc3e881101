package eventstore

import (
	"context"
	"errors"
	"sync"
)

// ReadAllFunc reads stored events from a position on; see Store.ReadAll.
type ReadAllFunc func(ctx context.Context, from uint64, fn func(*RecordedEvent) error) error

// WaitFunc blocks until the log holds an event after position after, or ctx
// ends (it then returns ctx.Err()).
type WaitFunc func(ctx context.Context, after uint64) error

// NewCatchUpSubscription builds a Subscription from a backend's ReadAll and
// a wait-for-new-events primitive: it reads what is stored from `from` on,
// then waits and reads again, forever. Delivery is in position order with
// no gap and no repeat, across the switch from catch-up to live. Buffer is
// the channel capacity; the reader goroutine blocks when the consumer lags,
// so memory stays bounded.
func NewCatchUpSubscription(ctx context.Context, from uint64, buffer int, read ReadAllFunc, wait WaitFunc) Subscription {
	ctx, cancel := context.WithCancel(ctx)
	s := &catchUp{c: make(chan RecordedEvent, buffer), cancel: cancel, done: make(chan struct{})}
	go s.run(ctx, from, read, wait)
	return s
}

type catchUp struct {
	c      chan RecordedEvent
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	err    error
}

func (s *catchUp) run(ctx context.Context, next uint64, read ReadAllFunc, wait WaitFunc) {
	defer close(s.done)
	defer close(s.c)
	if next == 0 {
		next = 1
	}
	for {
		err := read(ctx, next, func(e *RecordedEvent) error {
			ev := *e
			ev.Data = append([]byte(nil), e.Data...)
			select {
			case s.c <- ev:
				next = e.Position + 1
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if err == nil {
			err = wait(ctx, next-1)
		}
		if err != nil {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
			}
			return
		}
	}
}

func (s *catchUp) C() <-chan RecordedEvent { return s.c }

func (s *catchUp) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close stops the subscription and waits for its goroutine to end.
func (s *catchUp) Close() {
	s.cancel()
	<-s.done
}
