package coordinator

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/workers/api"
)

// nextBoundary is the first epoch boundary (genesis + k × length) after t.
func (s *Server) nextBoundary(t time.Time) time.Time {
	g, l := s.opts.EpochGenesis, s.opts.EpochLength
	return domain.EpochStart(domain.EpochAt(t, g, l)+1, g, l)
}

// epochClock appends EpochClosed for the open epoch at the first boundary
// after it opened (the previous EpochClosed, or the first event of the
// log). After a downtime spanning several boundaries it closes the open
// epoch once: the log numbers epochs 1, 2, 3 … in order, and weeks without
// a running coordinator had no work to allocate.
func (s *Server) epochClock(ctx context.Context) {
	for {
		s.mu.RLock()
		opened, open := s.sched.epochOpened, s.ledger.Open().N
		s.mu.RUnlock()
		wait := s.nextBoundary(opened).Sub(s.opts.Now())
		if wait > 0 {
			// Re-read now and then: an admin close moves the boundary.
			t := time.NewTimer(min(wait, time.Minute))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		et := &eventTxn{waiter: newWaiter(), build: s.closeEpochBuild(open, s.opts.Emission, false)}
		if err := s.submit(ctx, et, &et.waiter); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Error("epoch clock: EpochClosed not appended", "epoch", open, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Second):
			}
			continue
		}
		if !et.resp.Duplicate {
			s.log.Info("epoch closed by the clock", "epoch", open, "position", et.resp.Position)
		}
	}
}

// closeEpochBuild closes the open epoch; want (if not 0) must be it, or an
// epoch already closed (then its EpochClosed is the answer). The close
// carries the schedule's channels where one is in force (explicit: the
// emission was asked for, and must then match it), and is preceded, in the
// same append, by the epoch's NodeAvailability records.
func (s *Server) closeEpochBuild(want uint64, emission domain.BaseUnits, explicit bool) func(r *round) (string, string, domain.Event, *api.EventResponse, error) {
	return func(r *round) (string, string, domain.Event, *api.EventResponse, error) {
		if !r.claimKey("epoch") {
			return "", "", nil, nil, errDefer
		}
		n := s.ledger.ClosedEpochs() + 1
		switch {
		case want != 0 && want < n:
			return "", "", nil, &api.EventResponse{Type: domain.TypeEpochClosed, Epoch: want, Position: s.ledger.Epoch(want).ClosedAt, Duplicate: true}, nil
		case want > n:
			return "", "", nil, nil, apiErr(http.StatusConflict, api.CodeEpochMismatch, "epoch %d is not open: the open epoch is %d", want, n)
		}
		ev, err := s.closingEvent(n, emission, explicit)
		if err != nil {
			return "", "", nil, nil, err
		}
		if err := s.ledger.Check(r.nowText, ev); err != nil {
			return "", "", nil, nil, refusal(err)
		}
		if err := s.addAvailability(r, n); err != nil {
			return "", "", nil, nil, err
		}
		return derivedID("EpochClosed", fmt.Sprint(n)), fmt.Sprintf("epoch-%d", n), ev, nil, nil
	}
}
