package coordinator

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/workers/api"
)

// Availability: what the coordinator measures for the availability reward
// channel. Online time comes from signed worker heartbeats: the gap
// between two heartbeats of a node counts when it is at most
// heartbeatGapFactor × HeartbeatInterval (a worker that stops sending them
// stops being online). Busy time comes from the leases the log records
// (FrameAssigned until the node's FrameRendered or the lease's end), their
// union, clamped to the online time. At the epoch close one
// NodeAvailability per node seen in the epoch (a heartbeat or a lease) is
// appended just before EpochClosed, in the same atomic append.
//
// Heartbeats are kept in memory: after a restart the online time of the
// open epoch counts from the first heartbeat after it (the window still
// spans the whole epoch), so a restart can only lower a node's idle share.

// heartbeatGapFactor: gaps between heartbeats longer than this many
// intervals are offline time.
const heartbeatGapFactor = 3

// defaultHeartbeatInterval is the interval asked of workers when
// Options.HeartbeatInterval is 0.
const defaultHeartbeatInterval = 10 * time.Second

// availability is the open epoch's heartbeat and lease record. It has its
// own lock: heartbeats do not take the ledger's.
type availability struct {
	mu    sync.Mutex
	start int64 // Unix ms: the open epoch's window began (last EpochClosed, or the log's first event)
	nodes map[string]*nodeAvail
}

type nodeAvail struct {
	lastBeat int64 // Unix ms of the last heartbeat (any epoch)
	online   int64 // ms counted in the open epoch
	beat     bool  // a heartbeat in the open epoch
	leases   map[leaseKey]interval
}

type leaseKey struct {
	job   string
	frame uint32
}

type interval struct{ from, to int64 }

func (a *availability) node(id string) *nodeAvail {
	if a.nodes == nil {
		a.nodes = map[string]*nodeAvail{}
	}
	n := a.nodes[id]
	if n == nil {
		n = &nodeAvail{leases: map[leaseKey]interval{}}
		a.nodes[id] = n
	}
	return n
}

// begin starts the window of the open epoch at t (Unix ms) when none was
// set by an EpochClosed.
func (a *availability) begin(t int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.start == 0 {
		a.start = t
	}
}

// apply folds a stored event: leases start and end busy time, an epoch
// close starts the next window.
func (a *availability) apply(t string, ev domain.Event) {
	switch e := ev.(type) {
	case *domain.FrameAssigned:
		from, until := unixMS(t), unixMS(e.LeaseUntil)
		a.mu.Lock()
		a.node(e.NodeID).leases[leaseKey{e.JobID, e.Frame}] = interval{from, max(from, until)}
		a.mu.Unlock()
	case *domain.FrameRendered:
		at := unixMS(t)
		a.mu.Lock()
		if n := a.nodes[e.NodeID]; n != nil {
			k := leaseKey{e.JobID, e.Frame}
			if iv, ok := n.leases[k]; ok && at < iv.to {
				iv.to = max(iv.from, at)
				n.leases[k] = iv
			}
		}
		a.mu.Unlock()
	case *domain.EpochClosed:
		at := unixMS(t)
		a.mu.Lock()
		a.start = at
		for id, n := range a.nodes {
			n.online, n.beat = 0, false
			for k, iv := range n.leases {
				if iv.to <= at {
					delete(n.leases, k)
				}
			}
			if len(n.leases) == 0 && n.lastBeat < at-int64(time.Hour/time.Millisecond) {
				delete(a.nodes, id)
			}
		}
		a.mu.Unlock()
	}
}

// beat records a heartbeat of node at now (Unix ms) and returns what it
// has counted.
func (a *availability) beat(node string, now int64, interval time.Duration) (online, busy, window int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.node(node)
	gapMax := heartbeatGapFactor * interval.Milliseconds()
	if n.lastBeat > 0 && now-n.lastBeat <= gapMax {
		if from := max(n.lastBeat, a.start); now > from {
			n.online += now - from
		}
	}
	if now > n.lastBeat {
		n.lastBeat = now
	}
	n.beat = true
	return a.measure(n, now)
}

// measure returns the node's online, busy and window at now, clamped so
// that 0 ≤ busy ≤ online ≤ window and window > 0.
func (a *availability) measure(n *nodeAvail, now int64) (online, busy, window int64) {
	window = max(now-a.start, 1)
	online = min(n.online, window)
	ivs := make([]interval, 0, len(n.leases))
	for _, iv := range n.leases {
		iv.from, iv.to = max(iv.from, a.start), min(iv.to, now)
		if iv.to > iv.from {
			ivs = append(ivs, iv)
		}
	}
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].from < ivs[j].from })
	var end int64
	for _, iv := range ivs {
		if iv.from > end {
			end = iv.from
		}
		if iv.to > end {
			busy += iv.to - end
			end = iv.to
		}
	}
	return online, min(busy, online), window
}

// records returns one NodeAvailability per node seen in the open epoch
// (a heartbeat, or a lease overlapping it), sorted by node id, as of now.
func (a *availability) records(epoch uint64, now int64) []*domain.NodeAvailability {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*domain.NodeAvailability
	for id, n := range a.nodes {
		online, busy, window := a.measure(n, now)
		leased := false
		for _, iv := range n.leases {
			leased = leased || (iv.to > a.start && iv.from < now)
		}
		if !n.beat && !leased {
			continue
		}
		out = append(out, &domain.NodeAvailability{Epoch: epoch, NodeID: id, WindowMS: uint64(window), OnlineMS: uint64(online), BusyMS: uint64(busy)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NodeID < out[j].NodeID })
	return out
}

func (s *Server) heartbeatInterval() time.Duration {
	if s.opts.HeartbeatInterval > 0 {
		return s.opts.HeartbeatInterval
	}
	return defaultHeartbeatInterval
}

// handleHeartbeat: POST /v1/worker/heartbeat, signed with the node's key.
// An unsigned, wrongly signed or replayed request, or one from a key no
// node is registered with, is refused (401) and counts nothing.
func (s *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	node, body, ok := s.signedBody(w, r)
	if !ok {
		return
	}
	var req api.HeartbeatRequest
	if err := decodeStrict(body, &req, true); err != nil {
		s.writeError(w, err)
		return
	}
	if req.State != "" && req.State != "idle" && req.State != "rendering" {
		s.writeError(w, apiErr(http.StatusUnprocessableEntity, api.CodeInvalid, "state: must be \"idle\" or \"rendering\", got %q", req.State))
		return
	}
	s.mu.RLock()
	epoch, pos := s.ledger.Open().N, s.ledger.Position
	s.mu.RUnlock()
	iv := s.heartbeatInterval()
	online, busy, window := s.avail.beat(node.id, s.now().UnixMilli(), iv)
	s.writeJSON(w, http.StatusOK, api.HeartbeatResponse{NodeID: node.id, Epoch: epoch, OnlineMS: online, BusyMS: busy, WindowMS: window, IntervalMS: iv.Milliseconds()}, pos)
}

// addAvailability adds, to the round closing epoch n, one NodeAvailability
// per node seen in it (before the EpochClosed the caller adds).
func (s *Server) addAvailability(r *round, n uint64) error {
	for _, rec := range s.avail.records(n, r.nowMS) {
		if s.ledger.Nodes[rec.NodeID] == nil {
			continue // a lease of a node the log does not know cannot be; skip rather than refuse the close
		}
		if err := s.ledger.Check(r.nowText, rec); err != nil {
			return refusal(err)
		}
		if err := r.add(derivedID("NodeAvailability", fmt.Sprint(n), rec.NodeID), "node-"+rec.NodeID, rec); err != nil {
			return refusal(err)
		}
	}
	return nil
}

// closingEvent is the EpochClosed of epoch n: the channels of the schedule
// in force (emission their sum), else emission as one job channel. An
// emission asked for explicitly that differs from the schedule's is
// refused.
func (s *Server) closingEvent(n uint64, emission domain.BaseUnits, explicit bool) (*domain.EpochClosed, error) {
	em, ch := s.ledger.ClosingAmounts(n, emission)
	if ch != nil && explicit && em != emission {
		sc := s.ledger.ScheduleFor(n)
		return nil, apiErr(http.StatusUnprocessableEntity, api.CodeRefused,
			"emission: epoch %d is paid by the schedule in force (%s from epoch %d): %s base units (%s), not %s",
			n, sc.RNP, sc.EffectiveEpoch, em, domain.FormatChannels(ch), emission)
	}
	return &domain.EpochClosed{Epoch: n, Emission: em, Channels: ch}, nil
}

// SetSchedule appends an EmissionScheduleSet unless the log holds the same
// one already (then it answers the stored one: appending a schedule file
// again changes nothing).
func (s *Server) SetSchedule(ctx context.Context, e *domain.EmissionScheduleSet) (*api.EventResponse, error) {
	if err := e.Validate(); err != nil {
		return nil, apiErr(http.StatusUnprocessableEntity, api.CodeInvalid, "%v", err)
	}
	t := &eventTxn{waiter: newWaiter(), build: s.scheduleBuild(e)}
	if err := s.submit(ctx, t, &t.waiter); err != nil {
		return nil, err
	}
	return &t.resp, nil
}

func (s *Server) scheduleBuild(e *domain.EmissionScheduleSet) func(r *round) (string, string, domain.Event, *api.EventResponse, error) {
	amounts := e.Amounts()
	return func(r *round) (string, string, domain.Event, *api.EventResponse, error) {
		if !r.claimKey("schedule") || !r.claimKey("epoch") {
			return "", "", nil, nil, errDefer
		}
		for _, st := range s.ledger.Schedules {
			if st.RNP == e.RNP && st.EffectiveEpoch == e.EffectiveEpoch && maps.Equal(st.Channels, amounts) {
				return "", "", nil, &api.EventResponse{Type: domain.TypeEmissionScheduleSet, Position: st.Position, Duplicate: true}, nil
			}
		}
		if err := s.ledger.Check(r.nowText, e); err != nil {
			return "", "", nil, nil, refusal(err)
		}
		return derivedID("EmissionScheduleSet", e.RNP, fmt.Sprint(e.EffectiveEpoch), domain.FormatChannels(amounts)), "schedule", e, nil, nil
	}
}

// appendSchedules appends Options.Schedule's entries the log lacks, in
// file order.
func (s *Server) appendSchedules(ctx context.Context) error {
	for i := range s.opts.Schedule {
		e := &s.opts.Schedule[i]
		if _, err := s.SetSchedule(ctx, e); err != nil {
			return fmt.Errorf("coordinator: schedule entry %d (%s from epoch %d): %w", i+1, e.RNP, e.EffectiveEpoch, err)
		}
	}
	return nil
}

// handleSchedule: POST /v1/schedule (bearer), the body the data of one
// EmissionScheduleSet, decoded as import decodes it.
func (s *Server) handleSchedule(w http.ResponseWriter, r *http.Request) {
	body, ok := s.bearerBody(w, r)
	if !ok {
		return
	}
	ev, err := domain.DecodeEvent(domain.TypeEmissionScheduleSet, body)
	if err != nil {
		s.writeError(w, apiErr(http.StatusUnprocessableEntity, api.CodeInvalid, "%v", err))
		return
	}
	s.appendOne(w, r, s.scheduleBuild(ev.(*domain.EmissionScheduleSet)))
}
