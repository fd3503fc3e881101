//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/epochledger/epochledger/internal/pgcluster"
	"github.com/epochledger/epochledger/scenarios/bench"
)

// These tests run the command line against a throwaway PostgreSQL server
// (internal/pgcluster); each log lives in a schema of its own.

var pgSchemas atomic.Int64

// pgStore returns a --store URL for a fresh log on c.
func pgStore(c *pgcluster.Cluster) string {
	return fmt.Sprintf("%s&schema=cli_%d", c.URL(), pgSchemas.Add(1))
}

// pgLogs are the logs whose shares must be the same on both stores: the
// golden epochs of projections/testdata/golden and the demo week's log
// (testdata/demo-week.jsonl, exported from `scenario run
// scenarios/demo-week.json`).
func pgLogs(t *testing.T) []string {
	logs, _ := filepath.Glob(filepath.Join("..", "..", "projections", "testdata", "golden", "*.jsonl"))
	logs = append(logs, filepath.Join("testdata", "demo-week.jsonl"), writeFile(t, week()))
	if len(logs) < 4 {
		t.Fatalf("golden logs missing: %v", logs)
	}
	return logs
}

// TestPostgresSharesIdentical imports each log into the embedded store
// and into PostgreSQL; shares --json of every epoch, replay --json and
// export must be the same bytes on both, and verify passes on both.
func TestPostgresSharesIdentical(t *testing.T) {
	c := pgcluster.Start(t, false)
	for _, log := range pgLogs(t) {
		t.Run(filepath.Base(log), func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			store := pgStore(c)
			for _, where := range [][]string{{"--data", data}, {"--store", store}} {
				if code, out, errs := cli(t, "", append([]string{"import", log, "--json"}, where...)...); code != 0 {
					t.Fatalf("import %v: exit %d %s %s", where, code, out, errs)
				}
			}
			same := func(args ...string) string {
				t.Helper()
				code1, a, errs1 := cli(t, "", append(args, "--data", data)...)
				code2, b, errs2 := cli(t, "", append(args, "--store", store)...)
				if code1 != code2 || a != b {
					t.Fatalf("%v differs:\nembedded (exit %d): %s%s\npostgres (exit %d): %s%s", args, code1, a, errs1, code2, b, errs2)
				}
				return a
			}
			replay := same("replay", "--json")
			same("export")
			epochs := strings.Count(replay, `"status":"closed"`) + strings.Count(replay, `"status":"settled"`) + strings.Count(replay, `"status":"planned"`)
			if epochs == 0 {
				t.Fatalf("no closed epoch in %s: %s", log, replay)
			}
			for n := 1; n <= epochs; n++ {
				out := same("shares", "--epoch", fmt.Sprint(n), "--json")
				if !strings.HasPrefix(out, fmt.Sprintf(`{"epoch":%d,`, n)) {
					t.Fatalf("shares --epoch %d: %s", n, out)
				}
			}
			if code, out, errs := cli(t, "", "verify", "--store", store); code != 0 || !strings.HasPrefix(out, "ok: ") {
				t.Fatalf("verify --store: exit %d %s %s", code, out, errs)
			}
			// A re-run of the import is idempotent on PostgreSQL too.
			code, out, errs := cli(t, "", "import", log, "--json", "--store", store)
			if code != 0 || !strings.Contains(out, `"appended":0`) {
				t.Fatalf("re-import: exit %d %s %s", code, out, errs)
			}
		})
	}
}

// TestPostgresRefusedImportAppendsNothing: a file with one bad line is
// refused whole on PostgreSQL, as on the embedded store.
func TestPostgresRefusedImportAppendsNothing(t *testing.T) {
	c := pgcluster.Start(t, false)
	store := pgStore(c)
	lines := strings.Split(strings.TrimSpace(mustRead(t, writeFile(t, week()))), "\n")
	bad := append([]string(nil), lines...)
	last := len(bad) - 1
	bad[last] = strings.Replace(bad[last], `"epoch":1`, `"epoch":2`, 1)
	code, _, errs := cli(t, strings.Join(bad, "\n")+"\n", "import", "-", "--store", store)
	if code != 1 || !strings.Contains(errs, "EpochClosed") || !strings.Contains(errs, "nothing was appended") {
		t.Fatalf("bad import: exit %d %s", code, errs)
	}
	if code, out, errs := cli(t, "", "export", "--store", store); code != 0 || out != "" {
		t.Fatalf("a refused import appended events (exit %d %s):\n%s", code, errs, out)
	}
	// Over a log that holds events, the same refusal leaves the head
	// where it was. (The store's own all-or-nothing append is the
	// conformance suite's MultiAppendAtomic, run on PostgreSQL in
	// eventstore/postgres.)
	if code, _, errs := cli(t, strings.Join(lines, "\n")+"\n", "import", "-", "--store", store); code != 0 {
		t.Fatalf("good import: %s", errs)
	}
	head := pgHead(t, store)
	if code, _, _ := cli(t, strings.Join(bad, "\n")+"\n", "import", "-", "--store", store); code != 1 {
		t.Fatalf("bad import over a log: exit %d", code)
	}
	if got := pgHead(t, store); got != head {
		t.Fatalf("head %d after a refused import, was %d", got, head)
	}
}

func pgHead(t *testing.T, store string) int {
	t.Helper()
	code, out, errs := cli(t, "", "export", "--store", store)
	if code != 0 {
		t.Fatal(errs)
	}
	return strings.Count(out, "\n")
}

// TestPostgresMigrate copies an embedded log into PostgreSQL, verified
// event by event; a second run copies nothing; shares read the same; a
// row altered behind the store's back makes verify exit 1 naming it.
func TestPostgresMigrate(t *testing.T) {
	c := pgcluster.Start(t, false)
	data := filepath.Join(t.TempDir(), "data")
	log := filepath.Join("testdata", "demo-week.jsonl")
	if code, _, errs := cli(t, "", "import", log, "--data", data); code != 0 {
		t.Fatal(errs)
	}
	store := pgStore(c)
	code, out, errs := cli(t, "", "migrate", "--to", store, "--data", data, "--json")
	lines := strings.Count(mustRead(t, log), "\n")
	if code != 0 || !strings.Contains(out, fmt.Sprintf(`"verified":%d`, lines)) || !strings.Contains(out, `"already_there":0`) {
		t.Fatalf("migrate: exit %d %s %s", code, out, errs)
	}
	code, out, errs = cli(t, "", "migrate", "--to", store, "--data", data, "--json")
	if code != 0 || !strings.Contains(out, fmt.Sprintf(`"already_there":%d`, lines)) {
		t.Fatalf("second migrate: exit %d %s %s", code, out, errs)
	}
	for _, args := range [][]string{{"shares", "--epoch", "1", "--json"}, {"export"}} {
		_, a, _ := cli(t, "", append(args, "--data", data)...)
		_, b, _ := cli(t, "", append(args, "--store", store)...)
		if a != b || a == "" {
			t.Fatalf("%v after migrate differs:\n%s\n%s", args, a, b)
		}
	}
	if code, out, errs := cli(t, "", "verify", "--store", store, "--json"); code != 0 || !strings.HasPrefix(out, `{"ok":true`) {
		t.Fatalf("verify: exit %d %s %s", code, out, errs)
	}
	// EPOCHLEDGER_STORE stands for --store.
	_, viaEnv, errs := cliEnv(t, map[string]string{"EPOCHLEDGER_STORE": store}, "", "shares", "--epoch", "1", "--json")
	if _, viaFlag, _ := cli(t, "", "shares", "--epoch", "1", "--json", "--store", store); viaEnv != viaFlag || viaEnv == "" {
		t.Fatalf("shares with EPOCHLEDGER_STORE: %s %s, with --store: %s", viaEnv, errs, viaFlag)
	}
	schema := store[strings.LastIndex(store, "schema=")+len("schema="):]
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.Primary.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "UPDATE "+schema+".events SET data = convert_to(replace(convert_from(data, 'UTF8'), '\"', ' \"'), 'UTF8') WHERE position = 42"); err != nil {
		t.Fatal(err)
	}
	code, _, errs = cli(t, "", "verify", "--store", store)
	if code != 1 || !strings.Contains(errs, "first bad position 42") {
		t.Fatalf("verify of an altered row: exit %d %s", code, errs)
	}
}

// TestPostgresSettlePlan: settle plan on PostgreSQL plans the same
// payouts, root and memo as on the embedded store.
func TestPostgresSettlePlan(t *testing.T) {
	c := pgcluster.Start(t, false)
	file := writeFile(t, week())
	data := filepath.Join(t.TempDir(), "data")
	store := pgStore(c)
	outs := map[string]string{}
	for _, where := range [][]string{{"--data", data}, {"--store", store}} {
		if code, _, errs := cli(t, "", append([]string{"import", file}, where...)...); code != 0 {
			t.Fatal(errs)
		}
		// The plan's log_head is the head hash verify prints for the
		// backend (the frame chain embedded, the content chain on
		// PostgreSQL): it differs between them, the rest must not.
		code, out, errs := cli(t, "", append([]string{"verify", "--json"}, where...)...)
		var v struct {
			Report struct {
				HeadHash string `json:"head_hash"`
			} `json:"report"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &v) != nil || len(v.Report.HeadHash) != 64 {
			t.Fatalf("verify %v: exit %d %s%s", where, code, out, errs)
		}
		code, out, errs = cli(t, "", append([]string{"settle", "plan", "--epoch", "1", "--json"}, where...)...)
		if code != 0 {
			t.Fatalf("settle plan %v: exit %d %s", where, code, errs)
		}
		head := `,"log_head":"` + v.Report.HeadHash + `"`
		if !strings.Contains(out, head) {
			t.Fatalf("settle plan %v records no log_head %s: %s", where, v.Report.HeadHash, out)
		}
		outs[where[0]] = strings.Replace(out, head, "", 1)
	}
	if outs["--data"] != outs["--store"] {
		t.Fatalf("settle plan differs:\nembedded %s\npostgres %s", outs["--data"], outs["--store"])
	}
}

// TestPostgresServe: serve on PostgreSQL answers the shares document of a
// closed epoch byte for byte as shares --json prints it from the
// embedded store.
func TestPostgresServe(t *testing.T) {
	c := pgcluster.Start(t, false)
	file := writeFile(t, week())
	data := filepath.Join(t.TempDir(), "data")
	store := pgStore(c)
	for _, where := range [][]string{{"--data", data}, {"--store", store}} {
		if code, _, errs := cli(t, "", append([]string{"import", file}, where...)...); code != 0 {
			t.Fatal(errs)
		}
	}
	_, want, _ := cli(t, "", "shares", "--epoch", "1", "--json", "--data", data)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		e := &env{stdin: strings.NewReader(""), stdout: pw, stderr: &lockedWriter{w: &errb}, getenv: func(string) string { return "" }}
		done <- run(ctx, []string{"serve", "--store", store, "--addr", "127.0.0.1:0", "--json", "--epoch-clock=false"}, e)
		pw.Close()
	}()
	defer func() {
		cancel()
		<-done
	}()
	var ready struct {
		URL string `json:"url"`
	}
	if err := json.NewDecoder(pr).Decode(&ready); err != nil {
		t.Fatalf("serve did not start: %v", err)
	}
	go io.Copy(io.Discard, pr)
	resp, err := http.Get(ready.URL + "/v1/epochs/1/shares")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != strings.TrimSpace(want) {
		t.Fatalf("GET shares from serve --store postgres: %d %s\nwant %s", resp.StatusCode, body, want)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestBenchStorePostgres runs bench store --store postgres:// briefly
// against a primary with a synchronous standby: every workload measured
// on both stores, group commit reported, and the bench's schema dropped.
// EPOCHLEDGER_PG_BENCH=DURATION runs it for that long per measurement and
// logs the table (the figures of docs/benchmarks.md); EPOCHLEDGER_PG_BENCH_NO_STANDBY=1
// measures a lone primary instead.
func TestBenchStorePostgres(t *testing.T) {
	c := pgcluster.Start(t, os.Getenv("EPOCHLEDGER_PG_BENCH_NO_STANDBY") == "")
	dur, asJSON := "50ms", "--json"
	if d := os.Getenv("EPOCHLEDGER_PG_BENCH"); d != "" {
		dur, asJSON = d, "--json=false"
	}
	code, out, errs := cli(t, "", "bench", "store", "--store", c.URL(), "--dir", t.TempDir(), "--duration", dur, asJSON)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if asJSON == "--json" {
		var r bench.CompareResult
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if len(r.Workloads) != 5 || r.EventsPerCommit <= 0 || r.UngroupedConcurrent64PerSec <= 0 {
			t.Fatalf("result %+v", r)
		}
		for _, w := range r.Workloads {
			if w.EmbeddedPerSec <= 0 || w.OtherPerSec <= 0 || w.Ratio <= 0 {
				t.Fatalf("workload %+v", w)
			}
		}
	} else {
		t.Logf("\n%s", out)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.Primary.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'bench_%'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d bench schemas left behind (%v)", n, err)
	}
}
