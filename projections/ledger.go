// Package projections holds the pure folds over the event log: nodes and
// operators, jobs and their frames, per-epoch work and the exact emission
// allocation, burns and supply, bridge conversions, settlement state and
// operator balances. The same log folded on any machine gives the same
// Ledger, byte for byte in every rendering (see the tests).
//
// The Ledger also answers the command layer's stateful question "may this
// event be appended next?" (Check) so that nothing the fold cannot explain
// ever reaches the log.
package projections

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/mr-tron/base58"

	"github.com/epochledger/epochledger/domain"
)

// Config are the rules outside the log.
type Config struct {
	// DefaultEmission is the emission shown for the open epoch (the one
	// EpochClosed will record is what counts).
	DefaultEmission domain.BaseUnits
	// TrackIDs keeps every event id with its position in Ledger.IDs (what
	// import needs to skip events already stored; costs memory).
	TrackIDs bool
	// SupplyCap bounds the emissions of all epochs together (Check); 0
	// means domain.MaxSupply. See supply.go.
	SupplyCap domain.BaseUnits
}

// Node is a registered GPU node.
type Node struct {
	ID         string
	OperatorID string
	Pubkey     string
	GPU        string
	OB         domain.OBScore
	Registered uint64 // position
	VRAMGB     uint32 // 0: not stated (no availability reward)
	RegEpoch   uint64 // the epoch open when it registered
	key        ed25519.PublicKey
}

// Operator is a node operator and their balance.
type Operator struct {
	ID         string
	Wallet     string
	EthAddress string
	Nodes      []string
	// Allocated is every emission allocated to the operator; Paid the part
	// confirmed on chain; InFlight the part in submitted transactions not
	// yet confirmed or expired.
	Allocated domain.BaseUnits
	Paid      domain.BaseUnits
	InFlight  domain.BaseUnits
}

// Owed is what the operator is still to be paid (not counting in flight).
func (o *Operator) Owed() domain.BaseUnits { return o.Allocated - o.Paid - o.InFlight }

type render struct {
	node     string
	hash     [32]byte // the output hash (validated lowercase hex in the event)
	duration uint64
	rejected bool
}

// hashHex is the event form of a render's output hash.
func (r *render) hashHex() string { return hex.EncodeToString(r.hash[:]) }

// parseOutputHash decodes an output hash that passed domain validation
// (64 lowercase hex digits).
func parseOutputHash(s string) (h [32]byte) {
	if len(s) == 2*len(h) {
		hex.Decode(h[:], []byte(s))
	}
	return h
}

type frameState struct {
	leaseNode  string
	leaseUntil time.Time
	renders    []render
	accepted   int // index into renders + 1; 0 = not accepted
}

// Job is a render job with its frames.
type Job struct {
	ID        string
	Artist    string
	SceneHash string
	Frames    uint32
	USDPerOBh domain.USD
	Submitted uint64

	frames   []frameState
	slab     []render    // each frame's first render, so most frames allocate none
	done     *doneFrames // replaces frames once the job is completed
	Accepted uint32
	Rejected uint32
	// Completed is set by JobCompleted with its Proof-of-Render root.
	Completed      bool
	ProvenanceRoot string
	Burn           *domain.BurnRecorded
	BurnEpoch      uint64
}

// doneFrames is a completed job's accepted frames, packed. Once the
// provenance root is recorded no frame of the job can change, so the
// leases and judged renders are dropped: a long-running ledger holds full
// frame state only for jobs still in progress.
type doneFrames struct {
	nodes     []string
	hashes    []byte // 32 bytes per frame
	durations []uint64
}

func (j *Job) compact() {
	d := &doneFrames{nodes: make([]string, j.Frames), hashes: make([]byte, 32*int(j.Frames)), durations: make([]uint64, j.Frames)}
	for i := range j.frames {
		if a := j.frames[i].accepted; a > 0 {
			r := &j.frames[i].renders[a-1]
			d.nodes[i], d.durations[i] = r.node, r.duration
			copy(d.hashes[32*i:], r.hash[:])
		}
	}
	j.done, j.frames, j.slab = d, nil, nil
}

// frame returns the state of frame f, allocating the frame table lazily.
func (j *Job) frame(f uint32) *frameState {
	if j.frames == nil {
		j.frames = make([]frameState, j.Frames)
	}
	return &j.frames[f]
}

// addRender appends r to frame f's renders; the first goes into the job's
// slab (one allocation per job instead of one per frame).
func (j *Job) addRender(f uint32, r render) {
	fs := j.frame(f)
	if fs.renders == nil {
		if j.slab == nil {
			j.slab = make([]render, j.Frames)
		}
		fs.renders = j.slab[f : f : f+1]
	}
	fs.renders = append(fs.renders, r)
}

// noFrame is the state of every frame of a job without a frame table.
var noFrame frameState

// peekFrame returns the state of frame f without allocating: Check reads
// through it, so that concurrent Checks under a read lock never write.
func (j *Job) peekFrame(f uint32) *frameState {
	if j.frames == nil {
		return &noFrame
	}
	return &j.frames[f]
}

// AcceptedOutputs returns the output hashes of accepted frames in frame
// order ("" for frames not accepted).
func (j *Job) AcceptedOutputs() []string {
	out := make([]string, j.Frames)
	for i := range j.frames {
		if a := j.frames[i].accepted; a > 0 {
			out[i] = j.frames[i].renders[a-1].hashHex()
		}
	}
	return out
}

// FrameStatus describes one frame for `job` and the API.
type FrameStatus struct {
	Frame      uint32 `json:"frame"`
	State      string `json:"state"` // pending, leased, rendered, accepted, rejected
	Node       string `json:"node_id,omitempty"`
	OutputHash string `json:"output_hash,omitempty"`
	DurationMS uint64 `json:"duration_ms,omitempty"`
}

// FrameStatuses lists every frame's state.
func (j *Job) FrameStatuses() []FrameStatus {
	out := make([]FrameStatus, j.Frames)
	if d := j.done; d != nil {
		for i := range out {
			out[i] = FrameStatus{Frame: uint32(i), State: "accepted", Node: d.nodes[i], OutputHash: hex.EncodeToString(d.hashes[32*i : 32*i+32]), DurationMS: d.durations[i]}
		}
		return out
	}
	for i := range out {
		out[i] = FrameStatus{Frame: uint32(i), State: "pending"}
		if j.frames == nil {
			continue
		}
		fs := &j.frames[i]
		switch {
		case fs.accepted > 0:
			r := fs.renders[fs.accepted-1]
			out[i] = FrameStatus{Frame: uint32(i), State: "accepted", Node: r.node, OutputHash: r.hashHex(), DurationMS: r.duration}
		case len(fs.renders) > 0 && !fs.renders[len(fs.renders)-1].rejected:
			r := fs.renders[len(fs.renders)-1]
			out[i] = FrameStatus{Frame: uint32(i), State: "rendered", Node: r.node, OutputHash: r.hashHex(), DurationMS: r.duration}
		case fs.leaseNode != "":
			out[i] = FrameStatus{Frame: uint32(i), State: "leased", Node: fs.leaseNode}
		case len(fs.renders) > 0:
			out[i] = FrameStatus{Frame: uint32(i), State: "rejected", Node: fs.renders[len(fs.renders)-1].node}
		}
	}
	return out
}

// Work is exact work and value: Work counts OctaneBench hundredths ×
// milliseconds (OBh = Work / domain.WorkDenominator), Value is USD scaled
// by domain.ValueDenominator.
type Work struct {
	Work   domain.Sum
	Value  domain.Sum
	Frames uint64
	Tasks  uint64
}

// Epoch is one epoch: open (the last) or closed.
type Epoch struct {
	N        uint64
	Closed   bool
	ClosedAt uint64 // position of its EpochClosed
	Emission domain.BaseUnits
	// Operators and Nodes hold the work of the epoch.
	Operators map[string]*Work
	Nodes     map[string]*Work
	// Allocations is set when the epoch closes.
	Allocations map[string]domain.BaseUnits
	Unallocated domain.BaseUnits
	Burned      domain.BaseUnits
	BurnedUSD   domain.Sum // USD scaled by domain.ValueDenominator
	Burns       uint64
	Settlement  *Settlement
	// Availability holds the epoch's NodeAvailability records by node.
	Availability map[string]*domain.NodeAvailability
	// Channels is set when the epoch closes: each channel's allocation
	// (Allocations is their sum per operator); AvailNodes the eligible
	// nodes' availability results. ChannelsRecorded: the EpochClosed
	// named its channels (else the emission was one job channel).
	Channels         []ChannelAlloc
	AvailNodes       []NodeAvail
	ChannelsRecorded bool
}

func newEpoch(n uint64) *Epoch {
	return &Epoch{N: n, Operators: map[string]*Work{}, Nodes: map[string]*Work{}}
}

// Bridge sums the RNDR → RENDER conversions.
type Bridge struct {
	Conversions uint64
	RNDRWei     *big.Int
	Render      domain.BaseUnits
	Dust        *big.Int // wei below one base unit, truncated
	seen        map[bridgeKey]uint64
}

type bridgeKey struct {
	tx    string
	index uint64
}

// Ledger is the fold of the whole log.
type Ledger struct {
	cfg      Config
	Position uint64
	// LastID is the id of the event at Position: a checkpoint is used only
	// on the log whose event at that position has this id.
	LastID    string
	Events    uint64
	Nodes     map[string]*Node
	Operators map[string]*Operator
	Jobs      map[string]*Job
	Tasks     map[string]uint64 // compute task id → position
	Epochs    []*Epoch          // Epochs[i] is epoch i+1; the last is open
	Bridge    Bridge
	Minted    domain.BaseUnits
	Burned    domain.BaseUnits
	// Schedules are the stored EmissionScheduleSet events in log order.
	Schedules []Schedule
	// IDs maps event ids to positions when Config.TrackIDs is set.
	IDs map[string]uint64
	// Anomalies are stored events the fold skipped (first 100).
	Anomalies    []Anomaly
	AnomalyCount uint64
	// ComputeClients are the registered compute clients (nil: none, a log
	// of the old form; see compute.go).
	ComputeClients map[string]*ComputeClient

	computeUsed map[clientNode]domain.USD  // client-attested usd per node, open epoch
	keys        map[string]domain.KeyOwner // base58 signing key → its holder (keys.go)
}

// New returns an empty ledger.
func New(cfg Config) *Ledger {
	if cfg.DefaultEmission == 0 {
		cfg.DefaultEmission = domain.DefaultEmission
	}
	return &Ledger{
		cfg:       cfg,
		Nodes:     map[string]*Node{},
		Operators: map[string]*Operator{},
		Jobs:      map[string]*Job{},
		Tasks:     map[string]uint64{},
		Epochs:    []*Epoch{newEpoch(1)},
		Bridge:    Bridge{RNDRWei: new(big.Int), Dust: new(big.Int), seen: map[bridgeKey]uint64{}},
		IDs:       map[string]uint64{},
	}
}

// Open returns the open epoch.
func (l *Ledger) Open() *Epoch { return l.Epochs[len(l.Epochs)-1] }

// Epoch returns epoch n, or nil.
func (l *Ledger) Epoch(n uint64) *Epoch {
	if n == 0 || n > uint64(len(l.Epochs)) {
		return nil
	}
	return l.Epochs[n-1]
}

// ClosedEpochs is the number of closed epochs.
func (l *Ledger) ClosedEpochs() uint64 { return uint64(len(l.Epochs) - 1) }

func (l *Ledger) operator(id string) *Operator {
	o := l.Operators[id]
	if o == nil {
		o = &Operator{ID: id}
		l.Operators[id] = o
	}
	return o
}

func refuse(ev domain.Event, field, format string, a ...any) error {
	return &domain.ValidationError{Event: ev.EventType(), Field: field, Rule: fmt.Sprintf(format, a...)}
}

// Check reports whether ev may be appended after everything the ledger
// has folded. t is the envelope's time (RFC 3339). It changes nothing.
func (l *Ledger) Check(t string, ev domain.Event) error {
	switch e := ev.(type) {
	case *domain.NodeRegistered:
		if n := l.Nodes[e.NodeID]; n != nil {
			return refuse(ev, "node_id", "node %q is already registered (position %d)", e.NodeID, n.Registered)
		}
		if err := domain.CheckKeyRegistration(domain.TypeNodeRegistered, "node_pubkey", e.NodePubkey, l.KeyOwner(e.NodePubkey), domain.NodeKeyOwner(e.NodeID)); err != nil {
			return err
		}
	case *domain.OperatorWalletSet:
		// An operator may set or change their wallet at any time; the
		// next settlement pays there.
	case *domain.JobSubmitted:
		if j := l.Jobs[e.JobID]; j != nil {
			return refuse(ev, "job_id", "job %q already exists (position %d)", e.JobID, j.Submitted)
		}
	case *domain.FrameAssigned:
		j, err := l.checkFrame(ev, e.JobID, e.Frame, e.NodeID)
		if err != nil {
			return err
		}
		fs := j.peekFrame(e.Frame)
		if fs.accepted > 0 {
			return refuse(ev, "frame", "frame %d of job %q is already accepted", e.Frame, e.JobID)
		}
		if fs.leaseNode != "" && !l.leaseOver(fs, t) {
			return refuse(ev, "frame", "frame %d of job %q is leased to node %q until %s; one live lease per frame", e.Frame, e.JobID, fs.leaseNode, fs.leaseUntil.Format(time.RFC3339))
		}
	case *domain.FrameRendered:
		j, err := l.checkFrame(ev, e.JobID, e.Frame, e.NodeID)
		if err != nil {
			return err
		}
		fs := j.peekFrame(e.Frame)
		if fs.leaseNode != e.NodeID {
			if fs.leaseNode == "" {
				return refuse(ev, "node_id", "frame %d of job %q is not leased to any node; it must match a live assignment", e.Frame, e.JobID)
			}
			return refuse(ev, "node_id", "frame %d of job %q is leased to node %q, not %q; it must match a live assignment", e.Frame, e.JobID, fs.leaseNode, e.NodeID)
		}
		if fs.accepted > 0 {
			return refuse(ev, "frame", "frame %d of job %q is already accepted", e.Frame, e.JobID)
		}
		for _, r := range fs.renders {
			if r.node == e.NodeID && !r.rejected {
				return refuse(ev, "frame", "node %q already reported frame %d of job %q", e.NodeID, e.Frame, e.JobID)
			}
		}
		if err := l.verifySignature(ev, e.NodeID, e.ProofMessage(), e.Signature); err != nil {
			return err
		}
	case *domain.FrameAccepted:
		j, err := l.checkFrame(ev, e.JobID, e.Frame, e.NodeID)
		if err != nil {
			return err
		}
		fs := j.peekFrame(e.Frame)
		if fs.accepted > 0 {
			return refuse(ev, "frame", "frame %d of job %q is already accepted (node %q); a frame is accepted at most once", e.Frame, e.JobID, fs.renders[fs.accepted-1].node)
		}
		if fs.pendingRender(e.NodeID) < 0 {
			return refuse(ev, "node_id", "node %q has no unjudged rendered result for frame %d of job %q", e.NodeID, e.Frame, e.JobID)
		}
	case *domain.FrameRejected:
		j, err := l.checkFrame(ev, e.JobID, e.Frame, e.NodeID)
		if err != nil {
			return err
		}
		fs := j.peekFrame(e.Frame)
		if fs.accepted > 0 && fs.renders[fs.accepted-1].node == e.NodeID {
			return refuse(ev, "frame", "frame %d of job %q from node %q is already accepted", e.Frame, e.JobID, e.NodeID)
		}
		if fs.pendingRender(e.NodeID) < 0 {
			return refuse(ev, "node_id", "node %q has no unjudged rendered result for frame %d of job %q", e.NodeID, e.Frame, e.JobID)
		}
	case *domain.ComputeWorkCompleted:
		if l.Nodes[e.NodeID] == nil {
			return refuse(ev, "node_id", "node %q is not registered", e.NodeID)
		}
		if p, ok := l.Tasks[e.TaskID]; ok {
			return refuse(ev, "task_id", "task %q was already reported (position %d)", e.TaskID, p)
		}
		if err := l.verifySignature(ev, e.NodeID, e.ProofMessage(), e.Signature); err != nil {
			return err
		}
		return l.checkComputeClient(e)
	case *domain.ComputeClientRegistered:
		return l.checkComputeClientRegistered(e)
	case *domain.JobCompleted:
		j := l.Jobs[e.JobID]
		if j == nil {
			return refuse(ev, "job_id", "job %q does not exist", e.JobID)
		}
		if j.Completed {
			return refuse(ev, "job_id", "job %q is already completed", e.JobID)
		}
		if j.Accepted != j.Frames {
			return refuse(ev, "job_id", "job %q has %d of %d frames accepted; it completes when all are", e.JobID, j.Accepted, j.Frames)
		}
		root, err := domain.ProvenanceRoot(j.AcceptedOutputs())
		if err != nil {
			return refuse(ev, "provenance_root", "%v", err)
		}
		if got := domain.HashHex(root); got != e.ProvenanceRoot {
			return refuse(ev, "provenance_root", "must be the Merkle root of the accepted frames' output hashes in frame order: %s", got)
		}
	case *domain.BurnRecorded:
		j := l.Jobs[e.JobID]
		if j == nil {
			return refuse(ev, "job_id", "job %q does not exist", e.JobID)
		}
		if j.Burn != nil {
			return refuse(ev, "job_id", "job %q already has its burn recorded (epoch %d)", e.JobID, j.BurnEpoch)
		}
		if j.Accepted == 0 {
			return refuse(ev, "job_id", "job %q has no accepted frames; a burn pays for work done", e.JobID)
		}
		return l.checkBurn(e)
	case *domain.EpochClosed:
		if want := l.ClosedEpochs() + 1; e.Epoch != want {
			return refuse(ev, "epoch", "epochs close in order: the next to close is %d", want)
		}
		if err := l.checkEmission(e); err != nil {
			return err
		}
		return l.checkClosingChannels(e)
	case *domain.EmissionScheduleSet:
		return l.checkSchedule(e)
	case *domain.NodeAvailability:
		return l.checkAvailability(e)
	case *domain.BridgeConverted:
		if p, ok := l.Bridge.seen[bridgeKey{e.EthTx, e.LogIndex}]; ok {
			return refuse(ev, "eth_tx", "conversion (%s, log %d) is already recorded (position %d); conversions are idempotent", e.EthTx, e.LogIndex, p)
		}
		return l.checkBridge(e)
	case *domain.SettlementPlanned, *domain.PayoutSubmitted, *domain.PayoutConfirmed, *domain.PayoutExpired:
		return l.checkSettlement(ev)
	}
	return nil
}

// leaseOver reports whether the frame's lease has expired by time t.
func (l *Ledger) leaseOver(fs *frameState, t string) bool {
	// A lease whose node's result was judged is over.
	for _, r := range fs.renders {
		if r.node == fs.leaseNode {
			return true
		}
	}
	now, err := time.Parse(time.RFC3339Nano, t)
	return err == nil && !now.Before(fs.leaseUntil)
}

// pendingRender returns the index of node's rendered, not yet judged result.
func (fs *frameState) pendingRender(node string) int {
	for i := len(fs.renders) - 1; i >= 0; i-- {
		if r := fs.renders[i]; r.node == node && !r.rejected {
			return i
		}
	}
	return -1
}

func (l *Ledger) checkFrame(ev domain.Event, job string, frame uint32, node string) (*Job, error) {
	j := l.Jobs[job]
	if j == nil {
		return nil, refuse(ev, "job_id", "job %q does not exist", job)
	}
	if frame >= j.Frames {
		return nil, refuse(ev, "frame", "frame %d is out of range: job %q has frames 0..%d", frame, job, j.Frames-1)
	}
	if j.Completed {
		return nil, refuse(ev, "job_id", "job %q is completed; its frames are final", job)
	}
	if l.Nodes[node] == nil {
		return nil, refuse(ev, "node_id", "node %q is not registered", node)
	}
	return j, nil
}

func (l *Ledger) verifySignature(ev domain.Event, nodeID string, msg []byte, sig string) error {
	n := l.Nodes[nodeID]
	key := n.key // decoded by Apply; Check must not write (concurrent readers)
	if key == nil {
		k, err := base58.Decode(n.Pubkey)
		if err != nil || len(k) != ed25519.PublicKeySize {
			return refuse(ev, "node_id", "node %q has an unusable public key", nodeID)
		}
		key = k
	}
	if domain.VerifySig(key, msg, sig) != nil {
		return refuse(ev, "signature", "does not verify with node %q's registered key over the canonical proof message", nodeID)
	}
	return nil
}

// Apply folds the event stored at pos. Events in the log passed Check when
// they were appended; Apply stays total (never panics) on logs that did not.
func (l *Ledger) Apply(pos uint64, ev domain.Event) {
	l.Position = pos
	l.Events++
	switch e := ev.(type) {
	case *domain.NodeRegistered:
		if l.Nodes[e.NodeID] != nil {
			return
		}
		n := &Node{ID: e.NodeID, OperatorID: e.OperatorID, Pubkey: e.NodePubkey, GPU: e.GPU, OB: e.OBScore, Registered: pos,
			VRAMGB: e.VRAMGB, RegEpoch: l.Open().N}
		if k, err := base58.Decode(e.NodePubkey); err == nil && len(k) == ed25519.PublicKeySize {
			n.key = k
		}
		l.Nodes[e.NodeID] = n
		l.addKey(e.NodePubkey, domain.NodeKeyOwner(e.NodeID))
		o := l.operator(e.OperatorID)
		o.Nodes = append(o.Nodes, e.NodeID)
	case *domain.OperatorWalletSet:
		o := l.operator(e.OperatorID)
		o.Wallet = e.Wallet
		if e.EthAddress != "" {
			o.EthAddress = e.EthAddress
		}
	case *domain.JobSubmitted:
		if l.Jobs[e.JobID] != nil {
			return
		}
		l.Jobs[e.JobID] = &Job{ID: e.JobID, Artist: e.Artist, SceneHash: e.SceneHash, Frames: e.Frames, USDPerOBh: e.USDPerOBh, Submitted: pos}
	// The frame events' strings may be borrowed from a replay's buffer
	// (domain.DecodeEventBorrowed): what is kept is copied or interned.
	case *domain.FrameAssigned:
		if j := l.Jobs[e.JobID]; j != nil && e.Frame < j.Frames && !j.Completed {
			fs := j.frame(e.Frame)
			fs.leaseNode = l.nodeID(e.NodeID)
			fs.leaseUntil, _ = time.Parse(time.RFC3339Nano, e.LeaseUntil)
		}
	case *domain.FrameRendered:
		if j := l.Jobs[e.JobID]; j != nil && e.Frame < j.Frames && !j.Completed {
			j.addRender(e.Frame, render{node: l.nodeID(e.NodeID), hash: parseOutputHash(e.OutputHash), duration: e.DurationMS})
		}
	case *domain.FrameAccepted:
		l.applyAccepted(e)
	case *domain.FrameRejected:
		if j := l.Jobs[e.JobID]; j != nil && e.Frame < j.Frames && !j.Completed {
			fs := j.frame(e.Frame)
			if i := fs.pendingRender(e.NodeID); i >= 0 {
				fs.renders[i].rejected = true
				j.Rejected++
			}
			if fs.leaseNode == e.NodeID {
				fs.leaseNode = ""
			}
		}
	case *domain.ComputeWorkCompleted:
		if _, dup := l.Tasks[e.TaskID]; dup {
			return
		}
		n := l.Nodes[e.NodeID]
		if n == nil {
			return
		}
		l.Tasks[e.TaskID] = pos
		ep := l.Open()
		w := domain.FrameWork(n.OB, e.DurationMS)
		v := domain.ComputeValue(e.USD)
		ep.add(n, w, v, false)
		l.noteAttested(e)
	case *domain.ComputeClientRegistered:
		l.applyComputeClientRegistered(pos, e)
	case *domain.JobCompleted:
		if j := l.Jobs[e.JobID]; j != nil && !j.Completed {
			j.Completed = true
			j.ProvenanceRoot = e.ProvenanceRoot
			j.compact()
		}
	case *domain.BurnRecorded:
		j := l.Jobs[e.JobID]
		if j != nil && j.Burn != nil {
			return
		}
		if _, ok := domain.AddBaseUnits(l.Burned, e.Burned); !ok {
			l.anomaly(pos, ev, "BurnRecorded: field \"burned\": the total burned would pass the range of base units; skipped")
			return
		}
		ep := l.Open()
		if j != nil {
			b := *e
			j.Burn = &b
			j.BurnEpoch = ep.N
		}
		ep.Burned += e.Burned
		ep.BurnedUSD.Add(domain.ComputeValue(e.USD))
		ep.Burns++
		l.Burned += e.Burned
	case *domain.EpochClosed:
		if e.Epoch != l.ClosedEpochs()+1 {
			return
		}
		before, ok := l.Emitted()
		if _, fits := domain.AddBaseUnits(before, e.Emission); !ok || !fits {
			// Every sum of base units is a part of the emissions: bounded
			// here, none of them can wrap.
			l.anomaly(pos, ev, "EpochClosed: field \"emission\": the emissions of all epochs would pass the range of base units; skipped")
			return
		}
		l.closeEpoch(pos, e)
	case *domain.EmissionScheduleSet:
		l.applySchedule(pos, e)
	case *domain.NodeAvailability:
		l.applyAvailability(e)
	case *domain.BridgeConverted:
		k := bridgeKey{e.EthTx, e.LogIndex}
		if _, dup := l.Bridge.seen[k]; dup {
			return
		}
		if _, ok := domain.AddBaseUnits(l.Bridge.Render, e.Render); !ok {
			l.anomaly(pos, ev, "BridgeConverted: field \"render\": the RENDER bridged would pass the range of base units; skipped")
			return
		}
		l.Bridge.seen[k] = pos
		l.Bridge.Conversions++
		if w, ok := new(big.Int).SetString(e.RNDRWei, 10); ok {
			l.Bridge.RNDRWei.Add(l.Bridge.RNDRWei, w)
			l.Bridge.Dust.Add(l.Bridge.Dust, e.Dust())
		}
		l.Bridge.Render += e.Render
	case *domain.SettlementPlanned, *domain.PayoutSubmitted, *domain.PayoutConfirmed, *domain.PayoutExpired:
		l.applySettlement(pos, ev)
	}
}

// nodeID returns a copy of id that the ledger may keep: the registered
// node's own id string when there is one (no allocation).
func (l *Ledger) nodeID(id string) string {
	if n := l.Nodes[id]; n != nil {
		return n.ID
	}
	return strings.Clone(id)
}

func (l *Ledger) applyAccepted(e *domain.FrameAccepted) {
	j := l.Jobs[e.JobID]
	if j == nil || e.Frame >= j.Frames || j.Completed {
		return
	}
	fs := j.frame(e.Frame)
	i := fs.pendingRender(e.NodeID)
	if fs.accepted > 0 || i < 0 {
		return
	}
	n := l.Nodes[e.NodeID]
	if n == nil {
		return
	}
	fs.accepted = i + 1
	j.Accepted++
	if fs.leaseNode == e.NodeID {
		fs.leaseNode = ""
	}
	r := fs.renders[i]
	l.Open().add(n, domain.FrameWork(n.OB, r.duration), domain.FrameValue(n.OB, r.duration, j.USDPerOBh), true)
}

// add credits work to node n and its operator in epoch ep.
func (ep *Epoch) add(n *Node, work, value domain.U256, frame bool) {
	for _, w := range [2]*Work{ep.work(ep.Nodes, n.ID), ep.work(ep.Operators, n.OperatorID)} {
		w.Work.Add(work)
		w.Value.Add(value)
		if frame {
			w.Frames++
		} else {
			w.Tasks++
		}
	}
}

func (ep *Epoch) work(m map[string]*Work, id string) *Work {
	w := m[id]
	if w == nil {
		w = &Work{}
		m[id] = w
	}
	return w
}

// closeEpoch allocates the open epoch's emission, channel by channel, and
// opens the next.
func (l *Ledger) closeEpoch(pos uint64, e *domain.EpochClosed) {
	ep := l.Open()
	ep.Closed = true
	ep.ClosedAt = pos
	ep.Emission = e.Emission
	l.closeChannels(ep, e)
	l.Minted += e.Emission - ep.Unallocated
	l.Epochs = append(l.Epochs, newEpoch(ep.N+1))
	l.computeUsed = nil // the caps per node are per epoch
}

// shares returns the epoch's operators (sorted) and their work values.
func (ep *Epoch) shares() ([]string, []domain.Share) {
	ids := make([]string, 0, len(ep.Operators))
	for id := range ep.Operators {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	shares := make([]domain.Share, len(ids))
	for i, id := range ids {
		shares[i] = domain.Share{OperatorID: id, Value: ep.Operators[id].Value.Big()}
	}
	return ids, shares
}

// Provisional returns the allocation the open epoch would get if it
// closed now: under the schedule in force for it, or with the default
// emission as one job channel.
func (l *Ledger) Provisional() (map[string]domain.BaseUnits, domain.BaseUnits) {
	res := l.allocateChannels(l.Open(), l.openChannels())
	m := map[string]domain.BaseUnits{}
	var un domain.BaseUnits
	for _, ca := range res.channels {
		for id, a := range ca.Allocations {
			m[id] += a
		}
		un += ca.Unallocated
	}
	return m, un
}

// OpenEmission is the emission the open epoch would close with.
func (l *Ledger) OpenEmission() domain.BaseUnits {
	em, _ := l.ClosingAmounts(l.Open().N, l.cfg.DefaultEmission)
	return em
}

// DefaultEmission is the configured emission of an epoch not yet closed.
func (l *Ledger) DefaultEmission() domain.BaseUnits { return l.cfg.DefaultEmission }
