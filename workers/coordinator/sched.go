package coordinator

import (
	"container/heap"
	"encoding/hex"
	"strings"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/workers/api"
)

// Frame states of the scheduler.
const (
	frameFree     uint8 = iota // never leased, lease expired, or result rejected
	frameLeased                // live lease, no result yet
	frameRendered              // a result waits for the verifier's verdict
	frameAccepted
)

// slot is the scheduler's view of one frame. It is derived from the log
// (apply) plus the transient claim of the round preparing it; the ledger
// stays the authority on what may be appended.
type slot struct {
	// ver counts the events applied to the frame. A result checked against
	// the ledger at version v is still valid at commit if ver is still v:
	// every rule of FrameRendered depends only on the frame, its job and
	// its node, and the last two never change.
	ver   uint32
	state uint8
	// hardAvoid: avoid's result for this frame was rejected; the frame is
	// never leased back to it. Otherwise avoid (whose lease expired) gets
	// the frame only when nothing else is free.
	hardAvoid  bool
	claim      uint64 // round number that claimed the frame
	leaseNode  string // holder of the last lease (kept after expiry: its late result still counts)
	avoid      string
	leasePos   uint64 // position of the last FrameAssigned
	leasedAt   int64  // Unix ms of the FrameAssigned
	leaseUntil int64  // Unix ms

	// The frame's current result (rendered or accepted).
	resNode string
	resHash string
	resID   string
	resPos  uint64
	resDur  uint64
	// The last rejected result, so that its retry is answered as such.
	rejID    string
	rejPos   uint64
	rejLease uint64
}

// job is the scheduler's view of a job.
type job struct {
	id        string
	sceneHash string
	frames    uint32
	usdPerOBh domain.USD
	slots     []slot // nil until a frame is touched
	next      uint32 // frames below next were offered by the cursor
	requeue   []uint32
	accepted  uint32
	rejected  uint32
	completed bool
	burned    bool
	queued    bool // a completion is queued
	// done replaces slots once the job is completed and burned: what a
	// retry of a stored result needs to be recognized, 32 bytes a frame.
	done []doneSlot
}

type doneSlot struct {
	id       [16]byte // of the accepted FrameRendered
	pos      uint64
	leasePos uint64
}

// compact drops a finished job's slots, keeping done.
func (j *job) compact() {
	d := make([]doneSlot, j.frames)
	for i := range j.slots {
		sl := &j.slots[i]
		d[i] = doneSlot{id: uuidBytes(sl.resID), pos: sl.resPos, leasePos: sl.leasePos}
	}
	j.done, j.slots = d, nil
}

// finished reports whether the job's slots were compacted.
func (j *job) finished() bool { return j.done != nil }

func uuidBytes(id string) [16]byte {
	var b [16]byte
	h := strings.ReplaceAll(id, "-", "")
	if len(h) == 32 {
		_, _ = hex.Decode(b[:], []byte(h))
	}
	return b
}

// slot returns frame f's slot, allocating the table (writers only; not
// for finished jobs).
func (j *job) slot(f uint32) *slot {
	if j.slots == nil {
		j.slots = make([]slot, j.frames)
	}
	return &j.slots[f]
}

// peek returns a copy of frame f's slot without allocating (readers).
func (j *job) peek(f uint32) slot {
	if j.slots == nil {
		return slot{}
	}
	return j.slots[f]
}

type expiry struct {
	until int64
	job   *job
	frame uint32
	pos   uint64
}

type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].until < h[j].until }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

type nodeStat struct {
	accepted, rejected uint64
}

// sched holds the leasing state: which frames are free, leased, waiting
// for a verdict or accepted. Guarded by Server.mu.
type sched struct {
	jobs     map[string]*job
	open     []*job // jobs with frames not yet accepted, in submission order
	leases   expiryHeap
	suspects map[string]bool // nodes with a result rejected for a mismatch
	stats    map[string]*nodeStat
	tasks    map[string]string // compute task id → event id
	// completions lists jobs whose last frame was just accepted.
	completions []*job
	// epochOpened is the time of the last EpochClosed (or of the first
	// event): the epoch clock closes the open epoch at the first boundary
	// after it.
	epochOpened time.Time
	recheck     []api.FrameRef
	// nodes are the nodes' live leases and lanes of wall time (bound.go);
	// leasesPerGPU is the configured parallelism per GPU, which applies
	// where the log does not record a node's (max_leases).
	nodes        map[string]*nodeWork
	leasesPerGPU int
}

func newSched(leasesPerGPU int) *sched {
	return &sched{jobs: map[string]*job{}, suspects: map[string]bool{}, stats: map[string]*nodeStat{}, tasks: map[string]string{},
		nodes: map[string]*nodeWork{}, leasesPerGPU: leasesPerGPU}
}

func (s *sched) stat(node string) *nodeStat {
	st := s.stats[node]
	if st == nil {
		st = &nodeStat{}
		s.stats[node] = st
	}
	return st
}

func unixMS(t string) int64 {
	tt, err := time.Parse(time.RFC3339Nano, t)
	if err != nil {
		return 0
	}
	return tt.UnixMilli()
}

// apply folds a stored event (the same events, in the same order, as the
// ledger).
func (s *sched) apply(pos uint64, id, t string, ev domain.Event) {
	switch e := ev.(type) {
	case *domain.NodeRegistered:
		if _, known := s.nodes[e.NodeID]; !known {
			s.work(e.NodeID).parallel = s.leasesPerGPU * GPUCount(e.GPU)
		}
	case *domain.JobSubmitted:
		if s.jobs[e.JobID] != nil {
			return
		}
		j := &job{id: e.JobID, sceneHash: e.SceneHash, frames: e.Frames, usdPerOBh: e.USDPerOBh}
		s.jobs[e.JobID] = j
		s.open = append(s.open, j)
	case *domain.FrameAssigned:
		j := s.jobs[e.JobID]
		if j == nil || e.Frame >= j.frames || j.finished() {
			return
		}
		f := j.slot(e.Frame)
		f.ver++
		f.state = frameLeased
		f.leaseNode = e.NodeID
		f.leasePos = pos
		f.leasedAt = unixMS(t)
		f.leaseUntil = unixMS(e.LeaseUntil)
		x := expiry{until: f.leaseUntil, job: j, frame: e.Frame, pos: pos}
		heap.Push(&s.leases, x)
		w := s.work(e.NodeID)
		if e.MaxLeases > 0 {
			w.parallel = int(e.MaxLeases)
		}
		w.live = append(w.live, x)
		if len(w.live) > 2*w.parallel+32 {
			// Folding a long log: drop what the log has since ended, so
			// the list stays about the node's parallelism long.
			w.liveLeases(unixMS(t))
		}
	case *domain.FrameRendered:
		j := s.jobs[e.JobID]
		if j == nil || e.Frame >= j.frames || j.finished() {
			return
		}
		f := j.slot(e.Frame)
		// The report takes its duration on the node's lanes of wall time
		// (bound.go); the fold records what the log holds, fitting or not.
		w := s.work(e.NodeID)
		lane, end, _ := fit(w.lanes, max(w.parallel, 1), f.leasedAt, unixMS(t), e.DurationMS)
		w.lanes = place(w.lanes, lane, end)
		f.ver++
		f.state = frameRendered
		f.resNode, f.resHash, f.resID, f.resPos, f.resDur = e.NodeID, e.OutputHash, id, pos, e.DurationMS
	case *domain.FrameAccepted:
		j := s.jobs[e.JobID]
		if j == nil || e.Frame >= j.frames || j.finished() {
			return
		}
		f := j.slot(e.Frame)
		if f.state == frameAccepted {
			return
		}
		f.ver++
		f.state = frameAccepted
		j.accepted++
		s.stat(e.NodeID).accepted++
		if j.accepted == j.frames && !(j.completed && j.burned) && !j.queued {
			j.queued = true
			s.completions = append(s.completions, j)
		}
	case *domain.FrameRejected:
		j := s.jobs[e.JobID]
		if j == nil || e.Frame >= j.frames || j.finished() {
			return
		}
		f := j.slot(e.Frame)
		f.ver++
		if f.state != frameAccepted {
			f.rejID, f.rejPos, f.rejLease = f.resID, f.resPos, f.leasePos
			f.state = frameFree
			f.leaseNode = ""
			f.resNode, f.resHash, f.resID, f.resPos, f.resDur = "", "", "", 0, 0
			j.requeue = append(j.requeue, e.Frame)
		}
		f.avoid, f.hardAvoid = e.NodeID, true
		j.rejected++
		s.stat(e.NodeID).rejected++
		if strings.HasPrefix(e.Reason, ReasonMismatch) {
			s.suspects[e.NodeID] = true
		}
	case *domain.ComputeWorkCompleted:
		if _, dup := s.tasks[e.TaskID]; !dup {
			s.tasks[e.TaskID] = id
		}
	case *domain.JobCompleted:
		if j := s.jobs[e.JobID]; j != nil {
			j.completed = true
			j.maybeCompact()
		}
	case *domain.BurnRecorded:
		if j := s.jobs[e.JobID]; j != nil {
			j.burned = true
			j.maybeCompact()
		}
	case *domain.EpochClosed:
		if tt, err := time.Parse(time.RFC3339Nano, t); err == nil {
			s.epochOpened = tt
		}
	}
}

func (j *job) maybeCompact() {
	if j.completed && j.burned && j.accepted == j.frames && !j.finished() {
		j.compact()
	}
}

// expire frees the frames whose lease ended by now (Unix ms).
func (s *sched) expire(now int64) {
	for len(s.leases) > 0 && s.leases[0].until <= now {
		x := heap.Pop(&s.leases).(expiry)
		if x.job.finished() {
			continue
		}
		f := x.job.slot(x.frame)
		if f.leasePos != x.pos || f.state != frameLeased {
			continue
		}
		f.state = frameFree
		f.avoid, f.hardAvoid = f.leaseNode, false
		x.job.requeue = append(x.job.requeue, x.frame)
	}
}

type pick struct {
	job   *job
	frame uint32
}

// pick chooses up to max free frames for node, oldest job first: frames
// freed again (expired or rejected) before new ones, frames last held by
// node only when nothing else is free, never a frame whose result from node
// was rejected. Picked frames are claimed for round r.
func (s *sched) pick(r *round, node string, max int, now int64) []pick {
	s.expire(now)
	var out []pick
	for pass := 0; pass < 2 && len(out) < max; pass++ {
		for i := 0; i < len(s.open) && len(out) < max; i++ {
			j := s.open[i]
			if j.accepted == j.frames {
				s.open = append(s.open[:i], s.open[i+1:]...)
				i--
				continue
			}
			// Frames freed again.
			kept := j.requeue[:0]
			for _, fr := range j.requeue {
				f := j.slot(fr)
				if f.state != frameFree {
					continue // re-leased or reported since: drop the entry
				}
				usable := f.claim != r.n && (f.avoid != node || (pass == 1 && !f.hardAvoid))
				if usable && len(out) < max && r.claimSlot(f) {
					out = append(out, pick{j, fr})
					continue
				}
				kept = append(kept, fr)
			}
			clear(j.requeue[len(kept):])
			j.requeue = kept
			// Frames never offered.
			for j.next < j.frames && len(out) < max {
				f := j.slot(j.next)
				if f.state == frameFree {
					if r.claimSlot(f) {
						out = append(out, pick{j, j.next})
					} else {
						j.requeue = append(j.requeue, j.next)
					}
				}
				j.next++
			}
		}
	}
	return out
}
