package scenarios

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/workers/api"
	"github.com/epochledger/epochledger/workers/nodekey"
)

// exe is the epochledger binary the tests' worker processes run, built
// once in TestMain.
var exe string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "epochledger-scenarios-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	exe = filepath.Join(dir, "epochledger")
	cmd := exec.Command("go", "build", "-o", exe, "github.com/epochledger/epochledger/cmd/epochledger")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the epochledger binary:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// play runs a scenario and fails the test unless every check passed.
func play(t *testing.T, sc *Scenario) *Report {
	t.Helper()
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	rep, err := Run(context.Background(), sc, Options{Exe: exe, DataDir: filepath.Join(t.TempDir(), "data"), Progress: &progress})
	t.Log(progress.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Faults {
		t.Logf("fault %s on %s: ok=%v: %s", f.Type, f.Node, f.OK, f.Detail)
	}
	if !rep.LogVerified || !rep.ReplayIdentical {
		t.Fatalf("log verified %v, replay identical %v", rep.LogVerified, rep.ReplayIdentical)
	}
	if len(rep.Faults) != len(sc.Faults) || !rep.OK() {
		t.Fatalf("fault checks failed: %+v", rep.Faults)
	}
	for _, j := range rep.Jobs {
		if j.Accepted != j.Frames || j.ProvenanceRoot == "" || j.Burned == "" {
			t.Errorf("job %+v not finished", j)
		}
	}
	for _, w := range rep.Workers {
		if w.Fault != FaultSigkill && w.ExitCode != 0 {
			t.Errorf("worker %s exited %d after SIGTERM (log %s)", w.Node, w.ExitCode, w.Log)
		}
	}
	return rep
}

func small(name string, faults ...Fault) *Scenario {
	one := 1.0
	sc := &Scenario{
		Name:        name,
		Coordinator: Coordinator{Lease: Duration(time.Second), RenderWidth: 16, RenderHeight: 12},
		Operators:   []Operator{{ID: "op-a", Wallet: "11111111111111111111111111111112"}, {ID: "op-b"}, {ID: "op-c"}},
		Nodes: []Node{
			{ID: "a1", Operator: "op-a", OBScore: "1000", SpeedMS: 20},
			{ID: "b1", Operator: "op-b", OBScore: "600", SpeedMS: 30},
			{ID: "c1", Operator: "op-c", OBScore: "800", SpeedMS: 300, VerifyRate: &one},
		},
		Jobs:    []Job{{ID: "j1", Artist: "studio", Frames: 12, USDPerOBh: "0.5"}},
		Faults:  faults,
		Timeout: Duration(time.Minute),
	}
	return sc
}

// The README's demo: every fault at once, the log verifies, replays to the
// same shares, and the CLI reads the same shares from it.
func TestDemoWeek(t *testing.T) {
	sc, err := Load("demo-week.json")
	if err != nil {
		t.Fatal(err)
	}
	rep := play(t, sc)
	if rep.ElapsedSeconds > 30 {
		t.Errorf("the demo took %.1f s", rep.ElapsedSeconds)
	}
	if len(rep.Epochs) != 1 || rep.OpenEpoch == nil {
		t.Fatalf("want epoch 1 closed and the late result in open epoch 2: %+v %+v", rep.Epochs, rep.OpenEpoch)
	}
	out, err := exec.Command(exe, "shares", "--epoch", "1", "--json", "--data", rep.DataDir).Output()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(rep.Epochs[0])
	if strings.TrimSpace(string(out)) != string(want) {
		t.Fatalf("epochledger shares:\n%s\nreport:\n%s", out, want)
	}
	var sum uint64
	for _, o := range rep.Epochs[0].Operators {
		var a uint64
		fmt.Sscan(o.Allocated, &a)
		sum += a
		switch o.OperatorID {
		case "dusk-nodes":
			t.Errorf("the cheater's operator earned: %+v", o)
		case "ember-reserve":
			// The standby node: online and idle, no job work.
			if o.Channels["job"] != "0" || o.Channels["availability"] == "0" || o.Allocated != o.Channels["availability"] {
				t.Errorf("the standby node's operator: %+v", o)
			}
		}
	}
	// The schedule (RNP-015 figures from epoch 1) pays job + availability.
	if rep.Epochs[0].Emission != "1788461538000" || sum != 1_788_461_538_000 {
		t.Errorf("emission %s, allocations sum to %d", rep.Epochs[0].Emission, sum)
	}
	// The killed worker's heartbeats stopped: less online time than a
	// worker that ran the whole epoch; the standby node was online and
	// never busy.
	av := map[string]NodeAvailabilityReport{}
	for _, a := range rep.Availability {
		if a.Epoch == 1 {
			av[a.NodeID] = a
		}
	}
	killed, healthy, standby := av["borealis-3090"], av["atlas-4090-a"], av["ember-l40s"]
	if killed.WindowMS == 0 || killed.OnlineMS >= healthy.OnlineMS || standby.BusyMS != 0 || standby.OnlineMS == 0 || standby.Points == "0" {
		t.Errorf("availability: killed %+v, healthy %+v, standby %+v", killed, healthy, standby)
	}
	// A second run replaces the first in the same directory.
	if err := prepareDir(rep.DataDir); err != nil {
		t.Fatal(err)
	}
}

func TestFaultSigkill(t *testing.T) {
	sc := small("sigkill", Fault{Type: FaultSigkill, Node: "c1", AfterFrames: 1})
	sc.Nodes[2].VerifyRate = nil
	sc.Nodes[2].SpeedMS = 400
	sc.Jobs[0].Frames = 60
	play(t, sc)
}

func TestFaultCheat(t *testing.T) {
	rep := play(t, small("cheat", Fault{Type: FaultCheat, Node: "c1"}))
	for _, e := range rep.Epochs {
		for _, o := range e.Operators {
			if o.OperatorID == "op-c" {
				t.Errorf("cheater's operator has work: %+v", o)
			}
		}
	}
}

func TestFaultDuplicate(t *testing.T) {
	sc := small("duplicate", Fault{Type: FaultDuplicate, Node: "a1"})
	sc.Nodes[2].SpeedMS = 30
	play(t, sc)
}

func TestFaultSlowReport(t *testing.T) {
	sc := small("slow", Fault{Type: FaultSlowReport, Node: "b1"})
	sc.Nodes[2].SpeedMS = 30
	rep := play(t, sc)
	if rep.OpenEpoch == nil || len(rep.OpenEpoch.Operators) != 1 || rep.OpenEpoch.Operators[0].OperatorID != "op-b" {
		t.Fatalf("epoch 2 should hold exactly the late result: %+v", rep.OpenEpoch)
	}
}

func TestParseRefuses(t *testing.T) {
	bad := map[string]string{
		"unknown field":   `{"name":"x","nodes":[],"jobs":[],"extra":1}`,
		"no nodes":        `{"name":"x","jobs":[{"id":"j","artist":"a","frames":1,"usd_per_obh":"1"}]}`,
		"unknown op":      `{"name":"x","nodes":[{"id":"n","operator":"nope","ob_score":"1"}],"jobs":[{"id":"j","artist":"a","frames":1,"usd_per_obh":"1"}]}`,
		"bad wallet":      `{"name":"x","operators":[{"id":"o","wallet":"abc"}],"nodes":[{"id":"n","operator":"o","ob_score":"1"}],"jobs":[{"id":"j","artist":"a","frames":1,"usd_per_obh":"1"}]}`,
		"bad fault":       `{"name":"x","operators":[{"id":"o"}],"nodes":[{"id":"n","operator":"o","ob_score":"1"},{"id":"m","operator":"o","ob_score":"1"}],"jobs":[{"id":"j","artist":"a","frames":1,"usd_per_obh":"1"}],"faults":[{"type":"explode","node":"n"}]}`,
		"all faulty":      `{"name":"x","operators":[{"id":"o"}],"nodes":[{"id":"n","operator":"o","ob_score":"1"}],"jobs":[{"id":"j","artist":"a","frames":1,"usd_per_obh":"1"}],"faults":[{"type":"cheat","node":"n"}]}`,
		"bad duration":    `{"name":"x","coordinator":{"lease":5},"operators":[{"id":"o"}],"nodes":[{"id":"n","operator":"o","ob_score":"1"}],"jobs":[{"id":"j","artist":"a","frames":1,"usd_per_obh":"1"}]}`,
		"ob score zero":   `{"name":"x","operators":[{"id":"o"}],"nodes":[{"id":"n","operator":"o","ob_score":"0"}],"jobs":[{"id":"j","artist":"a","frames":1,"usd_per_obh":"1"}]}`,
		"bad schedule":    `{"name":"x","coordinator":{"schedule":[{"rnp":"R","effective_epoch":1,"channels":{"upgrade":"1"}}]},"operators":[{"id":"o"}],"nodes":[{"id":"n","operator":"o","ob_score":"1"}],"jobs":[{"id":"j","artist":"a","frames":1,"usd_per_obh":"1"}]}`,
		"only standby":    `{"name":"x","operators":[{"id":"o"}],"nodes":[{"id":"n","operator":"o","ob_score":"1","standby":true}],"jobs":[{"id":"j","artist":"a","frames":1,"usd_per_obh":"1"}]}`,
		"vram too large":  `{"name":"x","operators":[{"id":"o"}],"nodes":[{"id":"n","operator":"o","ob_score":"1","vram_gb":5000}],"jobs":[{"id":"j","artist":"a","frames":1,"usd_per_obh":"1"}]}`,
		"price precision": `{"name":"x","operators":[{"id":"o"}],"nodes":[{"id":"n","operator":"o","ob_score":"1"}],"jobs":[{"id":"j","artist":"a","frames":1,"usd_per_obh":"0.0000000000000000001"}]}`,
	}
	for name, in := range bad {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if err := prepareDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, "precious"), []byte("x"), 0o644)
	if err := prepareDir(d); err == nil {
		t.Fatal("a directory that is not a scenario run was accepted")
	}
}

// The coordinator and a worker as separate processes: `epochledger serve`
// and `epochledger worker`. A worker stopped with SIGTERM mid-frame
// finishes and reports the frame, then exits 0; serve stops cleanly on
// SIGTERM and its log verifies.
func TestServeAndWorkerProcesses(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	tokFile := filepath.Join(dir, "token")
	os.WriteFile(tokFile, []byte("test-admin-token-0123\n"), 0o600)
	serve := exec.Command(exe, "serve", "--data", data, "--addr", "127.0.0.1:0", "--admin-token-file", tokFile, "--json", "--verify-rate", "0", "--render-size", "16x12",
		"--schedule", filepath.Join("schedules", "render-2024.json"))
	stdout, _ := serve.StdoutPipe()
	var serveErr bytes.Buffer
	serve.Stderr = &serveErr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer serve.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("serve: %v\n%s", err, serveErr.String())
	}
	var hello struct{ URL string }
	if err := json.Unmarshal([]byte(line), &hello); err != nil || hello.URL == "" {
		t.Fatalf("serve said %q", line)
	}

	keyFile := filepath.Join(dir, "node-key.json")
	out, err := exec.Command(exe, "keygen", "--out", keyFile).Output()
	if err != nil {
		t.Fatal(err)
	}
	key, err := nodekey.Load(keyFile)
	if err != nil || strings.TrimSpace(string(out)) != nodekey.Pubkey(key) {
		t.Fatalf("keygen printed %q: %v", out, err)
	}
	// An unregistered worker is told so and exits 1.
	w := exec.Command(exe, "worker", "--server", hello.URL, "--key", keyFile)
	msg, err := w.CombinedOutput()
	if w.ProcessState.ExitCode() != 1 || !strings.Contains(string(msg), "register the node first") {
		t.Fatalf("unregistered worker: %v\n%s", err, msg)
	}
	reg := exec.Command(exe, "worker", "register", "--server", hello.URL, "--key", keyFile, "--node-id", "n1", "--operator", "op-a", "--ob-score", "860", "--admin-token-file", tokFile)
	if msg, err := reg.CombinedOutput(); err != nil {
		t.Fatalf("register: %v\n%s", err, msg)
	}
	admin := api.NewClient(hello.URL, nil, "test-admin-token-0123")
	ctx := context.Background()
	if _, err := admin.SubmitJob(ctx, api.SubmitJobRequest{JobID: "j1", Artist: "a", SceneHash: strings.Repeat("ab", 32), Frames: 3, USDPerOBh: "1"}); err != nil {
		t.Fatal(err)
	}
	var wlog bytes.Buffer
	w = exec.Command(exe, "worker", "--server", hello.URL, "--key", keyFile, "--frame-time", "1500ms")
	w.Stdout, w.Stderr = &wlog, &wlog
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := admin.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Nodes) == 1 && len(st.Nodes[0].Leases) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker never leased a frame:\n%s", wlog.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.Process.Signal(syscall.SIGTERM)
	if err := w.Wait(); err != nil {
		t.Fatalf("worker after SIGTERM: %v\n%s", err, wlog.String())
	}
	if !strings.Contains(wlog.String(), "result stored") {
		t.Fatalf("the frame in hand was not reported:\n%s", wlog.String())
	}
	serve.Process.Signal(syscall.SIGTERM)
	if err := serve.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, serveErr.String())
	}
	rep, err := filestore.Verify(data, nil, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	st, _ := filestore.Open(data, &filestore.Options{ReadOnly: true})
	defer st.Close()
	l, err := projections.Build(ctx, st, projections.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if j := l.Jobs["j1"]; j.Accepted != 1 {
		t.Fatalf("accepted %d frames, want the 1 in hand at SIGTERM", j.Accepted)
	}
	// --schedule appended the 2024 schedule; the open epoch 1 is paid
	// under its first entry.
	if len(l.Schedules) != 4 || l.Schedules[3].RNP != "RNP-015" || l.OpenEmission() != 3_978_730_000_000 {
		t.Fatalf("schedules %+v, open emission %d", l.Schedules, l.OpenEmission())
	}
	var telemetry map[string]any
	_ = st.ReadAll(ctx, 1, func(e *eventstore.RecordedEvent) error {
		if e.Type == domain.TypeFrameRendered {
			var fr domain.FrameRendered
			json.Unmarshal(e.Data, &fr)
			json.Unmarshal(fr.Telemetry, &telemetry)
		}
		return nil
	})
	if telemetry["backend"] == nil || telemetry["nvml"] == nil {
		t.Fatalf("telemetry %v", telemetry)
	}
	t.Logf("telemetry of the frame: %v", telemetry)
}
