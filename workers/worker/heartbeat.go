package worker

import (
	"context"
	"sync/atomic"
	"time"
)

// DefaultHeartbeat is the heartbeat interval when Options.Heartbeat is 0.
const DefaultHeartbeat = 10 * time.Second

// heartbeats sends a signed heartbeat every interval until ctx ends, while
// idle and while rendering: the coordinator counts the node online between
// heartbeats, which is what the availability reward channel pays for. A
// failed heartbeat is logged and the next one tried on time (a missed one
// only lowers the online time).
func (w *worker) heartbeats(ctx context.Context, interval time.Duration, rendering *atomic.Bool) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		state := "idle"
		if rendering.Load() {
			state = "rendering"
		}
		cctx, cancel := context.WithTimeout(ctx, interval)
		if _, err := w.o.Client.Heartbeat(cctx, state); err != nil && ctx.Err() == nil {
			w.log.Warn("heartbeat failed", "err", err)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
