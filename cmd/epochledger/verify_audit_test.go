package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/epochledger/epochledger/internal/pgcluster"
	"github.com/epochledger/epochledger/projections"
)

// verifyLedgerJSON is the ledger check of `verify --json`.
type verifyLedgerJSON struct {
	OK     bool `json:"ok"`
	Ledger *struct {
		OK       bool   `json:"ok"`
		Position uint64 `json:"position"`
		Events   uint64 `json:"events"`
		Broken   string `json:"broken"`
	} `json:"ledger"`
}

// realFold is verify's own fold.
var realFold = verifyFold

// breakFold makes verify's fold break an invariant after folding, the
// seam of the reporting path (no log of valid events folds into a ledger
// that breaks one): brk changes the folded ledger.
func breakFold(t *testing.T, brk func(*projections.Ledger)) {
	t.Helper()
	orig := realFold
	t.Cleanup(func() { verifyFold = orig })
	verifyFold = func(ctx context.Context, r projections.Reader, progress func(pos, head uint64)) (*projections.Ledger, error) {
		l, err := orig(ctx, r, progress)
		if err == nil {
			brk(l)
		}
		return l, err
	}
}

// firstOperator is the epoch's first operator with an allocation.
func firstOperator(t *testing.T, ep *projections.Epoch) string {
	t.Helper()
	var ids []string
	for id, a := range ep.Allocations {
		if a > 0 {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		t.Fatalf("epoch %d allocates nothing", ep.N)
	}
	slices.Sort(ids)
	return ids[0]
}

// verifyAudits runs verify (args name the store) on an intact log of
// lines events: the ledger's invariants hold; a fold that breaks one is
// verify's failure, exit 1 naming the epoch or operator and the invariant.
func verifyAudits(t *testing.T, lines int, args ...string) {
	t.Helper()
	verifyJSONLedger := func() (int, verifyLedgerJSON, string) {
		t.Helper()
		code, out, errs := cli(t, "", append([]string{"verify", "--json"}, args...)...)
		var v verifyLedgerJSON
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("verify --json: exit %d, %v: %s %s", code, err, out, errs)
		}
		return code, v, errs
	}
	code, v, errs := verifyJSONLedger()
	if code != 0 || !v.OK || v.Ledger == nil || !v.Ledger.OK || v.Ledger.Events != uint64(lines) || v.Ledger.Broken != "" {
		t.Fatalf("verify of an intact log: exit %d %+v %+v %s", code, v, v.Ledger, errs)
	}
	code, out, errs := cli(t, "", append([]string{"verify"}, args...)...)
	if code != 0 || !strings.Contains(out, "invariants hold") {
		t.Fatalf("verify: exit %d %s %s", code, out, errs)
	}

	var op string
	breakFold(t, func(l *projections.Ledger) {
		ep := l.Epoch(1)
		op = firstOperator(t, ep)
		ep.Allocations[op]++
	})
	code, v, errs = verifyJSONLedger()
	if code != 1 || v.OK || v.Ledger == nil || v.Ledger.OK || !strings.Contains(v.Ledger.Broken, "epoch 1 allocates") {
		t.Fatalf("verify of a ledger whose epoch 1 allocates one base unit too many: exit %d %+v %+v %s", code, v, v.Ledger, errs)
	}
	if !strings.Contains(errs, "verify FAILED") || !strings.Contains(errs, "breaks an invariant") || !strings.Contains(errs, "epoch 1 allocates") {
		t.Fatalf("verify's refusal does not name the epoch and the invariant: %s", errs)
	}

	breakFold(t, func(l *projections.Ledger) {
		op = firstOperator(t, l.Epoch(1))
		o := l.Operators[op]
		o.Paid = o.Allocated + 1
	})
	code, out, errs = cli(t, "", append([]string{"verify"}, args...)...)
	if code != 1 || strings.Contains(out, "invariants hold") || !strings.Contains(errs, `operator "`+op+`"`) || !strings.Contains(errs, "more than its allocation") {
		t.Fatalf("verify of a ledger paying operator %s more than allocated: exit %d %s %s", op, code, out, errs)
	}
}

// TestVerifyAuditsLedger: verify of the embedded store folds the log and
// runs Ledger.Audit.
func TestVerifyAuditsLedger(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	log := filepath.Join("testdata", "demo-week.jsonl")
	if code, _, errs := cli(t, "", "import", log, "--data", data); code != 0 {
		t.Fatal(errs)
	}
	verifyAudits(t, strings.Count(mustRead(t, log), "\n"), "--data", data)
}

// TestVerifyAuditsLedgerPostgres: the same on PostgreSQL.
func TestVerifyAuditsLedgerPostgres(t *testing.T) {
	c := pgcluster.Start(t, false)
	data := filepath.Join(t.TempDir(), "data")
	log := filepath.Join("testdata", "demo-week.jsonl")
	if code, _, errs := cli(t, "", "import", log, "--data", data); code != 0 {
		t.Fatal(errs)
	}
	store := pgStore(c)
	if code, out, errs := cli(t, "", "migrate", "--to", store, "--data", data); code != 0 {
		t.Fatalf("migrate: exit %d %s %s", code, out, errs)
	}
	verifyAudits(t, strings.Count(mustRead(t, log), "\n"), "--store", store)
}
