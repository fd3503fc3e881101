package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/scenarios/simlog"
)

// verifyJSON is the part of `verify --json` these tests read.
type verifyJSON struct {
	OK       bool `json:"ok"`
	TornTail *struct {
		Segment  string `json:"segment"`
		Offset   int64  `json:"offset"`
		Bytes    int64  `json:"bytes"`
		Position uint64 `json:"position"`
	} `json:"torn_tail"`
	Problem *struct {
		Position uint64 `json:"position"`
	} `json:"problem"`
	Report struct {
		Events        uint64 `json:"events"`
		HeadHash      string `json:"head_hash"`
		ClosedCleanly bool   `json:"closed_cleanly"`
	} `json:"report"`
}

func runVerifyJSON(t *testing.T, args ...string) (int, verifyJSON) {
	t.Helper()
	code, out, errs := cli(t, "", append([]string{"verify", "--json"}, args...)...)
	var v verifyJSON
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("verify --json: exit %d, %v: %s %s", code, err, out, errs)
	}
	return code, v
}

// copyLog copies a log directory (segments and commit record) as a
// crash would leave it if the writer died now.
func copyLog(t *testing.T, src, dst string) {
	t.Helper()
	os.MkdirAll(dst, 0o755)
	ents, _ := os.ReadDir(src)
	for _, e := range ents {
		if e.IsDir() || e.Name() == "LOCK" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644)
	}
}

// TestVerifyAfterACrash (issue #24): a log whose writer died mid-write
// ends in a torn tail; verify reports it (where, how many bytes) and
// exits 0, in text and in --json. Damage elsewhere in the same log exits
// 1, and so does a torn last frame once the log was closed cleanly.
func TestVerifyAfterACrash(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if code, _, errs := cli(t, "", "import", writeFile(t, week()), "--data", data); code != 0 {
		t.Fatal(errs)
	}
	s, err := filestore.Open(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	extra := simlog.New("crash-extra", t0)
	extra.Node("n9", "op-z", "100")
	if err := extra.AppendTo(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	crashed := filepath.Join(t.TempDir(), "crashed")
	copyLog(t, data, crashed) // the writer still runs: its record says so
	s.Close()
	seg := filepath.Join(crashed, "00000000000000000001.seg")
	b, _ := os.ReadFile(seg)
	end := int64(len(b))
	for end > 0 && b[end-1] == 0 {
		end-- // zeros the writer wrote ahead
	}
	// Half a frame written over the zeros: the next write, cut by the crash.
	half := append([]byte(nil), b[end-200:end-100]...)
	copy(b[end:], half)
	os.WriteFile(seg, b, 0o644)

	code, out, errs := cli(t, "", "verify", "--data", crashed)
	if code != 0 || !strings.Contains(out, "note: torn or uncommitted tail") || !strings.Contains(out, fmt.Sprintf("100 bytes from byte offset %d", end)) || !strings.Contains(out, "cuts it") {
		t.Fatalf("verify after a crash: exit %d: %s%s", code, out, errs)
	}
	code, v := runVerifyJSON(t, "--data", crashed)
	if code != 0 || !v.OK || v.TornTail == nil || v.TornTail.Offset != end || v.TornTail.Bytes != 100 || v.Problem != nil || v.Report.ClosedCleanly {
		t.Fatalf("verify --json after a crash: exit %d %+v", code, v)
	}
	events := v.Report.Events

	// The same crashed log with one more flipped bit inside it: exit 1.
	bad := filepath.Join(t.TempDir(), "bad")
	copyLog(t, crashed, bad)
	bb, _ := os.ReadFile(filepath.Join(bad, "00000000000000000001.seg"))
	bb[end/2] ^= 0x04
	os.WriteFile(filepath.Join(bad, "00000000000000000001.seg"), bb, 0o644)
	if code, v := runVerifyJSON(t, "--data", bad); code != 1 || v.OK || v.Problem == nil || v.TornTail != nil {
		t.Fatalf("verify of a crashed log damaged inside: exit %d %+v", code, v)
	}
	if code, _, errs := cli(t, "", "import", writeFile(t, week()), "--data", bad); code == 0 || !strings.Contains(errs, "corrupt") {
		t.Fatalf("import into a log damaged inside: exit %d %s", code, errs)
	}

	// A writer open cuts the tail; the log then verifies with nothing to note.
	if code, _, errs := cli(t, "", "import", writeFile(t, week()), "--data", crashed); code != 0 {
		t.Fatalf("import after the crash: %s", errs)
	}
	code, v = runVerifyJSON(t, "--data", crashed)
	if code != 0 || !v.OK || v.TornTail != nil || v.Report.Events != events || !v.Report.ClosedCleanly {
		t.Fatalf("verify after the repair: exit %d %+v", code, v)
	}
	// Cleanly closed, a torn last frame is damage.
	b, _ = os.ReadFile(seg)
	os.WriteFile(seg, b[:len(b)-3], 0o644)
	if code, v := runVerifyJSON(t, "--data", crashed); code != 1 || v.OK || v.TornTail != nil {
		t.Fatalf("verify of a cleanly closed log with a torn last frame: exit %d %+v", code, v)
	}
}

// TestVerifyHead (issue #18): a head hash kept elsewhere catches a log
// that lost its newest segment, which otherwise verifies frame by frame
// when it has no commit record (a log from before it, or one whose
// record went with the segment).
func TestVerifyHead(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	s, err := filestore.Open(data, &filestore.Options{SegmentSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	b := simlog.New("head", t0)
	b.Node("n1", "op-a", "860")
	b.Job("j1", 40, "0.5")
	for f := range uint32(40) {
		b.Frame("j1", f, "n1", 60_000)
		if err := b.AppendTo(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	code, v := runVerifyJSON(t, "--data", data)
	if code != 0 || !v.OK {
		t.Fatalf("verify: exit %d %+v", code, v)
	}
	head := v.Report.HeadHash
	if code, out, errs := cli(t, "", "verify", "--data", data, "--head", head); code != 0 || !strings.Contains(out, "holds the kept hash") {
		t.Fatalf("verify --head of the intact log: exit %d %s%s", code, out, errs)
	}
	if code, _, errs := cli(t, "", "verify", "--data", data, "--head", "xyz"); code != 2 || !strings.Contains(errs, "64 hex digits") {
		t.Fatalf("verify --head xyz: exit %d %s", code, errs)
	}
	segs, _ := filepath.Glob(filepath.Join(data, "*.seg"))
	if len(segs) < 3 {
		t.Fatalf("want several segments, got %d", len(segs))
	}
	os.Remove(segs[len(segs)-1])
	// The commit record knows the log was longer.
	if code, _, errs := cli(t, "", "verify", "--data", data); code != 1 || !strings.Contains(errs, "missing") {
		t.Fatalf("verify of a log without its newest segment: exit %d %s", code, errs)
	}
	os.Remove(filepath.Join(data, "COMMIT"))
	if code, _, _ := cli(t, "", "verify", "--data", data); code != 0 {
		t.Fatalf("without a commit record the cut log verifies frame by frame: exit %d", code)
	}
	code, out, errs := cli(t, "", "verify", "--data", data, "--head", head)
	if code != 1 || !strings.Contains(errs, "holds no event with chain hash "+head) {
		t.Fatalf("verify --head of the cut log: exit %d %s%s", code, out, errs)
	}
}

// TestVerifyAfterKilledImport (issue #24): an import of several batches
// is killed with SIGKILL inside its write (the parent watches the segment
// grow and kills it as it passes a random size); verify must then exit 0,
// every committed event verified: they are the file's first events, in
// order, a whole number of batches. When the kill cut a write, the torn
// tail is reported (it must happen in some rounds; the rounds go on, up
// to three times as many, until it has). The next import repairs the
// last one and completes. EPOCHLEDGER_IMPORT_KILLS sets the rounds
// (default 10).
func TestVerifyAfterKilledImport(t *testing.T) {
	if testing.Short() {
		t.Skip("import kill test skipped in -short mode")
	}
	kills := 10
	if v := os.Getenv("EPOCHLEDGER_IMPORT_KILLS"); v != "" {
		kills, _ = strconv.Atoi(v)
	}
	const frames, batch = 1500, 1200
	b := simlog.New("killed-import", t0)
	b.Node("n1", "op-a", "860")
	b.Node("n2", "op-b", "430")
	b.Job("j1", frames, "0.5")
	for f := range uint32(frames) {
		b.Frame("j1", f, []string{"n1", "n2"}[f%2], 60_000)
	}
	b.Complete("j1")
	b.CloseEpoch(1, domain.DefaultEmission)
	file := writeFile(t, b)
	ids := fileIDs(t, file)
	data := filepath.Join(t.TempDir(), "data")
	if code, _, errs := cli(t, "", "import", file, "--data", data, "--batch", strconv.Itoa(batch)); code != 0 {
		t.Fatal(errs)
	}
	seg := filepath.Join(data, "00000000000000000001.seg")
	st, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	full := st.Size()
	torn := 0
	for k := 0; k < kills || (torn == 0 && k < 3*kills); k++ {
		os.RemoveAll(data)
		cmd := child(t, nil, "import", file, "--data", data, "--batch", strconv.Itoa(batch))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		// Stat as fast as possible: the size passes the target while a
		// batch is being written, and the kill lands inside that write.
		target := 4096 + int64(uint64(k+1)*2654435761%uint64(full-8192))
	watch:
		for {
			select {
			case <-exited:
				break watch
			default:
			}
			if st, err := os.Stat(seg); err == nil && st.Size() >= target {
				break
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		code, v := runVerifyJSON(t, "--data", data)
		if code != 0 || !v.OK {
			t.Fatalf("kill %d: verify exit %d %+v", k, code, v)
		}
		if v.TornTail != nil {
			torn++
			if v.TornTail.Bytes <= 0 || v.TornTail.Position != v.Report.Events+1 {
				t.Fatalf("kill %d: torn tail %+v after %d events", k, v.TornTail, v.Report.Events)
			}
		}
		checkPrefix(t, data, ids, batch)
		t.Logf("kill %d at %d bytes: %d events committed, torn tail %+v", k, target, v.Report.Events, v.TornTail)
	}
	if torn == 0 {
		t.Fatal("no kill cut a write: the test proved little")
	}
	if code, _, errs := cli(t, "", "import", file, "--data", data); code != 0 {
		t.Fatalf("import after the kills: %s", errs)
	}
	if code, v := runVerifyJSON(t, "--data", data); code != 0 || !v.OK || v.TornTail != nil || v.Report.Events != uint64(len(ids)) {
		t.Fatalf("verify after the final import: exit %d %+v", code, v)
	}
}

// fileIDs returns the event ids of a JSON lines file, in order.
func fileIDs(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.ID == "" {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

// checkPrefix checks that the log holds the file's first events in order,
// a whole number of batches (or all of them).
func checkPrefix(t *testing.T, data string, ids []string, batch int) {
	t.Helper()
	if _, err := os.Stat(data); err != nil {
		return
	}
	s, err := filestore.Open(data, &filestore.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open: %v", err)
	}
	defer s.Close()
	n := 0
	err = s.ReadAll(context.Background(), 1, func(e *eventstore.RecordedEvent) error {
		if n >= len(ids) || e.ID != ids[n] {
			return fmt.Errorf("position %d holds %s, the file's event %d", e.Position, e.ID, n)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n%batch != 0 && n != len(ids) {
		t.Fatalf("the log holds %d events: not a whole number of batches of %d", n, batch)
	}
}
