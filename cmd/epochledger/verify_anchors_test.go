package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gagliardetto/solana-go"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/internal/pgcluster"
	"github.com/epochledger/epochledger/settlement"
)

type anchorsDoc struct {
	OK      bool                     `json:"ok"`
	Anchors []settlement.AnchorCheck `json:"anchors"`
}

func runAnchors(t *testing.T, env map[string]string, data string) (int, anchorsDoc, string) {
	t.Helper()
	code, out, errs := cliEnv(t, env, "", "verify", "--data", data, "--anchors", "--json")
	var doc anchorsDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("verify --anchors --json: exit %d: %v\n%s%s", code, err, out, errs)
	}
	return code, doc, errs
}

// reimport exports the log's positions 1..to (0: all), passes each line
// through edit, and imports the result into a fresh directory.
func reimport(t *testing.T, env map[string]string, data string, to uint64, edit func(string) string) string {
	t.Helper()
	code, out, errs := cliEnv(t, env, "", "export", "--data", data, "--to", fmt.Sprint(to))
	if code != 0 {
		t.Fatalf("export: %s", errs)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for i := range lines {
		lines[i] = edit(lines[i])
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, "data")
	if code, _, errs := cliEnv(t, env, "", "import", "--data", fresh, file); code != 0 {
		t.Fatalf("import: %s", errs)
	}
	return fresh
}

// TestVerifyAnchors (issue #21 item 10): the plan records the log's head
// hash (what verify prints) as log_head; the memo of the batch's first v0
// transaction carries it on the local VM; verify --anchors holds the log
// against it. A copy of the log verifies; a log cut before the anchored
// position (plan and payouts gone) and a log rewritten with recomputed
// chain hashes (a modified export re-imported into a fresh directory)
// both verify frame by frame but fail against the chain.
func TestVerifyAnchors(t *testing.T) {
	l, state := startLocalnetState(t)
	data := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"EPOCHLEDGER_DATA": data, "EPOCHLEDGER_LOCALNET": state}
	if code, _, errs := cliEnv(t, env, "", "import", writeFile(t, settleNetwork(12, nil))); code != 0 {
		t.Fatal(errs)
	}
	code, before := runVerifyJSON(t, "--data", data)
	if code != 0 {
		t.Fatalf("verify: %d", code)
	}
	code, out, errs := cliEnv(t, env, "", "settle", "plan", "--epoch", "1", "--json")
	if code != 0 {
		t.Fatal(errs)
	}
	var plan planDoc
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatal(err)
	}
	if plan.LogHead != before.Report.HeadHash || plan.PlannedAt != before.Report.Events+1 {
		t.Fatalf("plan log_head %q at %d; verify printed head hash %q of %d events", plan.LogHead, plan.PlannedAt, before.Report.HeadHash, before.Report.Events)
	}
	// Before settlement nothing is anchored: the epoch is listed, not failed.
	if code, doc, errs := runAnchors(t, env, data); code != 0 || !doc.OK || len(doc.Anchors) != 1 || doc.Anchors[0].Status != "unanchored" {
		t.Fatalf("before submit: exit %d %+v %s", code, doc, errs)
	}
	code, out, errs = cliEnv(t, env, "", "settle", "submit", "--epoch", "1", "--poll", "5ms", "--json")
	var rep settlement.Report
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || !rep.Settled || rep.Transactions != 2 {
		t.Fatalf("submit: %d %s %s", code, out, errs)
	}
	// On chain: 1/2 carries the log head, 2/2 does not.
	led := settledLedger(t, data)
	st := led.Epoch(1).Settlement
	if st.LogHead != plan.LogHead {
		t.Fatalf("the ledger's plan has log_head %q, want %q", st.LogHead, plan.LogHead)
	}
	chain := settlement.Dial(l.RPC)
	defer chain.Close()
	var memos []string
	for _, tx := range st.Txs {
		ct, err := chain.ReadTx(t.Context(), solana.MustSignatureFromBase58(tx.Signature))
		if err != nil {
			t.Fatal(err)
		}
		memos = append(memos, ct.Memos...)
	}
	base := domain.Memo(1, plan.Root)
	if strings.Join(memos, " ") != base+":1/2:"+plan.LogHead+" "+base+":2/2" {
		t.Fatalf("memos on chain %q", memos)
	}
	code, doc, errs := runAnchors(t, env, data)
	if code != 0 || !doc.OK || len(doc.Anchors) != 1 {
		t.Fatalf("settled: exit %d %+v %s", code, doc, errs)
	}
	if a := doc.Anchors[0]; a.Status != "ok" || a.Epoch != 1 || a.MemoHead != plan.LogHead || a.Position != plan.PlannedAt-1 || a.Signature != st.Txs[0].Signature {
		t.Fatalf("anchor %+v", a)
	}
	code, out, _ = cliEnv(t, env, "", "verify", "--data", data, "--anchors")
	if code != 0 || !strings.Contains(out, "epoch 1's anchor") {
		t.Fatalf("verify --anchors: %d %s", code, out)
	}

	// A faithful copy (export, import) keeps every chain hash: it verifies.
	copied := reimport(t, env, data, 0, func(s string) string { return s })
	if code, doc, errs := runAnchors(t, env, copied); code != 0 || !doc.OK || doc.Anchors[0].Status != "ok" {
		t.Fatalf("copy: exit %d %+v %s", code, doc, errs)
	}

	// Cut before the anchored position: intact frame by frame, yet the
	// treasury's history on chain anchors epoch 1 and the log lacks it.
	cut := reimport(t, env, data, plan.PlannedAt-2, func(s string) string { return s })
	if code, _, errs := cliEnv(t, env, "", "verify", "--data", cut); code != 0 {
		t.Fatalf("the cut log verifies frame by frame: %d %s", code, errs)
	}
	code, doc, errs = runAnchors(t, env, cut)
	if code != 1 || doc.OK || len(doc.Anchors) != 1 || doc.Anchors[0].Status != "failed" || !strings.Contains(doc.Anchors[0].Reason, "holds no plan") ||
		!strings.Contains(errs, "epoch 1's anchor on chain") {
		t.Fatalf("cut: exit %d %+v %s", code, doc, errs)
	}

	// Rewritten before the plan (a node's GPU changed: the plan, its
	// root and its log_head stay as they were), chain hashes recomputed by
	// a fresh import: it fails against the chain.
	edited := false
	rewritten := reimport(t, env, data, 0, func(s string) string {
		if !edited && strings.Contains(s, `"NodeRegistered"`) && strings.Contains(s, `RTX 4090`) {
			edited = true
			return strings.Replace(s, `RTX 4090`, `RTX 4080`, 1)
		}
		return s
	})
	if !edited {
		t.Fatal("no event to rewrite")
	}
	if code, _, errs := cliEnv(t, env, "", "verify", "--data", rewritten); code != 0 {
		t.Fatalf("the rewritten log verifies frame by frame: %d %s", code, errs)
	}
	code, doc, errs = runAnchors(t, env, rewritten)
	if code != 1 || doc.OK || doc.Anchors[0].Status != "failed" || !strings.Contains(doc.Anchors[0].Reason, "holds no event with the chain hash "+plan.LogHead) {
		t.Fatalf("rewritten: exit %d %+v %s", code, doc, errs)
	}
}

// TestPostgresVerifyAnchors: verify --anchors --rpc on a PostgreSQL log
// (issue #21 item 10 on every store). The plan there records the content
// chain's head as log_head; the v0 settlement anchors it on the local VM;
// verify --store … --anchors finds it in the log (positions checked); a
// log rewritten before the plan with its chain recomputed (a modified
// export imported into a fresh schema), and one cut before the plan, both
// verify row by row but fail against the chain.
func TestPostgresVerifyAnchors(t *testing.T) {
	c := pgcluster.Start(t, false)
	_, state := startLocalnetState(t)
	store := pgStore(c)
	env := map[string]string{"EPOCHLEDGER_LOCALNET": state}
	if code, _, errs := cliEnv(t, env, "", "import", writeFile(t, settleNetwork(12, nil)), "--store", store); code != 0 {
		t.Fatal(errs)
	}
	code, out, errs := cliEnv(t, env, "", "settle", "plan", "--epoch", "1", "--json", "--store", store)
	var plan planDoc
	if code != 0 || json.Unmarshal([]byte(out), &plan) != nil || len(plan.LogHead) != 64 {
		t.Fatalf("plan: exit %d %s %s", code, out, errs)
	}
	if code, out, errs := cliEnv(t, env, "", "settle", "submit", "--epoch", "1", "--poll", "5ms", "--json", "--store", store); code != 0 {
		t.Fatalf("submit: exit %d %s %s", code, out, errs)
	}
	anchors := func(store string) (int, anchorsDoc, string) {
		t.Helper()
		code, out, errs := cliEnv(t, env, "", "verify", "--store", store, "--anchors", "--json")
		var doc anchorsDoc
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("verify --store --anchors --json: exit %d: %v\n%s%s", code, err, out, errs)
		}
		return code, doc, errs
	}
	code, doc, errs := anchors(store)
	if code != 0 || !doc.OK || len(doc.Anchors) != 1 {
		t.Fatalf("settled: exit %d %+v %s", code, doc, errs)
	}
	if a := doc.Anchors[0]; a.Status != "ok" || a.MemoHead != plan.LogHead || a.Position != plan.PlannedAt-1 {
		t.Fatalf("anchor %+v, plan at %d with log_head %s", a, plan.PlannedAt, plan.LogHead)
	}
	// The text form adds the anchor's line to the backend's own.
	code, out, _ = cliEnv(t, env, "", "verify", "--store", store, "--anchors")
	if code != 0 || !strings.Contains(out, "every row's chain hash verified") || !strings.Contains(out, "epoch 1's anchor") {
		t.Fatalf("verify --store --anchors: %d %s", code, out)
	}

	copyTo := func(to uint64, edit func(string) string) string {
		t.Helper()
		code, out, errs := cliEnv(t, env, "", "export", "--store", store, "--to", fmt.Sprint(to))
		if code != 0 {
			t.Fatalf("export: %s", errs)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		for i := range lines {
			lines[i] = edit(lines[i])
		}
		fresh := pgStore(c)
		if code, _, errs := cliEnv(t, env, strings.Join(lines, "\n")+"\n", "import", "-", "--store", fresh); code != 0 {
			t.Fatalf("import: %s", errs)
		}
		if code, out, errs := cliEnv(t, env, "", "verify", "--store", fresh); code != 0 {
			t.Fatalf("the copy verifies row by row: exit %d %s %s", code, out, errs)
		}
		return fresh
	}
	if code, doc, errs := anchors(copyTo(0, func(s string) string { return s })); code != 0 || !doc.OK || doc.Anchors[0].Status != "ok" {
		t.Fatalf("faithful copy: exit %d %+v %s", code, doc, errs)
	}
	edited := false
	rewritten := copyTo(0, func(s string) string {
		if !edited && strings.Contains(s, `"NodeRegistered"`) && strings.Contains(s, `RTX 4090`) {
			edited = true
			return strings.Replace(s, `RTX 4090`, `RTX 4080`, 1)
		}
		return s
	})
	if !edited {
		t.Fatal("no event to rewrite")
	}
	code, doc, errs = anchors(rewritten)
	if code != 1 || doc.OK || doc.Anchors[0].Status != "failed" || !strings.Contains(doc.Anchors[0].Reason, "holds no event with the chain hash "+plan.LogHead) ||
		!strings.Contains(errs, "epoch 1's anchor on chain") {
		t.Fatalf("rewritten: exit %d %+v %s", code, doc, errs)
	}
	code, doc, errs = anchors(copyTo(plan.PlannedAt-2, func(s string) string { return s }))
	if code != 1 || doc.OK || len(doc.Anchors) != 1 || doc.Anchors[0].Status != "failed" || !strings.Contains(doc.Anchors[0].Reason, "holds no plan") {
		t.Fatalf("cut: exit %d %+v %s", code, doc, errs)
	}
}
