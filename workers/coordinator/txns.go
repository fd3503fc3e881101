package coordinator

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"time"

	"github.com/mr-tron/base58"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/workers/api"
)

// ReasonMismatch starts the reason of a FrameRejected written when the
// verifier's re-render gives another output hash. A node with such a
// rejection is verified at 100% from then on (after a restart too: the
// reason is in the log).
const ReasonMismatch = "output mismatch"

// durationSlack is how much a result's duration_ms may exceed the time
// since its lease began (clock granularity, the worker's own timing).
const durationSlack = 2 * time.Second

// errStale: a verdict or completion whose subject changed meanwhile.
var errStale = errors.New("coordinator: stale internal request")

// resultItem is one result of a results request.
type resultItem struct {
	ev      domain.FrameRendered
	job     *job
	ver     uint32 // slot version the check saw
	id      string // FrameRendered id
	dup     bool
	status  string // for a duplicate
	dupPos  uint64
	sampled bool
	idx     int // index of its FrameRendered in the round
}

// checkResult checks a result of node against the scheduler and the
// ledger (signature included). Called with mu held, for reading or
// writing; it records the slot version it saw.
func (s *Server) checkResult(nowMS int64, nowText string, node *nodeKey, it *resultItem) error {
	j, fr := it.job, it.ev.Frame
	if j.finished() {
		d := j.done[fr]
		it.ver, it.id = 0, renderedID(j.id, fr, node.id, d.leasePos, it.ev.OutputHash)
		if uuidBytes(it.id) == d.id {
			it.dup, it.dupPos, it.status = true, d.pos, api.StatusAccepted
			return nil
		}
		return apiErr(http.StatusConflict, api.CodeNotLeased, "job %q is completed: frame %d is accepted and nothing is leased", j.id, fr)
	}
	f := j.peek(fr)
	it.ver = f.ver
	it.id = renderedID(j.id, fr, node.id, f.leasePos, it.ev.OutputHash)
	switch {
	case f.resID == it.id:
		it.dup, it.dupPos = true, f.resPos
		it.status = api.StatusAccepted
		if f.state == frameRendered {
			it.status = api.StatusVerifying
		}
		return nil
	case f.rejID != "" && f.rejID == renderedID(j.id, fr, node.id, f.rejLease, it.ev.OutputHash):
		it.id = f.rejID
		it.dup, it.dupPos, it.status = true, f.rejPos, api.StatusRejected
		return nil
	case f.resNode == node.id && (f.state == frameRendered || f.state == frameAccepted):
		return apiErr(http.StatusConflict, api.CodeConflict, "node %q already reported frame %d of job %q with output_hash %s; a frame is reported once per lease", node.id, fr, j.id, f.resHash)
	case f.state == frameAccepted:
		return apiErr(http.StatusConflict, api.CodeNotLeased, "frame %d of job %q is already accepted (from node %q); it is not leased to node %q", fr, j.id, f.resNode, node.id)
	case f.leaseNode == "":
		return apiErr(http.StatusConflict, api.CodeNotLeased, "frame %d of job %q is not leased to any node; lease it first (POST %s)", fr, j.id, api.PathLease)
	case f.leaseNode != node.id:
		return apiErr(http.StatusConflict, api.CodeNotLeased, "frame %d of job %q is leased to node %q, not to node %q", fr, j.id, f.leaseNode, node.id)
	case f.state == frameRendered:
		return apiErr(http.StatusConflict, api.CodeNotLeased, "frame %d of job %q has a result from node %q waiting for verification", fr, j.id, f.resNode)
	}
	if limit := nowMS - f.leasedAt + durationSlack.Milliseconds(); int64(it.ev.DurationMS) > limit {
		return apiErr(http.StatusUnprocessableEntity, api.CodeInvalid, "duration_ms %d of frame %d of job %q exceeds the %d ms since the frame was leased", it.ev.DurationMS, fr, j.id, nowMS-f.leasedAt)
	}
	if err := s.ledger.Check(nowText, &it.ev); err != nil {
		return refusal(err)
	}
	return nil
}

// resultsTxn appends a results request: each result's FrameRendered, and
// for those not sampled its FrameAccepted, all or nothing.
type resultsTxn struct {
	waiter
	node  *nodeKey
	items []resultItem
	out   []api.ResultStatus
}

func (t *resultsTxn) prepare(r *round) error {
	s := r.s
	// One results txn per node per round: its reports are placed on the
	// node's lanes in order (checkLanes, below).
	if !r.claimKey("lanes:" + t.node.id) {
		return errDefer
	}
	for i := range t.items {
		it := &t.items[i]
		if it.dup {
			continue
		}
		if it.job.finished() { // completed since the check
			if err := s.checkResult(r.nowMS, r.nowText, t.node, it); err != nil {
				return err
			}
			continue // a duplicate: checkResult refuses anything else
		}
		f := it.job.slot(it.ev.Frame)
		if f.resID == it.id && f.resID != "" {
			if !it.dup { // an identical request committed meanwhile
				it.dup, it.dupPos, it.status = true, f.resPos, api.StatusVerifying
				if f.state == frameAccepted {
					it.status = api.StatusAccepted
				}
			}
			continue
		}
		if !r.claimSlot(f) {
			return errDefer
		}
		if f.ver != it.ver {
			if err := s.checkResult(r.nowMS, r.nowText, t.node, it); err != nil {
				return err
			}
			if it.dup {
				continue
			}
		}
		it.sampled = s.sampled(t.node.id, it.id)
		stream := "job-" + it.ev.JobID
		it.idx = len(r.envs)
		if err := r.add(it.id, stream, &it.ev); err != nil {
			return refusal(err)
		}
		if !it.sampled {
			acc := &domain.FrameAccepted{JobID: it.ev.JobID, Frame: it.ev.Frame, NodeID: t.node.id}
			// Its rule (an unjudged result of this node, frame not yet
			// accepted) holds by construction: the FrameRendered just
			// checked precedes it in the same atomic append.
			if err := r.add(derivedID("FrameAccepted", it.id), stream, acc); err != nil {
				return refusal(err)
			}
		}
	}
	return s.checkLanes(t.node, t.items, r.nowMS)
}

func (t *resultsTxn) finish(r *round, err error) {
	if err == nil {
		s := r.s
		t.out = make([]api.ResultStatus, len(t.items))
		for i := range t.items {
			it := &t.items[i]
			st := api.ResultStatus{JobID: it.ev.JobID, Frame: it.ev.Frame}
			switch {
			case it.dup:
				st.Status, st.Position, st.Duplicate = it.status, it.dupPos, true
				s.m.results.WithLabelValues("duplicate").Inc()
			case it.sampled:
				st.Status, st.Position = api.StatusVerifying, r.pos[it.idx]
				s.vq.push(verifyTask{job: it.job.id, frame: it.ev.Frame, node: t.node.id, hash: it.ev.OutputHash, scene: it.job.sceneHash, renderedID: it.id})
				s.m.results.WithLabelValues("verifying").Inc()
			default:
				st.Status, st.Position = api.StatusAccepted, r.pos[it.idx]
				s.m.results.WithLabelValues("accepted").Inc()
			}
			t.out[i] = st
		}
	}
	t.done(err)
}

// leaseTxn leases frames to a node: one FrameAssigned each.
type leaseTxn struct {
	waiter
	node  *nodeKey
	max   int
	dur   time.Duration
	out   []api.Lease
	idx   []int
	picks []pick
}

// abort offers the picked frames again: their FrameAssigned was not stored.
func (t *leaseTxn) abort() {
	for _, p := range t.picks {
		p.job.requeue = append(p.job.requeue, p.frame)
	}
	t.picks = nil
}

// leaseTimeFormat writes lease_until to the millisecond.
const leaseTimeFormat = "2006-01-02T15:04:05.000Z07:00"

func (t *leaseTxn) prepare(r *round) error {
	s := r.s
	t.out, t.idx = t.out[:0], t.idx[:0]
	until := r.now.Add(t.dur).Format(leaseTimeFormat)
	// Live leases per node are bounded (bound.go): one lease txn per node
	// per round, so the count below includes every earlier grant.
	if !r.claimKey("leases:" + t.node.id) {
		return errDefer
	}
	par := s.parallelism(t.node)
	n := min(t.max, par-s.sched.work(t.node.id).liveLeases(r.nowMS))
	t.picks = nil
	if n > 0 {
		t.picks = s.sched.pick(r, t.node.id, n, r.nowMS)
	}
	for _, p := range t.picks {
		ev := &domain.FrameAssigned{JobID: p.job.id, Frame: p.frame, NodeID: t.node.id, LeaseUntil: until, MaxLeases: uint32(par)}
		if err := s.ledger.Check(r.nowText, ev); err != nil {
			s.log.Warn("scheduler offered a frame the ledger refuses", "job", p.job.id, "frame", p.frame, "err", err)
			continue
		}
		t.idx = append(t.idx, len(r.envs))
		if err := r.add(randomID(), "job-"+p.job.id, ev); err != nil {
			return refusal(err)
		}
		t.out = append(t.out, api.Lease{JobID: p.job.id, Frame: p.frame, SceneHash: p.job.sceneHash, LeaseUntil: until, Render: s.opts.Render})
	}
	return nil
}

func (t *leaseTxn) finish(r *round, err error) {
	if err == nil {
		for i := range t.out {
			t.out[i].Position = r.pos[t.idx[i]]
		}
		r.s.m.framesLeased.Add(float64(len(t.out)))
	}
	t.done(err)
}

// verdictTxn records the verifier's verdict on a sampled result.
type verdictTxn struct {
	waiter
	task    verifyTask
	got     string // the re-rendered output hash
	recheck []verifyTask
	reject  bool
}

func (t *verdictTxn) prepare(r *round) error {
	s := r.s
	j := s.sched.jobs[t.task.job]
	if j == nil || j.finished() {
		return errStale
	}
	f := j.slot(t.task.frame)
	if f.resID != t.task.renderedID || f.state != frameRendered {
		return errStale
	}
	if !r.claimSlot(f) {
		return errDefer
	}
	stream := "job-" + j.id
	if t.got == t.task.hash {
		ev := &domain.FrameAccepted{JobID: j.id, Frame: t.task.frame, NodeID: t.task.node}
		if err := s.ledger.Check(r.nowText, ev); err != nil {
			return err
		}
		return r.add(derivedID("FrameAccepted", t.task.renderedID), stream, ev)
	}
	t.reject = true
	ev := &domain.FrameRejected{JobID: j.id, Frame: t.task.frame, NodeID: t.task.node,
		Reason: fmt.Sprintf("%s: the coordinator re-rendered output_hash %s, the node reported %s", ReasonMismatch, t.got, t.task.hash)}
	if err := s.ledger.Check(r.nowText, ev); err != nil {
		return err
	}
	// Re-check the node's other frames of the job: results still waiting
	// are verified anyway; accepted ones are re-rendered and a mismatch is
	// reported (acceptance is final in the log).
	for fr := range j.slots {
		sl := &j.slots[fr]
		if uint32(fr) != t.task.frame && sl.resNode == t.task.node && sl.state == frameAccepted {
			t.recheck = append(t.recheck, verifyTask{job: j.id, frame: uint32(fr), node: sl.resNode, hash: sl.resHash, scene: j.sceneHash, renderedID: sl.resID, recheck: true})
		}
	}
	return r.add(derivedID("FrameRejected", t.task.renderedID), stream, ev)
}

func (t *verdictTxn) finish(r *round, err error) {
	if err == nil {
		for _, x := range t.recheck {
			r.s.vq.push(x)
		}
	}
	t.done(err)
}

// completionTxn appends a fully accepted job's JobCompleted (provenance
// root) and BurnRecorded.
type completionTxn struct {
	job *job
}

func (t *completionTxn) prepare(r *round) error {
	s := r.s
	j := t.job
	if !r.claimKey("job:" + j.id) {
		return errDefer
	}
	lj := s.ledger.Jobs[j.id]
	if lj == nil || lj.Accepted != lj.Frames {
		return errStale
	}
	stream := "job-" + j.id
	if !lj.Completed {
		root, err := domain.ProvenanceRoot(lj.AcceptedOutputs())
		if err != nil {
			return err
		}
		ev := &domain.JobCompleted{JobID: j.id, ProvenanceRoot: domain.HashHex(root)}
		if err := s.ledger.Check(r.nowText, ev); err != nil {
			return err
		}
		if err := r.add(derivedID("JobCompleted", j.id), stream, ev); err != nil {
			return err
		}
	}
	if lj.Burn == nil {
		usd, err := s.jobUSD(j)
		if err != nil {
			return err
		}
		burned, err := domain.BurnedBaseUnits(usd, s.opts.RenderUSDPrice)
		if err != nil {
			return err
		}
		tx := s.burnTxs[j.id]
		if tx == "" {
			tx = DerivedBurnSignature(j.id)
		}
		ev := &domain.BurnRecorded{JobID: j.id, USD: usd, RenderUSDPrice: s.opts.RenderUSDPrice, Burned: burned, TxSignature: tx}
		if err := s.ledger.Check(r.nowText, ev); err != nil {
			return err
		}
		if err := r.add(derivedID("BurnRecorded", j.id), stream, ev); err != nil {
			return err
		}
	}
	return nil
}

func (t *completionTxn) finish(r *round, err error) {
	if err != nil && !errors.Is(err, errStale) {
		r.s.log.Error("job completion not recorded", "job", t.job.id, "err", err)
	}
}

// jobUSD is the value of a job's accepted frames, Σ ob × duration_ms /
// 3,600,000 × usd_per_obh, rounded up to the 10^-18 USD of the USD type
// (the network never under-burns).
func (s *Server) jobUSD(j *job) (domain.USD, error) {
	sum := new(big.Int)
	for f := range j.slots {
		sl := &j.slots[f]
		n := s.ledger.Nodes[sl.resNode]
		if sl.state != frameAccepted || n == nil {
			continue
		}
		sum.Add(sum, domain.FrameValue(n.OB, sl.resDur, j.usdPerOBh).Big())
	}
	den := new(big.Int).Quo(domain.ValueDenominator(), big.NewInt(1_000_000_000_000_000_000)) // value units per atto-USD
	q, rem := sum.QuoRem(sum, den, new(big.Int))
	if rem.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	return domain.USDFromAtto(q)
}

// eventTxn appends one event built under the lock (admin routes).
type eventTxn struct {
	waiter
	build func(r *round) (id, stream string, ev domain.Event, dup *api.EventResponse, err error)
	resp  api.EventResponse
	idx   int
}

func (t *eventTxn) prepare(r *round) error {
	id, stream, ev, dup, err := t.build(r)
	if err != nil {
		return err
	}
	if dup != nil {
		t.resp, t.idx = *dup, -1
		return nil
	}
	t.idx = len(r.envs)
	t.resp = api.EventResponse{Type: ev.EventType()}
	if e, ok := ev.(*domain.EpochClosed); ok {
		t.resp.Epoch = e.Epoch
	}
	if err := r.add(id, stream, ev); err != nil {
		return refusal(err)
	}
	return nil
}

func (t *eventTxn) finish(r *round, err error) {
	if err == nil && t.idx >= 0 {
		t.resp.Position = r.pos[t.idx]
	}
	t.done(err)
}

// DerivedBurnSignature is the tx_signature recorded for a job submitted
// without burn_tx_signature: base58 of sha256("burn:" + job_id) followed by
// 32 zero bytes. It is a stable reference to the job, not a Solana
// transaction: real burns happen when the artist pays, and the payment
// processor's signature should come with the job (burn_tx_signature).
func DerivedBurnSignature(jobID string) string {
	sum := sha256.Sum256([]byte("burn:" + jobID))
	var b [64]byte
	copy(b[:], sum[:])
	return base58.Encode(b[:])
}
