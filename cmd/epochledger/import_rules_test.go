package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mr-tron/base58"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/scenarios/simlog"
)

// importFile imports b's log into a fresh data directory.
func importFile(t *testing.T, b *simlog.Builder, args ...string) (code int, errs, data string) {
	t.Helper()
	data = filepath.Join(t.TempDir(), "data")
	code, _, errs = cli(t, "", append([]string{"import", writeFile(t, b), "--data", data}, args...)...)
	return code, errs, data
}

// importRefused expects exit 1 with every want in the error and nothing
// appended.
func importRefused(t *testing.T, b *simlog.Builder, args []string, want ...string) {
	t.Helper()
	code, errs, data := importFile(t, b, args...)
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, errs)
	}
	for _, w := range append(want, "nothing was appended") {
		if !strings.Contains(errs, w) {
			t.Fatalf("error %q lacks %q", errs, w)
		}
	}
	if _, out, _ := cli(t, "", "export", "--data", data); out != "" {
		t.Fatalf("a refused import appended events:\n%s", out)
	}
}

func importOK(t *testing.T, b *simlog.Builder, args ...string) {
	t.Helper()
	if code, errs, _ := importFile(t, b, args...); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
}

func oneFrame(seed string) *simlog.Builder {
	b := simlog.New(seed, t0)
	b.Node("n1", "op-a", "100")
	b.Job("j1", 1, "1")
	b.Frame("j1", 0, "n1", 1000)
	return b
}

// TestImportRefusesHugeEmission (issue #18 finding 8): emission 2^64−1 is
// refused by import; --supply-cap moves the cap.
func TestImportRefusesHugeEmission(t *testing.T) {
	b := oneFrame("cap")
	b.CloseEpoch(1, math.MaxUint64)
	importRefused(t, b, nil, "line 6", `EpochClosed: field "emission"`, "total-supply cap of 64416876200000000 base units")

	b = oneFrame("cap")
	b.CloseEpoch(1, 1_000_000*domain.BaseUnitsPerRender)
	b.CloseEpoch(2, 1_000_000*domain.BaseUnitsPerRender)
	importOK(t, b)
	importRefused(t, b, []string{"--supply-cap", "1500000"}, "line 7", `EpochClosed: field "emission"`, "at most 50000000000000 may be")
	if code, _, errs := cli(t, "", "import", "--supply-cap", "0", "x.jsonl"); code != 2 {
		t.Fatalf("--supply-cap 0: exit %d %s", code, errs)
	}
}

// TestImportRefusesBadNodeKeys (issue #18): off-curve, non-canonical and
// small-order keys, and a key another node holds.
func TestImportRefusesBadNodeKeys(t *testing.T) {
	hexKey := func(h string) string {
		b, _ := hex.DecodeString(h)
		return base58.Encode(b)
	}
	n1 := base58.Encode(simlog.NodeKey("n1").Public().(ed25519.PublicKey))
	for _, c := range []struct{ name, key, want string }{
		{"off curve", hexKey("0200000000000000000000000000000000000000000000000000000000000000"), "point on the ed25519 curve"},
		{"non-canonical", hexKey("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), "canonical encoding"},
		{"identity", hexKey("0100000000000000000000000000000000000000000000000000000000000000"), "small order"},
		{"another node's", n1, `already registered to node "n1"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := simlog.New("keys", t0)
			b.Node("n1", "op-a", "100")
			b.Add("node-n2", &domain.NodeRegistered{NodeID: "n2", OperatorID: "op-b", NodePubkey: c.key, GPU: "RTX 4090", OBScore: 100})
			importRefused(t, b, nil, "line 2", `NodeRegistered: field "node_pubkey"`, c.want)
		})
	}
}

// TestImportRefusesBurnWithoutAcceptedFrames (issue #18).
func TestImportRefusesBurnWithoutAcceptedFrames(t *testing.T) {
	b := simlog.New("burn", t0)
	b.Node("n1", "op-a", "100")
	b.Job("j1", 2, "1")
	b.Assign("j1", 0, "n1")
	b.Burn("j1", "10", "2")
	importRefused(t, b, nil, "line 4", `BurnRecorded: field "job_id"`, "no accepted frames")
}

// TestImportComputeClientRule (issue #18 finding 3): once a compute client
// is registered, import refuses compute work without its signature or over
// its caps; the old form of a log without clients still imports.
func TestImportComputeClientRule(t *testing.T) {
	// week's compute work is of the old form: no client registered.
	if code, errs, _ := importFile(t, week()); code != 0 || !strings.Contains(errs, "note: 1 ComputeWorkCompleted without a compute client's signature") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b := oneFrame("cc")
	b.ComputeClient("io.net", "100", "150")
	b.Compute("t1", "n1", 60_000, "100")
	importOK(t, b)
	b.Compute("t2", "n1", 60_000, "51")
	importRefused(t, b, nil, "line 8", `ComputeWorkCompleted: field "usd"`, "cap of 150 USD per node per epoch")

	b = oneFrame("cc")
	b.ComputeClient("io.net", "100", "150")
	b.ComputeBy("self", "t1", "n1", 60_000, "1000000000") // the node's own word
	importRefused(t, b, nil, "line 7", `ComputeWorkCompleted: field "client"`, `compute client "self" is not registered`)
}

// countingReader yields n bytes of 'x' (one endless line) and counts what
// was read from it.
type countingReader struct{ left, read int }

func (r *countingReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, errors.New("end of the test line")
	}
	n := min(len(p), r.left)
	for i := range p[:n] {
		p[i] = 'x'
	}
	r.left -= n
	r.read += n
	return n, nil
}

// TestImportStreamsLineLimit (issue #18): a 64 MB line is refused once the
// limit is passed, after reading little more than the limit and without
// buffering the line (it once cost twice its size before the check).
func TestImportStreamsLineLimit(t *testing.T) {
	const size = 64 << 20
	r := &countingReader{left: size}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := parseImport(r, "big.jsonl")
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "big.jsonl line 1: line is longer than") || !strings.Contains(err.Error(), "nothing was appended") {
		t.Fatalf("got %v", err)
	}
	if r.read > maxImportLine+importReadSize {
		t.Fatalf("read %d bytes of the line, want at most %d", r.read, maxImportLine+importReadSize)
	}
	// What the reader allocated: the limit's worth of line (grown by
	// append) and the read buffer, nowhere near the line's 64 MB.
	if got := after.TotalAlloc - before.TotalAlloc; got > 8*maxImportLine {
		t.Fatalf("allocated %d bytes for a refused %d-byte line", got, size)
	}
	// A line at the limit is still read (and then judged by its content).
	line := `{"id":"x","data":"` + strings.Repeat("y", maxImportLine-40) + `"}`
	_, err = parseImport(strings.NewReader(line+"\n"), "edge.jsonl")
	if err == nil || strings.Contains(err.Error(), "longer than") {
		t.Fatalf("a line within the limit: got %v", err)
	}
}
