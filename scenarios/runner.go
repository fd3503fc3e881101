package scenarios

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/workers/api"
	"github.com/epochledger/epochledger/workers/coordinator"
	"github.com/epochledger/epochledger/workers/nodekey"
)

// Options configure Run.
type Options struct {
	// Exe is the epochledger binary the worker processes run.
	Exe string
	// DataDir receives the log; keys, worker logs and a copy of the
	// scenario go under DataDir/scenario. It must not exist, be empty, or
	// hold an earlier scenario run (which is replaced).
	DataDir string
	// Progress receives a line per step; nil is quiet.
	Progress io.Writer
}

// Report is the outcome of a run.
type Report struct {
	Scenario        string  `json:"scenario"`
	DataDir         string  `json:"data_dir"`
	URL             string  `json:"coordinator_url"`
	ElapsedSeconds  float64 `json:"elapsed_seconds"`
	Events          uint64  `json:"events"`
	HeadHash        string  `json:"head_hash"`
	LogVerified     bool    `json:"log_verified"`
	ReplayIdentical bool    `json:"replay_identical"`
	// Epochs are the closed epochs' shares; OpenEpoch the open epoch's,
	// when work landed in it after the last close (late results), with
	// the allocation it would get if it closed now.
	Epochs    []*projections.SharesDoc `json:"epochs"`
	OpenEpoch *projections.SharesDoc   `json:"open_epoch,omitempty"`
	Balances  []projections.Balance    `json:"balances"`
	// Availability lists the closed epochs' NodeAvailability records.
	Availability []NodeAvailabilityReport `json:"availability,omitempty"`
	Jobs         []JobReport              `json:"jobs"`
	Faults       []FaultReport            `json:"faults"`
	Workers      []WorkerReport           `json:"workers"`
}

// OK reports whether the log verified, replayed identically and every
// fault did what it must.
func (r *Report) OK() bool {
	if !r.LogVerified || !r.ReplayIdentical {
		return false
	}
	for _, f := range r.Faults {
		if !f.OK {
			return false
		}
	}
	return true
}

// JobReport is a job's outcome.
type JobReport struct {
	JobID          string `json:"job_id"`
	Frames         uint32 `json:"frames"`
	Accepted       uint32 `json:"accepted"`
	Rejected       uint32 `json:"rejected"`
	ProvenanceRoot string `json:"provenance_root"`
	Burned         string `json:"burned"`
	BurnEpoch      uint64 `json:"burn_epoch"`
}

// FaultReport says whether a fault had the effect it must.
type FaultReport struct {
	Type   string `json:"type"`
	Node   string `json:"node"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// WorkerReport is a worker process's end.
type WorkerReport struct {
	Node     string `json:"node"`
	Fault    string `json:"fault,omitempty"`
	ExitCode int    `json:"exit_code"` // -1: killed by a signal
	Log      string `json:"log"`
}

type proc struct {
	node   Node
	fault  *Fault
	cmd    *exec.Cmd
	log    string
	done   chan struct{}
	code   int
	killed *api.FrameRef // the frame it was killed on (sigkill)
}

type runner struct {
	sc       *Scenario
	o        Options
	meta     string
	store    *filestore.Store
	srv      *coordinator.Server
	hs       *http.Server
	url      string
	admin    *api.Client
	procs    []*proc
	progress func(format string, a ...any)
	closeMu  sync.Once
	epoch1At uint64 // position of EpochClosed 1
}

// Run plays sc. The returned report is complete when err is nil; check
// Report.OK for the fault and log checks.
func Run(ctx context.Context, sc *Scenario, o Options) (*Report, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, time.Duration(sc.Timeout))
	defer cancel()
	if o.Exe == "" {
		return nil, errors.New("scenario: the epochledger binary (Options.Exe) is needed for the worker processes")
	}
	r := &runner{sc: sc, o: o, meta: filepath.Join(o.DataDir, "scenario"), progress: func(string, ...any) {}}
	if o.Progress != nil {
		r.progress = func(format string, a ...any) { fmt.Fprintf(o.Progress, format+"\n", a...) }
	}
	if err := prepareDir(o.DataDir); err != nil {
		return nil, err
	}
	defer r.shutdown()
	if err := r.start(ctx); err != nil {
		return nil, err
	}
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	if err := r.play(ctx); err != nil {
		return nil, fmt.Errorf("%w (worker logs in %s)", err, filepath.Join(r.meta, "logs"))
	}
	rep, err := r.finish(ctx)
	if err != nil {
		return nil, err
	}
	rep.ElapsedSeconds = time.Since(start).Seconds()
	return rep, nil
}

// prepareDir makes dir ready: absent, empty, or an earlier scenario run.
func prepareDir(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case len(ents) == 0:
	default:
		if _, err := os.Stat(filepath.Join(dir, "scenario", "scenario.json")); err != nil {
			return fmt.Errorf("scenario: %s is not empty and holds no earlier scenario run; choose another --data", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	for _, d := range []string{dir, filepath.Join(dir, "scenario", "keys"), filepath.Join(dir, "scenario", "logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// start opens the log and serves a coordinator on a loopback port.
func (r *runner) start(ctx context.Context) error {
	sc := r.sc
	b, _ := json.MarshalIndent(sc, "", "  ")
	if err := os.WriteFile(filepath.Join(r.meta, "scenario.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	st, err := filestore.Open(r.o.DataDir, nil)
	if err != nil {
		return err
	}
	r.store = st
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	o := coordinator.DefaultOptions()
	o.AdminToken = hex.EncodeToString(tok)
	o.LeaseDuration = time.Duration(sc.Coordinator.Lease)
	o.MaxLeaseDuration = max(5*time.Minute, o.LeaseDuration)
	o.VerifyRate = sc.Coordinator.VerifyRate
	o.NodeVerifyRates = map[string]float64{}
	for _, n := range sc.Nodes {
		if n.VerifyRate != nil {
			o.NodeVerifyRates[n.ID] = *n.VerifyRate
		}
	}
	o.Render = api.RenderSpec{Width: sc.Coordinator.RenderWidth, Height: sc.Coordinator.RenderHeight, Spp: 2}
	o.RenderUSDPrice, _ = domain.ParseUSD(sc.Coordinator.RenderUSDPrice)
	o.Emission, _ = domain.ParseRender(sc.Coordinator.Emission)
	o.EpochClock = false // the scenario closes epochs itself
	o.Schedule = sc.Coordinator.schedule
	o.HeartbeatInterval = time.Duration(sc.Coordinator.Heartbeat)
	logf, err := os.Create(filepath.Join(r.meta, "logs", "coordinator.log"))
	if err != nil {
		return err
	}
	o.Logger = slog.New(slog.NewTextHandler(logf, nil))
	if r.srv, err = coordinator.New(ctx, st, o); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	r.hs = &http.Server{Handler: r.srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go r.hs.Serve(ln)
	r.url = "http://" + ln.Addr().String()
	r.admin = api.NewClient(r.url, nil, o.AdminToken)
	r.progress("coordinator on %s, log in %s", r.url, r.o.DataDir)
	return nil
}

// setup sets wallets, registers the nodes and submits the jobs.
func (r *runner) setup(ctx context.Context) error {
	sc := r.sc
	for _, op := range sc.Operators {
		if op.Wallet == "" {
			continue
		}
		if _, err := r.admin.SetWallet(ctx, op.ID, api.WalletRequest{Wallet: op.Wallet}); err != nil {
			return fmt.Errorf("scenario: wallet of %s: %w", op.ID, err)
		}
	}
	for _, n := range sc.Nodes {
		key, err := nodekey.Generate()
		if err != nil {
			return err
		}
		path := filepath.Join(r.meta, "keys", n.ID+".json")
		if err := nodekey.Save(path, key, false); err != nil {
			return err
		}
		gpu := n.GPU
		if gpu == "" {
			gpu = "simulated GPU"
		}
		c := api.NewClient(r.url, key, r.admin.AdminToken)
		if _, err := c.RegisterNode(ctx, api.RegisterNodeRequest{NodeID: n.ID, OperatorID: n.Operator, GPU: gpu, OBScore: n.OBScore, VRAMGB: n.VRAMGB}); err != nil {
			return fmt.Errorf("scenario: register %s: %w", n.ID, err)
		}
	}
	frames := 0
	for _, j := range sc.Jobs {
		scene := j.Scene
		if scene == "" {
			scene = j.ID
		}
		sum := sha256.Sum256([]byte(scene))
		if _, err := r.admin.SubmitJob(ctx, api.SubmitJobRequest{JobID: j.ID, Artist: j.Artist, SceneHash: hex.EncodeToString(sum[:]),
			Frames: j.Frames, USDPerOBh: j.USDPerOBh, BurnTxSignature: j.BurnTxSignature}); err != nil {
			return fmt.Errorf("scenario: submit %s: %w", j.ID, err)
		}
		frames += int(j.Frames)
	}
	r.progress("%d operators, %d nodes registered; %d jobs submitted (%d frames)", len(sc.Operators), len(sc.Nodes), len(sc.Jobs), frames)
	return nil
}

// spawn starts node n's worker process.
func (r *runner) spawn(n Node) (*proc, error) {
	p := &proc{node: n, fault: r.sc.fault(n.ID), log: filepath.Join(r.meta, "logs", n.ID+".log"), done: make(chan struct{})}
	args := []string{"worker", "--server", r.url, "--key", filepath.Join(r.meta, "keys", n.ID+".json"),
		"--frame-time", (time.Duration(n.SpeedMS) * time.Millisecond).String(), "--grace", "10s",
		"--heartbeat", time.Duration(r.sc.Coordinator.Heartbeat).String()}
	if n.Standby {
		args = append(args, "--standby")
	}
	if p.fault != nil {
		switch p.fault.Type {
		case FaultCheat:
			args = append(args, "--fault", "cheat")
		case FaultDuplicate:
			args = append(args, "--fault", "duplicate")
		case FaultSlowReport:
			// A lease long enough to outlive the wait for the epoch close.
			args = append(args, "--fault", "slow-report", "--lease", "5m")
		}
	}
	f, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(r.o.Exe, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("scenario: start worker %s: %w", n.ID, err)
	}
	go func() {
		err := p.cmd.Wait()
		f.Close()
		p.code = p.cmd.ProcessState.ExitCode()
		if err != nil && p.code == 0 {
			p.code = -1
		}
		close(p.done)
	}()
	r.procs = append(r.procs, p)
	return p, nil
}

func running(p *proc) bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func nodeStatus(st *api.Status, id string) *api.NodeStatus {
	for i := range st.Nodes {
		if st.Nodes[i].NodeID == id {
			return &st.Nodes[i]
		}
	}
	return nil
}

// play starts the workers, injects the faults, and closes epoch 1 once
// everything but the held results is done and epoch 2 after them.
func (r *runner) play(ctx context.Context) error {
	sc := r.sc
	// Slow reporters start first so they surely hold a frame.
	var slow []string
	for _, n := range sc.Nodes {
		if f := sc.fault(n.ID); f != nil && f.Type == FaultSlowReport {
			if _, err := r.spawn(n); err != nil {
				return err
			}
			slow = append(slow, n.ID)
		}
	}
	for _, id := range slow {
		if err := r.waitStatus(ctx, "slow reporter "+id+" to lease a frame", func(st *api.Status) bool {
			ns := nodeStatus(st, id)
			return ns != nil && len(ns.Leases) > 0
		}); err != nil {
			return err
		}
	}
	for _, n := range sc.Nodes {
		if f := sc.fault(n.ID); f == nil || f.Type != FaultSlowReport {
			if _, err := r.spawn(n); err != nil {
				return err
			}
		}
	}
	r.progress("%d worker processes started", len(r.procs))
	phase := 1
	for {
		st, err := r.admin.Status(ctx)
		if err != nil {
			return fmt.Errorf("scenario: coordinator status: %w", err)
		}
		if st.Failed != "" {
			return fmt.Errorf("scenario: the coordinator's log failed: %s", st.Failed)
		}
		for _, p := range r.procs {
			if p.fault == nil || p.fault.Type != FaultSigkill || p.killed != nil || !running(p) {
				continue
			}
			ns := nodeStatus(st, p.node.ID)
			// Kill early in a frame, so that the kill surely lands before
			// the worker could report it.
			if ns != nil && ns.Accepted >= uint64(p.fault.AfterFrames) && len(ns.Leases) > 0 &&
				time.Now().UnixMilli()-ns.Leases[0].LeasedAtMS < int64(p.node.SpeedMS)/2 {
				if err := p.cmd.Process.Signal(syscall.SIGKILL); err == nil {
					fr := ns.Leases[0]
					p.killed = &fr
					<-p.done
					r.progress("killed worker %s with SIGKILL while it rendered %s/%d", p.node.ID, fr.JobID, fr.Frame)
				}
			}
		}
		remaining, verifying, unfinished := 0, 0, 0
		held := 0
		for _, j := range st.Jobs {
			remaining += int(j.Frames - j.Accepted)
			verifying += int(j.Verifying)
			if j.Accepted == j.Frames && !(j.Completed && j.Burned) {
				unfinished++
			}
		}
		for _, id := range slow {
			if ns := nodeStatus(st, id); ns != nil {
				held += len(ns.Leases)
			}
		}
		switch {
		case phase == 1 && remaining == held && verifying == 0 && unfinished == 0:
			res, err := r.admin.CloseEpoch(ctx, api.CloseEpochRequest{Epoch: 1})
			if err != nil {
				return fmt.Errorf("scenario: close epoch 1: %w", err)
			}
			r.epoch1At = res.Position
			r.progress("epoch 1 closed at log position %d; %d result(s) still held back by slow reporters", res.Position, held)
			phase = 2
		case phase == 2 && remaining == 0 && verifying == 0 && unfinished == 0:
			// Late results stay in the open epoch 2, as on the network.
			return r.stopWorkers()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("scenario: did not finish within %v: %d frames not accepted, %d verifying", time.Duration(r.sc.Timeout), remaining, verifying)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (r *runner) waitStatus(ctx context.Context, what string, cond func(*api.Status) bool) error {
	for {
		st, err := r.admin.Status(ctx)
		if err != nil {
			return err
		}
		if cond(st) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("scenario: timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stopWorkers sends SIGTERM to every worker and waits for it to exit.
// Where there is no SIGTERM (Windows) a worker is killed: the week's work
// is done by then.
func (r *runner) stopWorkers() error {
	for _, p := range r.procs {
		if running(p) {
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				_ = p.cmd.Process.Kill()
			}
		}
	}
	deadline := time.After(20 * time.Second)
	for _, p := range r.procs {
		select {
		case <-p.done:
		case <-deadline:
			_ = p.cmd.Process.Kill()
			<-p.done
			return fmt.Errorf("scenario: worker %s did not stop within 20 s of SIGTERM", p.node.ID)
		}
	}
	r.progress("workers stopped")
	return nil
}

// shutdown kills what still runs and closes the coordinator and the log.
func (r *runner) shutdown() {
	r.closeMu.Do(func() {
		for _, p := range r.procs {
			if running(p) {
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
		if r.hs != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = r.hs.Shutdown(ctx)
			cancel()
		}
		if r.srv != nil {
			r.srv.Close()
		}
		if r.store != nil {
			r.store.Close()
		}
	})
}

// finish shuts the coordinator down, verifies the log, replays it and
// checks the faults.
func (r *runner) finish(ctx context.Context) (*Report, error) {
	rep := &Report{Scenario: r.sc.Name, DataDir: r.o.DataDir, URL: r.url}
	var live []*projections.SharesDoc // every epoch, the open one last
	r.srv.Ledger(func(l *projections.Ledger) {
		for n := uint64(1); n <= l.ClosedEpochs()+1; n++ {
			d, _, _ := l.Shares(n)
			live = append(live, d)
		}
	})
	r.shutdown()

	vr, err := filestore.Verify(r.o.DataDir, nil, nil)
	if err != nil {
		return nil, err
	}
	rep.LogVerified, rep.Events, rep.HeadHash = vr.OK(), vr.Events, vr.HeadHash
	st, err := filestore.Open(r.o.DataDir, &filestore.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	l, err := projections.Build(ctx, st, projections.Config{}, nil)
	if err != nil {
		return nil, err
	}
	rep.ReplayIdentical = l.AnomalyCount == 0 && len(live) == int(l.ClosedEpochs())+1
	for n := uint64(1); rep.ReplayIdentical && n <= l.ClosedEpochs()+1; n++ {
		d, _, _ := l.Shares(n)
		a, _ := json.Marshal(d)
		b, _ := json.Marshal(live[n-1])
		rep.ReplayIdentical = string(a) == string(b)
		switch {
		case n <= l.ClosedEpochs():
			rep.Epochs = append(rep.Epochs, d)
		case len(d.Operators) > 0:
			rep.OpenEpoch = d
		}
	}
	rep.Balances = l.Balances()
	rep.Availability = availabilityReport(l)
	ids := make([]string, 0, len(l.Jobs))
	for id := range l.Jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		j := l.Jobs[id]
		jr := JobReport{JobID: id, Frames: j.Frames, Accepted: j.Accepted, Rejected: j.Rejected, ProvenanceRoot: j.ProvenanceRoot}
		if j.Burn != nil {
			jr.Burned, jr.BurnEpoch = j.Burn.Burned.String(), j.BurnEpoch
		}
		rep.Jobs = append(rep.Jobs, jr)
	}
	evs, err := readEvents(ctx, st)
	if err != nil {
		return nil, err
	}
	for _, p := range r.procs {
		wr := WorkerReport{Node: p.node.ID, ExitCode: p.code, Log: p.log}
		if p.fault != nil {
			wr.Fault = p.fault.Type
			rep.Faults = append(rep.Faults, r.checkFault(p, l, evs))
		}
		rep.Workers = append(rep.Workers, wr)
	}
	return rep, nil
}

type logEvent struct {
	pos uint64
	ev  domain.Event
}

func readEvents(ctx context.Context, st *filestore.Store) ([]logEvent, error) {
	var out []logEvent
	err := st.ReadAll(ctx, 1, func(e *eventstore.RecordedEvent) error {
		ev, err := domain.DecodeEvent(e.Type, e.Data)
		if err != nil {
			return fmt.Errorf("position %d: %w", e.Position, err)
		}
		out = append(out, logEvent{e.Position, ev})
		return nil
	})
	return out, err
}

// checkFault checks, from the log, that a fault had its effect.
func (r *runner) checkFault(p *proc, l *projections.Ledger, evs []logEvent) FaultReport {
	node := p.node.ID
	fr := FaultReport{Type: p.fault.Type, Node: node}
	var rendered, accepted, rejected int
	var acceptedAt []uint64
	for _, e := range evs {
		switch ev := e.ev.(type) {
		case *domain.FrameRendered:
			if ev.NodeID == node {
				rendered++
			}
		case *domain.FrameAccepted:
			if ev.NodeID == node {
				accepted++
				acceptedAt = append(acceptedAt, e.pos)
			}
		case *domain.FrameRejected:
			if ev.NodeID == node {
				rejected++
			}
		}
	}
	switch p.fault.Type {
	case FaultSigkill:
		if p.killed == nil {
			fr.Detail = "never killed: the node did not reach after_frames while holding a lease"
			return fr
		}
		k := p.killed
		var leasedToKilled, renderedByKilled bool
		var by string
		for _, e := range evs {
			switch ev := e.ev.(type) {
			case *domain.FrameAssigned:
				if ev.JobID == k.JobID && ev.Frame == k.Frame && ev.NodeID == node {
					leasedToKilled = true
				}
			case *domain.FrameRendered:
				if ev.JobID == k.JobID && ev.Frame == k.Frame && ev.NodeID == node {
					renderedByKilled = true
				}
			case *domain.FrameAccepted:
				if ev.JobID == k.JobID && ev.Frame == k.Frame {
					by = ev.NodeID
				}
			}
		}
		fr.OK = leasedToKilled && !renderedByKilled && by != "" && by != node && p.code != 0
		fr.Detail = fmt.Sprintf("killed with SIGKILL while rendering %s/%d; its lease expired and %s rendered the frame", k.JobID, k.Frame, by)
		if renderedByKilled {
			fr.Detail = fmt.Sprintf("%s/%d was reported before the kill landed", k.JobID, k.Frame)
		}
	case FaultCheat:
		earned := false
		for _, ep := range l.Epochs {
			if w := ep.Nodes[node]; w != nil && (w.Frames > 0 || w.Tasks > 0) {
				earned = true
			}
		}
		fr.OK = rejected > 0 && accepted == 0 && !earned
		fr.Detail = fmt.Sprintf("%d results re-rendered and rejected (output mismatch), %d accepted: earns nothing", rejected, accepted)
	case FaultDuplicate:
		dups := countLines(p.log, "duplicate answered")
		fr.OK = dups > 0 && dups == rendered && accepted == rendered
		fr.Detail = fmt.Sprintf("each of %d results reported twice: %d answered as duplicates, %d FrameRendered stored", rendered, dups, rendered)
	case FaultSlowReport:
		late := 0
		for _, pos := range acceptedAt {
			if r.epoch1At != 0 && pos > r.epoch1At {
				late++
			}
		}
		inEpoch2 := false
		if ep := l.Epoch(2); ep != nil {
			w := ep.Nodes[node]
			inEpoch2 = w != nil && w.Frames > 0
		}
		fr.OK = late > 0 && inEpoch2
		fr.Detail = fmt.Sprintf("held its result until epoch 1 closed (position %d); accepted after it, it counts in epoch 2", r.epoch1At)
	}
	return fr
}

func countLines(path, substr string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			n++
		}
	}
	return n
}
