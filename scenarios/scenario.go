// Package scenarios plays scripted network weeks: a scenario file names the
// operators, their nodes (OctaneBench score, speed), the jobs artists
// submit and the faults to inject; Run starts a coordinator on a fresh
// embedded log, spawns one real `epochledger worker` process per node,
// plays the jobs, closes the epoch and checks what the faults must have
// caused, then verifies the log and replays it to the same shares.
//
// # File format (JSON)
//
//	{
//	  "name": "demo-week",
//	  "description": "…",
//	  "coordinator": {"lease": "2s", "verify_rate": 0.1, "render_width": 48, "render_height": 32,
//	                  "render_usd_price": "4.5", "emission": "47000"},
//	  "operators": [{"id": "atlas", "wallet": "<base58 Solana address>"}, {"id": "cobalt"}],
//	  "nodes": [{"id": "atlas-4090", "operator": "atlas", "gpu": "RTX 4090", "ob_score": "1100",
//	             "speed_ms": 80, "verify_rate": 1}],
//	  "jobs": [{"id": "teaser", "artist": "studio-a", "frames": 40, "usd_per_obh": "0.6", "scene": "teaser v3"}],
//	  "faults": [{"type": "sigkill", "node": "atlas-4090", "after_frames": 3}]
//	}
//
// coordinator: lease is the default lease (a killed worker's frame is
// re-leased after it); verify_rate the share of results re-rendered before
// acceptance; render size of the built-in renderer; the RENDER price of the
// burns; the emission (RENDER) of each EpochClosed. operators: an operator
// without a wallet accrues its allocation. nodes: ob_score is the
// registered OctaneBench score, speed_ms the time a frame takes (the
// worker renders, then waits out the rest: a slower GPU), verify_rate a
// per-node override. jobs: scene is any label, its sha256 is the job's
// scene_hash (and so the procedural scene the renderer draws).
//
// coordinator.schedule (optional) is a list of EmissionScheduleSet data
// ({"rnp":"RNP-015","effective_epoch":1,"channels":{"job":"15000",
// "availability":"2884.61538"}}): the epochs it covers close with its
// channels. Workers send heartbeats every coordinator.heartbeat (default
// 200ms); a node's vram_gb is registered with it (without it the node
// earns no availability), and a standby node's worker stays online and
// takes no work: it earns availability only.
//
// faults (one per node):
//
//   - sigkill: once the node has after_frames accepted frames and is in the
//     first half of a frame (give it a speed_ms of a few hundred), its
//     process is killed with SIGKILL mid-frame; the lease expires and
//     another node renders the frame.
//   - cheat: the worker reports made-up output hashes (correctly signed);
//     give the node verify_rate 1 so that every result is re-rendered and
//     rejected — it earns nothing.
//   - duplicate: the worker reports every result twice; the second is
//     answered as a duplicate and nothing is appended twice.
//   - slow_report: the worker holds its first result until epoch 1 is
//     closed; the frame counts in epoch 2. The runner closes epoch 1 once
//     everything else is done, and epoch 2 after the late result.
package scenarios

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/epochledger/epochledger/domain"
)

// Fault types.
const (
	FaultSigkill    = "sigkill"
	FaultCheat      = "cheat"
	FaultDuplicate  = "duplicate"
	FaultSlowReport = "slow_report"
)

// Scenario is a scripted network week.
type Scenario struct {
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	Coordinator Coordinator `json:"coordinator"`
	Operators   []Operator  `json:"operators"`
	Nodes       []Node      `json:"nodes"`
	Jobs        []Job       `json:"jobs"`
	Faults      []Fault     `json:"faults,omitempty"`
	// Timeout bounds the whole run (default 2m).
	Timeout Duration `json:"timeout,omitempty"`
}

// Coordinator is the coordinator's configuration for the run.
type Coordinator struct {
	Lease          Duration `json:"lease,omitempty"`            // default 2s
	VerifyRate     float64  `json:"verify_rate,omitempty"`      // default 0
	RenderWidth    int      `json:"render_width,omitempty"`     // default 48
	RenderHeight   int      `json:"render_height,omitempty"`    // default 32
	RenderUSDPrice string   `json:"render_usd_price,omitempty"` // default 5
	Emission       string   `json:"emission,omitempty"`         // RENDER, default 47000
	// Schedule is a list of EmissionScheduleSet data (as serve --schedule
	// reads): with one in force, EpochClosed pays its channels instead of
	// emission.
	Schedule []json.RawMessage `json:"schedule,omitempty"`
	// Heartbeat is the workers' heartbeat interval (default 200ms).
	Heartbeat Duration `json:"heartbeat,omitempty"`

	schedule []domain.EmissionScheduleSet
}

// Operator is a node operator.
type Operator struct {
	ID     string `json:"id"`
	Wallet string `json:"wallet,omitempty"`
}

// Node is one GPU node, played by one worker process.
type Node struct {
	ID         string   `json:"id"`
	Operator   string   `json:"operator"`
	GPU        string   `json:"gpu,omitempty"`
	OBScore    string   `json:"ob_score"`
	SpeedMS    int      `json:"speed_ms"`
	VerifyRate *float64 `json:"verify_rate,omitempty"`
	// VRAMGB is registered with the node (a node without it earns no
	// availability reward).
	VRAMGB uint32 `json:"vram_gb,omitempty"`
	// Standby: the worker stays online (heartbeats) and takes no work.
	Standby bool `json:"standby,omitempty"`
}

// Job is an artist's render job.
type Job struct {
	ID              string `json:"id"`
	Artist          string `json:"artist"`
	Frames          uint32 `json:"frames"`
	USDPerOBh       string `json:"usd_per_obh"`
	Scene           string `json:"scene,omitempty"`
	BurnTxSignature string `json:"burn_tx_signature,omitempty"`
}

// Fault is a misbehaviour injected into one node.
type Fault struct {
	Type        string `json:"type"`
	Node        string `json:"node"`
	AfterFrames int    `json:"after_frames,omitempty"` // sigkill
}

// Duration is a time.Duration written as text ("2s", "150ms").
type Duration time.Duration

// UnmarshalJSON parses a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`want a duration string such as "2s"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Load reads and validates a scenario file.
func Load(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// Parse decodes a scenario strictly (unknown fields are refused) and
// validates it.
func Parse(b []byte) (*Scenario, error) {
	var sc Scenario
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return &sc, nil
}

// Validate checks the scenario and fills defaults.
func (sc *Scenario) Validate() error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("scenario %q: "+format, append([]any{sc.Name}, a...)...)
	}
	c := &sc.Coordinator
	if c.Lease == 0 {
		c.Lease = Duration(2 * time.Second)
	}
	if c.RenderWidth == 0 {
		c.RenderWidth = 48
	}
	if c.RenderHeight == 0 {
		c.RenderHeight = 32
	}
	if c.RenderUSDPrice == "" {
		c.RenderUSDPrice = "5"
	}
	if c.Emission == "" {
		c.Emission = domain.DefaultEmission.RenderString()
	}
	if sc.Timeout == 0 {
		sc.Timeout = Duration(2 * time.Minute)
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = Duration(200 * time.Millisecond)
	}
	c.schedule = c.schedule[:0]
	for i, raw := range c.Schedule {
		ev, err := domain.DecodeEvent(domain.TypeEmissionScheduleSet, raw)
		if err != nil {
			return fmt.Errorf("scenario %q: coordinator.schedule[%d]: %w", sc.Name, i, err)
		}
		c.schedule = append(c.schedule, *ev.(*domain.EmissionScheduleSet))
	}
	if sc.Name == "" {
		return errors.New("scenario: name is required")
	}
	if c.VerifyRate < 0 || c.VerifyRate > 1 {
		return fail("coordinator.verify_rate must be in 0..1")
	}
	if p, err := domain.ParseUSD(c.RenderUSDPrice); err != nil || p.IsZero() {
		return fail("coordinator.render_usd_price %q must be a positive USD amount", c.RenderUSDPrice)
	}
	if _, err := domain.ParseRender(c.Emission); err != nil {
		return fail("coordinator.emission: %v", err)
	}
	if len(sc.Nodes) == 0 || len(sc.Jobs) == 0 {
		return fail("needs at least one node and one job")
	}
	ops := map[string]bool{}
	for _, o := range sc.Operators {
		if o.ID == "" || ops[o.ID] {
			return fail("operator id %q is empty or repeated", o.ID)
		}
		if o.Wallet != "" {
			if _, err := domain.ParseWallet(o.Wallet); err != nil {
				return fail("operator %q: %v", o.ID, err)
			}
		}
		ops[o.ID] = true
	}
	nodes := map[string]bool{}
	standby := 0
	for _, n := range sc.Nodes {
		switch {
		case n.ID == "" || nodes[n.ID]:
			return fail("node id %q is empty or repeated", n.ID)
		case !ops[n.Operator]:
			return fail("node %q: operator %q is not listed in operators", n.ID, n.Operator)
		case n.SpeedMS < 0:
			return fail("node %q: speed_ms must not be negative", n.ID)
		case n.VerifyRate != nil && (*n.VerifyRate < 0 || *n.VerifyRate > 1):
			return fail("node %q: verify_rate must be in 0..1", n.ID)
		case n.VRAMGB > domain.MaxVRAMGB:
			return fail("node %q: vram_gb must be 1..%d", n.ID, domain.MaxVRAMGB)
		}
		if n.Standby {
			standby++
		}
		if ob, err := domain.ParseOBScore(n.OBScore); err != nil || ob == 0 {
			return fail("node %q: ob_score %q must be a positive decimal with at most 2 places", n.ID, n.OBScore)
		}
		nodes[n.ID] = true
	}
	jobs := map[string]bool{}
	for _, j := range sc.Jobs {
		switch {
		case j.ID == "" || jobs[j.ID]:
			return fail("job id %q is empty or repeated", j.ID)
		case j.Frames == 0:
			return fail("job %q: frames must be at least 1", j.ID)
		case j.Artist == "":
			return fail("job %q: artist is required", j.ID)
		}
		if p, err := domain.ParseUSD(j.USDPerOBh); err != nil || p.IsZero() {
			return fail("job %q: usd_per_obh %q must be a positive USD amount", j.ID, j.USDPerOBh)
		}
		jobs[j.ID] = true
	}
	faulty := map[string]bool{}
	for _, f := range sc.Faults {
		if !nodes[f.Node] {
			return fail("fault %s: node %q is not listed in nodes", f.Type, f.Node)
		}
		if faulty[f.Node] {
			return fail("node %q has more than one fault", f.Node)
		}
		faulty[f.Node] = true
		switch f.Type {
		case FaultSigkill, FaultCheat, FaultDuplicate, FaultSlowReport:
		default:
			return fail("fault type %q: want sigkill, cheat, duplicate or slow_report", f.Type)
		}
		if f.AfterFrames < 0 {
			return fail("fault %s of %q: after_frames must not be negative", f.Type, f.Node)
		}
	}
	for _, f := range sc.Faults {
		for _, n := range sc.Nodes {
			if n.ID == f.Node && n.Standby {
				return fail("node %q stands by (takes no work): it cannot have a fault", n.ID)
			}
		}
	}
	if len(faulty)+standby >= len(sc.Nodes) {
		return fail("every node has a fault or stands by: nothing would finish the jobs")
	}
	return nil
}

// fault returns the fault of node, or nil.
func (sc *Scenario) fault(node string) *Fault {
	for i := range sc.Faults {
		if sc.Faults[i].Node == node {
			return &sc.Faults[i]
		}
	}
	return nil
}
