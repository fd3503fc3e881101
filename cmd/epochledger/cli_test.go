package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/scenarios/simlog"
)

// cli runs the command line in-process and returns its exit code and output.
func cli(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	code := run(context.Background(), args, e)
	return code, out.String(), errb.String()
}

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// week builds a small network week: two operators, one without a wallet,
// one job of three frames, compute work, a burn and the epoch close.
func week() *simlog.Builder {
	b := simlog.New("week", t0)
	b.Node("n1", "op-a", "860")
	b.Node("n2", "op-b", "430.5")
	b.SetWallet("op-a")
	b.Job("j1", 3, "0.5")
	b.Frame("j1", 0, "n1", 1_800_000) // 860 OB × 0.5 h = 430 OBh
	b.Frame("j1", 1, "n2", 3_600_000) // 430.5 OBh
	b.Frame("j1", 2, "n1", 60_000)
	b.Complete("j1")
	b.Burn("j1", "600", "2")
	b.Compute("t1", "n2", 60_000, "10")
	b.CloseEpoch(1, domain.DefaultEmission)
	return b
}

func writeFile(t *testing.T, b *simlog.Builder) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "events.jsonl")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteJSONL(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

func TestImportExportRoundTrip(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	file := writeFile(t, week())
	code, out, errs := cli(t, "", "import", file, "--data", data)
	if code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	code, exported, errs := cli(t, "", "export", "--data", data)
	if code != 0 {
		t.Fatalf("export: %d %s", code, errs)
	}
	orig, _ := os.ReadFile(file)
	ol := strings.Split(strings.TrimSpace(string(orig)), "\n")
	el := strings.Split(strings.TrimSpace(exported), "\n")
	if len(ol) != len(el) {
		t.Fatalf("exported %d lines, imported %d", len(el), len(ol))
	}
	for i := range ol {
		var a, b domain.Envelope
		if err := json.Unmarshal([]byte(ol[i]), &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(el[i]), &b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Data, b.Data) || a.ID != b.ID || b.Position != uint64(i+1) {
			t.Fatalf("line %d differs:\n%s\n%s", i+1, ol[i], el[i])
		}
	}
	// Re-importing the export changes nothing.
	code, out, _ = cli(t, exported, "import", "-", "--data", data)
	if code != 0 || !strings.Contains(out, "nothing new") {
		t.Fatalf("re-import: %d %s", code, out)
	}
	// Into a fresh store, the export re-imports to the same export.
	data2 := filepath.Join(t.TempDir(), "data2")
	if code, _, errs := cli(t, exported, "import", "-", "--data", data2); code != 0 {
		t.Fatalf("import export: %s", errs)
	}
	_, exported2, _ := cli(t, "", "export", "--data", data2)
	if exported2 != exported {
		t.Fatal("export → import → export is not byte-identical")
	}
	if code, out, _ := cli(t, "", "verify", "--data", data); code != 0 || !strings.HasPrefix(out, "ok:") {
		t.Fatalf("verify: %d %s", code, out)
	}
}

func TestSharesJSON(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if code, _, errs := cli(t, "", "import", writeFile(t, week()), "--data", data); code != 0 {
		t.Fatal(errs)
	}
	code, out, errs := cli(t, "", "shares", "--epoch", "1", "--json", "--data", data)
	if code != 0 {
		t.Fatalf("shares: %s", errs)
	}
	// op-a: frames 0 and 2 on an 860 OB node: 860×(1800000+60000)/3600000 = 444.333… OBh,
	// worth ×0.5 = 222.1666… USD. op-b: 430.5 OBh ×0.5 = 215.25 USD plus $10
	// of compute (and 430.5×60000/3600000 = 7.175 OBh of it). Allocations
	// computed independently with Python's fractions: floors 2333805177872
	// and 2366194822127, the remainder of 1 to op-a (larger E·w mod W).
	want := `{"epoch":1,"emission":"4700000000000","total_work_obh":"882.008333333","total_work_usd":"447.416666667","operators":[` +
		`{"operator_id":"op-a","work_obh":"444.333333333","work_usd":"222.166666667","allocated":"2333805177873"},` +
		`{"operator_id":"op-b","work_obh":"437.675","work_usd":"225.25","allocated":"2366194822127"}]}` + "\n"
	if out != want {
		t.Fatalf("shares --json:\n got %s\nwant %s", out, want)
	}
	// Two replays give the same bytes.
	_, out2, _ := cli(t, "", "shares", "--epoch", "1", "--json", "--data", data)
	if out2 != out {
		t.Fatal("shares output differs between two runs")
	}
}

func TestImportRefusesBadLineAndAppendsNothing(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	good := writeFile(t, week())
	lines := strings.Split(strings.TrimSpace(mustRead(t, good)), "\n")
	cases := []struct {
		name   string
		mutate func([]string) []string
		want   []string
	}{
		{"bad field", func(l []string) []string {
			l[3] = strings.Replace(l[3], `"frames":3`, `"frames":0`, 1)
			return l
		}, []string{"line 4", "JobSubmitted", `"frames"`}},
		{"not json", func(l []string) []string { l[5] = "{oops"; return l }, []string{"line 6", "envelope"}},
		{"forged signature", func(l []string) []string {
			// Swap the output hash of a signed FrameRendered: the signature no longer verifies.
			for i, s := range l {
				if strings.Contains(s, `"type":"FrameRendered"`) {
					j := strings.Index(s, `"output_hash":"`) + len(`"output_hash":"`)
					l[i] = s[:j] + strings.Repeat("a", 64) + s[j+64:]
					return l
				}
			}
			return l
		}, []string{"FrameRendered", `"signature"`, "does not verify"}},
		{"epoch out of order", func(l []string) []string {
			last := len(l) - 1
			l[last] = strings.Replace(l[last], `"epoch":1`, `"epoch":2`, 1)
			return l
		}, []string{"EpochClosed", `"epoch"`, "in order"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := strings.Join(c.mutate(append([]string(nil), lines...)), "\n") + "\n"
			code, _, errs := cli(t, in, "import", "-", "--data", data)
			if code != 1 {
				t.Fatalf("exit %d, want 1: %s", code, errs)
			}
			for _, w := range c.want {
				if !strings.Contains(errs, w) {
					t.Fatalf("error %q lacks %q", errs, w)
				}
			}
			if !strings.Contains(errs, "nothing was appended") {
				t.Fatalf("error does not say nothing was appended: %s", errs)
			}
			if _, out, _ := cli(t, "", "export", "--data", data); out != "" {
				t.Fatalf("a refused import appended events:\n%s", out)
			}
		})
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestVerifyNamesFirstBadPosition(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if code, _, errs := cli(t, "", "import", writeFile(t, week()), "--data", data); code != 0 {
		t.Fatal(errs)
	}
	seg := filepath.Join(data, "00000000000000000001.seg")
	b, _ := os.ReadFile(seg)
	b[len(b)/2] ^= 0x01
	os.WriteFile(seg, b, 0o644)
	code, _, errs := cli(t, "", "verify", "--data", data)
	if code != 1 || !strings.Contains(errs, "first bad position") || !strings.Contains(errs, "offset") {
		t.Fatalf("verify of a damaged log: exit %d: %s", code, errs)
	}
	code, out, _ := cli(t, "", "verify", "--json", "--data", data)
	var v struct {
		OK      bool `json:"ok"`
		Problem struct {
			Position uint64 `json:"position"`
		} `json:"problem"`
	}
	if code != 1 || json.Unmarshal([]byte(out), &v) != nil || v.OK || v.Problem.Position == 0 {
		t.Fatalf("verify --json: exit %d %s", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"nosuchcommand"},
		{"import"},
		{"import", "a", "b"},
		{"shares"},
		{"shares", "--epoch", "x"},
		{"export", "--bogus"},
	} {
		if code, _, errs := cli(t, "", args...); code != 2 {
			t.Fatalf("%v: exit %d, want 2 (%s)", args, code, errs)
		}
	}
	if code, out, _ := cli(t, "", "import", "--help"); code != 0 || !strings.Contains(out, "Usage: epochledger import") {
		t.Fatalf("import --help: %d %s", code, out)
	}
}

// TestSharesFromArchive: once an epoch is closed and folded, shares for it
// come from the epoch archive — and an archive of another log is ignored.
func TestSharesFromArchive(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if code, _, errs := cli(t, "", "import", writeFile(t, week()), "--data", data); code != 0 {
		t.Fatal(errs)
	}
	_, first, _ := cli(t, "", "shares", "--epoch", "1", "--json", "--data", data)
	if _, err := os.Stat(filepath.Join(data, "checkpoints", "epochs.json")); err != nil {
		t.Fatalf("no epoch archive after a fold: %v", err)
	}
	_, second, _ := cli(t, "", "shares", "--epoch", "1", "--json", "--data", data)
	if first != second {
		t.Fatalf("archived shares differ:\n%s\n%s", first, second)
	}
	// Another log given this log's archive: the archive does not belong to
	// it (another EpochClosed id) and is ignored.
	archive, _ := os.ReadFile(filepath.Join(data, "checkpoints", "epochs.json"))
	b := simlog.New("other", t0)
	b.Node("n1", "op-a", "1")
	b.Job("j1", 1, "1")
	b.Frame("j1", 0, "n1", 1000)
	b.CloseEpoch(1, 10)
	data2 := filepath.Join(t.TempDir(), "data2")
	if code, _, errs := cli(t, "", "import", writeFile(t, b), "--data", data2); code != 0 {
		t.Fatal(errs)
	}
	os.MkdirAll(filepath.Join(data2, "checkpoints"), 0o755)
	os.WriteFile(filepath.Join(data2, "checkpoints", "epochs.json"), archive, 0o644)
	_, third, _ := cli(t, "", "shares", "--epoch", "1", "--json", "--data", data2)
	if !strings.Contains(third, `"emission":"10"`) {
		t.Fatalf("a foreign archive was trusted: %s", third)
	}
}

// TestZeroTailIsNotDamage: zeros after the last event, as a writer that
// zeroes ahead leaves them when it is killed, verify with a note and read
// back whole.
func TestZeroTailIsNotDamage(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if code, _, errs := cli(t, "", "import", writeFile(t, week()), "--data", data); code != 0 {
		t.Fatal(errs)
	}
	_, before, _ := cli(t, "", "export", "--data", data)
	seg := filepath.Join(data, "00000000000000000001.seg")
	b, _ := os.ReadFile(seg)
	os.WriteFile(seg, append(b, make([]byte, 8192)...), 0o644)
	code, out, errs := cli(t, "", "verify", "--data", data)
	if code != 0 || !strings.Contains(out, "note: 8192 zero bytes follow the last event") {
		t.Fatalf("verify of a zero-tailed log: exit %d: %s%s", code, out, errs)
	}
	code, out, _ = cli(t, "", "verify", "--json", "--data", data)
	var v struct {
		OK     bool `json:"ok"`
		Report struct {
			ZeroTail int64 `json:"zero_tail_bytes"`
		} `json:"report"`
	}
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil || !v.OK || v.Report.ZeroTail != 8192 {
		t.Fatalf("verify --json: exit %d, %v: %s", code, err, out)
	}
	code, after, errs := cli(t, "", "export", "--data", data)
	if code != 0 || after != before || errs != "" {
		t.Fatalf("export of a zero-tailed log: exit %d, stderr %q, same output %v", code, errs, after == before)
	}
}

// TestTornTailIsReported: a reader beside a damaged last frame reads up to
// the last committed event and says so; verify fails.
func TestTornTailIsReported(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if code, _, errs := cli(t, "", "import", writeFile(t, week()), "--data", data); code != 0 {
		t.Fatal(errs)
	}
	seg := filepath.Join(data, "00000000000000000001.seg")
	b, _ := os.ReadFile(seg)
	os.WriteFile(seg, b[:len(b)-3], 0o644) // cut into the last frame
	code, out, errs := cli(t, "", "export", "--data", data)
	if code != 0 || !strings.Contains(errs, "warning: torn tail") || !strings.Contains(errs, "run 'epochledger verify'") {
		t.Fatalf("export beside a torn tail: %d %q", code, errs)
	}
	if strings.Count(out, "\n") != 0 {
		// The whole file was one atomic batch: cut, it was never committed.
		t.Fatalf("export printed events of an uncommitted batch:\n%s", out)
	}
	if code, _, _ := cli(t, "", "verify", "--data", data); code != 1 {
		t.Fatalf("verify of a torn log: exit %d", code)
	}
}
