package projections

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/internal/durable"
)

// A checkpoint is the whole ledger state at a log position, so queries and
// the server resume there and fold only what came after. File format
// (JSON, one object, written in this member order):
//
//	{"version":2,"position":P,"state_sha256":"<hex>","state":{…}}
//
// state is the canonical snapshot below (encoding/json: struct fields in
// order, map keys sorted), and state_sha256 its SHA-256: two ledgers are
// equal exactly when their snapshots hash the same, which is how the tests
// prove that resume-then-catch-up equals a rebuild from position 1. A
// checkpoint whose hash does not match, or of another version, is refused
// and the caller rebuilds from the log. Files are written to a temporary
// name, fsynced and renamed.

// checkpointVersion 2: completed jobs' frames packed into strings (see
// snapDone). 3: reward channels (schedules, nodes' vram_gb and
// registration epoch, epochs' availability records and channel
// allocations). A checkpoint of an older version is refused like any stale
// one and the ledger rebuilt from the log: a version-2 file lacks the
// registration epochs that availability needs, so it must not be read.
const checkpointVersion = 3

// checkpointHead is how a checkpoint file begins, as WriteCheckpoint
// writes it and as CheckpointPosition and the fast reader parse it.
const checkpointHead = `{"version":%d,"position":%d,`

type snapshot struct {
	Position     uint64            `json:"position"`
	LastID       string            `json:"last_id"`
	Events       uint64            `json:"events"`
	Nodes        []snapNode        `json:"nodes"`
	Operators    []*Operator       `json:"operators"`
	Jobs         []snapJob         `json:"jobs"`
	Tasks        map[string]uint64 `json:"tasks"`
	Epochs       []snapEpoch       `json:"epochs"`
	Bridge       snapBridge        `json:"bridge"`
	Minted       domain.BaseUnits  `json:"minted"`
	Burned       domain.BaseUnits  `json:"burned"`
	Schedules    []Schedule        `json:"schedules,omitempty"`
	IDs          map[string]uint64 `json:"ids,omitempty"`
	Anomalies    []Anomaly         `json:"anomalies,omitempty"`
	AnomalyCount uint64            `json:"anomaly_count"`
	Config       snapConfig        `json:"config"`
	// Compute clients (compute.go); absent in logs without any.
	ComputeClients []snapComputeClient `json:"compute_clients,omitempty"`
	Attested       []snapAttested      `json:"attested,omitempty"`
}

type snapConfig struct {
	DefaultEmission domain.BaseUnits `json:"default_emission"`
	TrackIDs        bool             `json:"track_ids"`
}

type snapNode struct {
	ID         string         `json:"id"`
	OperatorID string         `json:"operator_id"`
	Pubkey     string         `json:"pubkey"`
	GPU        string         `json:"gpu"`
	OB         domain.OBScore `json:"ob"`
	Registered uint64         `json:"registered"`
	VRAMGB     uint32         `json:"vram_gb,omitempty"`
	RegEpoch   uint64         `json:"reg_epoch"`
}

type snapRender struct {
	Node     string `json:"node"`
	Hash     string `json:"hash"`
	Duration uint64 `json:"duration_ms"`
	Rejected bool   `json:"rejected,omitempty"`
}

type snapFrame struct {
	Frame      uint32       `json:"frame"`
	LeaseNode  string       `json:"lease_node,omitempty"`
	LeaseUntil string       `json:"lease_until,omitempty"`
	Renders    []snapRender `json:"renders,omitempty"`
	Accepted   int          `json:"accepted,omitempty"`
}

type snapJob struct {
	ID             string               `json:"id"`
	Artist         string               `json:"artist"`
	SceneHash      string               `json:"scene_hash"`
	Frames         uint32               `json:"frames"`
	USDPerOBh      domain.USD           `json:"usd_per_obh"`
	Submitted      uint64               `json:"submitted"`
	FrameStates    []snapFrame          `json:"frame_states,omitempty"` // only frames with state
	Done           *snapDone            `json:"done,omitempty"`         // a completed job's packed frames
	Accepted       uint32               `json:"accepted"`
	Rejected       uint32               `json:"rejected"`
	Completed      bool                 `json:"completed"`
	ProvenanceRoot string               `json:"provenance_root,omitempty"`
	Burn           *domain.BurnRecorded `json:"burn,omitempty"`
	BurnEpoch      uint64               `json:"burn_epoch,omitempty"`
}

// snapDone is a completed job's packed frames in three strings, not three
// lists: encoding/json spends per element, and these are most of a large
// ledger's elements (version 1 used lists; it took seconds per million
// frames).
type snapDone struct {
	Nodes     string `json:"nodes"`        // node ids separated by spaces (ids hold no whitespace)
	Hashes    []byte `json:"hashes"`       // base64, 32 bytes per frame
	Durations []byte `json:"durations_ms"` // base64, 8 bytes (little-endian) per frame
}

func packDone(d *doneFrames) *snapDone {
	durs := make([]byte, 8*len(d.durations))
	for i, v := range d.durations {
		binary.LittleEndian.PutUint64(durs[8*i:], v)
	}
	return &snapDone{Nodes: strings.Join(d.nodes, " "), Hashes: d.hashes, Durations: durs}
}

func unpackDone(s *snapDone, frames uint32) (*doneFrames, bool) {
	nodes := strings.Split(s.Nodes, " ")
	if len(nodes) != int(frames) || len(s.Hashes) != 32*int(frames) || len(s.Durations) != 8*int(frames) {
		return nil, false
	}
	durs := make([]uint64, frames)
	for i := range durs {
		durs[i] = binary.LittleEndian.Uint64(s.Durations[8*i:])
	}
	return &doneFrames{nodes: nodes, hashes: s.Hashes, durations: durs}, true
}

type snapEpoch struct {
	N           uint64                      `json:"n"`
	Closed      bool                        `json:"closed"`
	ClosedAt    uint64                      `json:"closed_at"`
	Emission    domain.BaseUnits            `json:"emission"`
	Operators   map[string]*Work            `json:"operators"`
	Nodes       map[string]*Work            `json:"nodes"`
	Allocations map[string]domain.BaseUnits `json:"allocations,omitempty"`
	Unallocated domain.BaseUnits            `json:"unallocated"`
	Burned      domain.BaseUnits            `json:"burned"`
	BurnedUSD   domain.Sum                  `json:"burned_usd"`
	Burns       uint64                      `json:"burns"`
	Settlement  *snapSettlement             `json:"settlement,omitempty"`
	// Reward channels (version 3).
	Availability     map[string]*domain.NodeAvailability `json:"availability,omitempty"`
	Channels         []ChannelAlloc                      `json:"channels,omitempty"`
	AvailNodes       []NodeAvail                         `json:"avail_nodes,omitempty"`
	ChannelsRecorded bool                                `json:"channels_recorded,omitempty"`
}

type snapSettlement struct {
	Epoch     uint64                  `json:"epoch"`
	PlannedAt uint64                  `json:"planned_at"`
	Root      string                  `json:"root"`
	Total     domain.BaseUnits        `json:"total"`
	Payouts   []domain.Payout         `json:"payouts"`
	LogHead   string                  `json:"log_head,omitempty"`
	States    map[string]*PayoutState `json:"states"`
	Txs       []*PayoutTx             `json:"txs"`
}

type snapBridge struct {
	Conversions uint64           `json:"conversions"`
	RNDRWei     string           `json:"rndr_wei"`
	Render      domain.BaseUnits `json:"render"`
	Dust        string           `json:"dust"`
	Seen        []snapBridgeKey  `json:"seen"`
}

type snapBridgeKey struct {
	Tx       string `json:"tx"`
	Index    uint64 `json:"index"`
	Position uint64 `json:"position"`
}

func (l *Ledger) snapshot() *snapshot {
	s := &snapshot{
		Position: l.Position, LastID: l.LastID, Events: l.Events, Tasks: l.Tasks, Minted: l.Minted, Burned: l.Burned,
		Schedules: l.Schedules,
		Anomalies: l.Anomalies, AnomalyCount: l.AnomalyCount,
		Config: snapConfig{DefaultEmission: l.cfg.DefaultEmission, TrackIDs: l.cfg.TrackIDs},
	}
	if l.cfg.TrackIDs {
		s.IDs = l.IDs
	}
	s.ComputeClients, s.Attested = l.snapCompute()
	for _, id := range sortedKeys(l.Nodes) {
		n := l.Nodes[id]
		s.Nodes = append(s.Nodes, snapNode{n.ID, n.OperatorID, n.Pubkey, n.GPU, n.OB, n.Registered, n.VRAMGB, n.RegEpoch})
	}
	for _, id := range sortedKeys(l.Operators) {
		s.Operators = append(s.Operators, l.Operators[id])
	}
	for _, id := range sortedKeys(l.Jobs) {
		j := l.Jobs[id]
		sj := snapJob{ID: j.ID, Artist: j.Artist, SceneHash: j.SceneHash, Frames: j.Frames, USDPerOBh: j.USDPerOBh,
			Submitted: j.Submitted, Accepted: j.Accepted, Rejected: j.Rejected, Completed: j.Completed,
			ProvenanceRoot: j.ProvenanceRoot, Burn: j.Burn, BurnEpoch: j.BurnEpoch}
		if d := j.done; d != nil {
			sj.Done = packDone(d)
		}
		for f := range j.frames {
			fs := &j.frames[f]
			if fs.leaseNode == "" && len(fs.renders) == 0 {
				continue
			}
			sf := snapFrame{Frame: uint32(f), LeaseNode: fs.leaseNode, Accepted: fs.accepted}
			if !fs.leaseUntil.IsZero() {
				sf.LeaseUntil = fs.leaseUntil.Format(time.RFC3339Nano)
			}
			for _, r := range fs.renders {
				sf.Renders = append(sf.Renders, snapRender{r.node, r.hashHex(), r.duration, r.rejected})
			}
			sj.FrameStates = append(sj.FrameStates, sf)
		}
		s.Jobs = append(s.Jobs, sj)
	}
	for _, ep := range l.Epochs {
		se := snapEpoch{N: ep.N, Closed: ep.Closed, ClosedAt: ep.ClosedAt, Emission: ep.Emission, Operators: ep.Operators,
			Nodes: ep.Nodes, Allocations: ep.Allocations, Unallocated: ep.Unallocated, Burned: ep.Burned,
			BurnedUSD: ep.BurnedUSD, Burns: ep.Burns,
			Availability: ep.Availability, Channels: ep.Channels, AvailNodes: ep.AvailNodes, ChannelsRecorded: ep.ChannelsRecorded}
		if st := ep.Settlement; st != nil {
			se.Settlement = &snapSettlement{Epoch: st.Epoch, PlannedAt: st.PlannedAt, Root: st.Root, Total: st.Total,
				Payouts: st.Payouts, LogHead: st.LogHead, States: st.byOp, Txs: st.Txs}
		}
		s.Epochs = append(s.Epochs, se)
	}
	s.Bridge = snapBridge{Conversions: l.Bridge.Conversions, RNDRWei: l.Bridge.RNDRWei.String(), Render: l.Bridge.Render, Dust: l.Bridge.Dust.String()}
	for k, p := range l.Bridge.seen {
		s.Bridge.Seen = append(s.Bridge.Seen, snapBridgeKey{k.tx, k.index, p})
	}
	sort.Slice(s.Bridge.Seen, func(i, j int) bool { return s.Bridge.Seen[i].Position < s.Bridge.Seen[j].Position })
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// StateHash returns the SHA-256 of the ledger's canonical snapshot: equal
// hashes mean equal ledgers.
func (l *Ledger) StateHash() (string, error) {
	h := sha256.New()
	if err := writeState(h, l.snapshot()); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeState writes json.Marshal(s)'s bytes to w, one job at a time. The
// jobs are nearly all of a large ledger's state, and marshaling it whole
// grew one buffer to hundreds of MB by doubling: most of the time went to
// fresh memory (25x slower than marshaling job by job, measured on a
// 10M-event ledger).
func writeState(w io.Writer, s *snapshot) error {
	jobs := s.Jobs
	s.Jobs = []snapJob{}
	rest, err := json.Marshal(s)
	s.Jobs = jobs
	if err != nil {
		return err
	}
	// The first `"jobs":[]` is the snapshot's own member: the members
	// before it hold it in no other form (a string's quotes are escaped).
	mark := []byte(`"jobs":[]`)
	i := bytes.Index(rest, mark)
	if i < 0 {
		return fmt.Errorf("projections: snapshot without its jobs member")
	}
	if _, err := w.Write(rest[:i+len(mark)-1]); err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for k := range jobs {
		buf.Reset()
		if k > 0 {
			buf.WriteByte(',')
		}
		if err := enc.Encode(&jobs[k]); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
	}
	_, err = w.Write(rest[i+len(mark)-1:])
	return err
}

type checkpointFile struct {
	Version     int             `json:"version"`
	Position    uint64          `json:"position"`
	StateSHA256 string          `json:"state_sha256"`
	State       json.RawMessage `json:"state"`
}

// WriteCheckpoint saves the ledger to path durably. The state is streamed
// twice, once into the hash and once into the file, rather than held.
func (l *Ledger) WriteCheckpoint(path string) error {
	snap := l.snapshot()
	h := sha256.New()
	if err := writeState(h, snap); err != nil {
		return err
	}
	return durable.WriteFunc(path, func(w io.Writer) error {
		if _, err := fmt.Fprintf(w, checkpointHead+`"state_sha256":"%x","state":`, checkpointVersion, l.Position, h.Sum(nil)); err != nil {
			return err
		}
		if err := writeState(w, snap); err != nil {
			return err
		}
		_, err := io.WriteString(w, "}")
		return err
	})
}

// ErrBadCheckpoint: a checkpoint file that cannot be trusted.
var ErrBadCheckpoint = errors.New("projections: bad checkpoint")

// ReadCheckpoint loads a ledger saved by WriteCheckpoint.
func ReadCheckpoint(path string) (*Ledger, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cf, ok := splitCheckpoint(b)
	if !ok {
		// Not the layout WriteCheckpoint writes: take it apart generally.
		if err := json.Unmarshal(b, &cf); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadCheckpoint, path, err)
		}
	}
	if cf.Version != checkpointVersion {
		return nil, fmt.Errorf("%w: %s: version %d, want %d", ErrBadCheckpoint, path, cf.Version, checkpointVersion)
	}
	h := sha256.Sum256(cf.State)
	if hex.EncodeToString(h[:]) != cf.StateSHA256 {
		return nil, fmt.Errorf("%w: %s: state hash mismatch", ErrBadCheckpoint, path)
	}
	// json.Unmarshal reads the bytes in place; a Decoder (which could
	// refuse unknown fields) copies them into a buffer grown by doubling,
	// 4x slower on a 10M-event ledger. The version and the state hash
	// already tie the bytes to what this code wrote.
	var s snapshot
	if err := json.Unmarshal(cf.State, &s); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadCheckpoint, path, err)
	}
	return restore(&s)
}

// CheckpointPosition returns the position of the checkpoint at path from
// its first bytes (false when there is none or it is not of this version):
// enough to skip writing one that would be the same.
func CheckpointPosition(path string) (uint64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	head := make([]byte, 128)
	n, _ := io.ReadFull(f, head)
	var version int
	var pos uint64
	if k, err := fmt.Sscanf(string(head[:n]), checkpointHead, &version, &pos); err != nil || k != 2 || version != checkpointVersion {
		return 0, false
	}
	return pos, true
}

// splitCheckpoint reads the layout WriteCheckpoint writes without copying
// the state: {"version":V,"position":P,"state_sha256":"H","state":STATE}.
// The state's bytes are then checked against the hash and decoded, so a
// file it misreads is refused, not trusted.
func splitCheckpoint(b []byte) (checkpointFile, bool) {
	var cf checkpointFile
	var hash string
	i := bytes.Index(b, []byte(`,"state":`))
	if i < 0 || len(b) < i+len(`,"state":`)+2 || b[len(b)-1] != '}' {
		return cf, false
	}
	n, err := fmt.Sscanf(string(b[:i]), checkpointHead+`"state_sha256":%q`, &cf.Version, &cf.Position, &hash)
	if err != nil || n != 3 {
		return cf, false
	}
	cf.StateSHA256 = hash
	cf.State = b[i+len(`,"state":`) : len(b)-1]
	return cf, true
}

func restore(s *snapshot) (*Ledger, error) {
	l := New(Config{DefaultEmission: s.Config.DefaultEmission, TrackIDs: s.Config.TrackIDs})
	l.Position, l.LastID, l.Events, l.Minted, l.Burned = s.Position, s.LastID, s.Events, s.Minted, s.Burned
	l.Anomalies, l.AnomalyCount = s.Anomalies, s.AnomalyCount
	l.Schedules = s.Schedules
	if s.Tasks != nil {
		l.Tasks = s.Tasks
	}
	if s.IDs != nil {
		l.IDs = s.IDs
	}
	for _, n := range s.Nodes {
		l.Nodes[n.ID] = &Node{ID: n.ID, OperatorID: n.OperatorID, Pubkey: n.Pubkey, GPU: n.GPU, OB: n.OB, Registered: n.Registered,
			VRAMGB: n.VRAMGB, RegEpoch: n.RegEpoch}
	}
	for _, o := range s.Operators {
		l.Operators[o.ID] = o
	}
	for _, sj := range s.Jobs {
		j := &Job{ID: sj.ID, Artist: sj.Artist, SceneHash: sj.SceneHash, Frames: sj.Frames, USDPerOBh: sj.USDPerOBh,
			Submitted: sj.Submitted, Accepted: sj.Accepted, Rejected: sj.Rejected, Completed: sj.Completed,
			ProvenanceRoot: sj.ProvenanceRoot, Burn: sj.Burn, BurnEpoch: sj.BurnEpoch}
		if sj.Done != nil {
			d, ok := unpackDone(sj.Done, j.Frames)
			if !ok {
				return nil, fmt.Errorf("%w: job %s packed frames do not match its frame count", ErrBadCheckpoint, sj.ID)
			}
			j.done = d
		}
		for _, sf := range sj.FrameStates {
			if sf.Frame >= j.Frames {
				return nil, fmt.Errorf("%w: job %s frame %d out of range", ErrBadCheckpoint, sj.ID, sf.Frame)
			}
			fs := j.frame(sf.Frame)
			fs.leaseNode, fs.accepted = sf.LeaseNode, sf.Accepted
			if sf.LeaseUntil != "" {
				fs.leaseUntil, _ = time.Parse(time.RFC3339Nano, sf.LeaseUntil)
			}
			for _, r := range sf.Renders {
				h := parseOutputHash(r.Hash)
				if hex.EncodeToString(h[:]) != r.Hash {
					return nil, fmt.Errorf("%w: job %s frame %d: output hash %q is not 64 lowercase hex digits", ErrBadCheckpoint, sj.ID, sf.Frame, r.Hash)
				}
				j.addRender(sf.Frame, render{r.Node, h, r.Duration, r.Rejected})
			}
		}
		l.Jobs[j.ID] = j
	}
	l.Epochs = l.Epochs[:0]
	for _, se := range s.Epochs {
		ep := &Epoch{N: se.N, Closed: se.Closed, ClosedAt: se.ClosedAt, Emission: se.Emission, Operators: se.Operators,
			Nodes: se.Nodes, Allocations: se.Allocations, Unallocated: se.Unallocated, Burned: se.Burned,
			BurnedUSD: se.BurnedUSD, Burns: se.Burns,
			Availability: se.Availability, Channels: se.Channels, AvailNodes: se.AvailNodes, ChannelsRecorded: se.ChannelsRecorded}
		if ep.Operators == nil {
			ep.Operators = map[string]*Work{}
		}
		if ep.Nodes == nil {
			ep.Nodes = map[string]*Work{}
		}
		if ss := se.Settlement; ss != nil {
			st := &Settlement{Epoch: ss.Epoch, PlannedAt: ss.PlannedAt, Root: ss.Root, Total: ss.Total, Payouts: ss.Payouts, LogHead: ss.LogHead,
				byOp: ss.States, Txs: ss.Txs, bySig: map[string]*PayoutTx{}}
			if st.byOp == nil {
				st.byOp = map[string]*PayoutState{}
			}
			for _, tx := range st.Txs {
				st.bySig[tx.Signature] = tx
			}
			ep.Settlement = st
		}
		l.Epochs = append(l.Epochs, ep)
	}
	if len(l.Epochs) == 0 {
		return nil, fmt.Errorf("%w: no epochs", ErrBadCheckpoint)
	}
	l.Bridge.Conversions, l.Bridge.Render = s.Bridge.Conversions, s.Bridge.Render
	if _, ok := l.Bridge.RNDRWei.SetString(s.Bridge.RNDRWei, 10); !ok {
		return nil, fmt.Errorf("%w: bridge wei", ErrBadCheckpoint)
	}
	if _, ok := l.Bridge.Dust.SetString(s.Bridge.Dust, 10); !ok {
		return nil, fmt.Errorf("%w: bridge dust", ErrBadCheckpoint)
	}
	for _, k := range s.Bridge.Seen {
		l.Bridge.seen[bridgeKey{k.Tx, k.Index}] = k.Position
	}
	l.restoreCompute(s.ComputeClients, s.Attested) // and the key index
	return l, nil
}
