package coordinator

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/epochledger/epochledger/workers/api"
)

// Work is bounded by wall time. A node may hold at most its parallelism P
// of live leases (LeasesPerGPU × the GPUs its registration names), and
// the durations it reports must fit on P lanes of wall time: each report
// of duration d, leased at L (the FrameAssigned's time) and reported at T
// (the FrameRendered's time), is placed on the lane that is free first,
// from max(L, that lane's end) for d, and must end by T + durationSlack.
// So a node's credited durations never add up to more than P × the wall
// time it held leases (plus the slack per lane), however many leases it
// let expire and reported late. P is recorded in each FrameAssigned
// (max_leases) and both times are the envelope times the coordinator
// writes: an auditor replays the same placement from the log alone
// (docs/api.md, "Work bounded by wall time"); logs written before
// max_leases fold as they are.

// MaxGPUsPerNode bounds the GPU count read from a registration's gpu text.
const MaxGPUsPerNode = 1024

// GPUCount is the number of GPUs a registration's gpu text names: a
// leading count followed by "x" or "×" ("4x RTX 4090", "8 × H100"), else 1.
func GPUCount(gpu string) int {
	s := strings.TrimSpace(gpu)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 1
	}
	rest := strings.TrimLeft(s[i:], " ")
	if !strings.HasPrefix(rest, "x") && !strings.HasPrefix(rest, "X") && !strings.HasPrefix(rest, "×") {
		return 1
	}
	n, err := strconv.Atoi(s[:i])
	if err != nil || n < 1 {
		return 1
	}
	return min(n, MaxGPUsPerNode)
}

// nodeWork is a node's lease and lane state (in sched, guarded by mu).
type nodeWork struct {
	parallel int     // P: from the newest FrameAssigned's max_leases, else configuration
	lanes    []int64 // Unix ms at which each lane is free
	live     []expiry
}

// fit places a report of d ms, leased at L and reported at T (Unix ms), on
// lanes: the lane free first, from max(L, its end). It returns the lane and
// the placed end; ok is false when the end is after T + slack.
func fit(lanes []int64, parallel int, L, T int64, d uint64) (lane int, end int64, ok bool) {
	if len(lanes) < parallel {
		// Not yet used lanes are free from the beginning.
		return len(lanes), L + int64(d), L+int64(d) <= T+durationSlack.Milliseconds()
	}
	lane = 0
	for i, c := range lanes[:parallel] {
		if c < lanes[lane] {
			lane = i
		}
	}
	start := max(lanes[lane], L)
	end = start + int64(d)
	return lane, end, end <= T+durationSlack.Milliseconds()
}

// place records a placed report on lanes (growing them to the lane).
func place(lanes []int64, lane int, end int64) []int64 {
	if lane == len(lanes) {
		return append(lanes, end)
	}
	lanes[lane] = end
	return lanes
}

// work returns node's state, creating it.
func (s *sched) work(node string) *nodeWork {
	w := s.nodes[node]
	if w == nil {
		w = &nodeWork{parallel: s.leasesPerGPU}
		s.nodes[node] = w
	}
	return w
}

// liveLeases counts node's leases that are unexpired at now and have no
// result, dropping the others from its list.
func (w *nodeWork) liveLeases(now int64) int {
	kept := w.live[:0]
	for _, x := range w.live {
		if x.job.finished() || x.until <= now {
			continue
		}
		if f := x.job.peek(x.frame); f.leasePos != x.pos || f.state != frameLeased {
			continue
		}
		kept = append(kept, x)
	}
	clear(w.live[len(kept):])
	w.live = kept
	return len(kept)
}

// parallelism is the live leases the coordinator allows node now.
func (s *Server) parallelism(node *nodeKey) int {
	gpus := 1
	if n := s.ledger.Nodes[node.id]; n != nil {
		gpus = GPUCount(n.GPU)
	}
	return min(s.opts.LeasesPerGPU*gpus, 65536)
}

// checkLanes checks a results request's new reports against the node's
// lanes, in request order (the commit loop, with the node claimed for the
// round).
func (s *Server) checkLanes(node *nodeKey, items []resultItem, nowMS int64) error {
	w := s.sched.work(node.id)
	lanes := append([]int64(nil), w.lanes...)
	p := max(w.parallel, 1)
	for i := range items {
		it := &items[i]
		if it.dup || it.job.finished() {
			continue
		}
		f := it.job.peek(it.ev.Frame)
		lane, end, ok := fit(lanes, p, f.leasedAt, nowMS, it.ev.DurationMS)
		if !ok {
			return apiErr(http.StatusUnprocessableEntity, api.CodeInvalid,
				"results[%d]: duration_ms %d of frame %d of job %q does not fit node %q's wall time: with %d lease(s) in parallel its reports already cover its lanes up to %s, and this one would end %d ms after now (see docs/api.md, \"Work bounded by wall time\")",
				i, it.ev.DurationMS, it.ev.Frame, it.ev.JobID, node.id, p, laneText(lanes, p), end-nowMS)
		}
		lanes = place(lanes, lane, end)
	}
	return nil
}

func laneText(lanes []int64, p int) string {
	var b strings.Builder
	for i := 0; i < p; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		if i < len(lanes) {
			fmt.Fprintf(&b, "%d", lanes[i])
		} else {
			b.WriteString("free")
		}
	}
	return "[" + b.String() + "] (Unix ms)"
}
