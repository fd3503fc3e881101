package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestScenarioSettlesOnChain: the settle step of `scenario run` on a week's
// log: the closed epoch is planned and paid on a local VM, reconcile finds
// every payout on chain, and one operator's proof verifies on chain; the
// log then says settled. Without Node.js the step is skipped with the
// reason, and is not a failure.
func TestScenarioSettlesOnChain(t *testing.T) {
	data := t.TempDir()
	if code, _, errOut := cli(t, "", "import", "--data", data, writeFile(t, settleNetwork(4, map[int]bool{3: true}))); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	var progress bytes.Buffer
	st := settleScenario(context.Background(), data, &progress)
	if st.Skipped != "" || !st.OK || len(st.Epochs) != 1 {
		t.Fatalf("settle step: %+v\n%s", st, progress.String())
	}
	r := st.Epochs[0]
	if r.Payouts != 3 || len(r.Signatures) == 0 || !r.Reconciled || !r.ProofOnChain || r.ProofOperator != "op-000" || r.Error != "" {
		t.Fatalf("epoch 1: %+v", r)
	}
	var out bytes.Buffer
	printScenarioSettlement(&out, data, st)
	for _, want := range []string{r.Signatures[0], "reconcile = ok", "proof verify --rpc of op-000 = ok"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("printout lacks %q:\n%s", want, out.String())
		}
	}
	if s := settledLedger(t, data).Epoch(1).Settlement; s == nil || !s.Done() {
		t.Fatal("the log does not say settled")
	}

	defer func(old string) { scenarioNodeBin = old }(scenarioNodeBin)
	scenarioNodeBin = "/nonexistent/node"
	data2 := t.TempDir()
	if code, _, errOut := cli(t, "", "import", "--data", data2, writeFile(t, settleNetwork(2, nil))); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	st = settleScenario(context.Background(), data2, nil)
	if !strings.Contains(st.Skipped, "Node.js") || len(st.Epochs) != 0 {
		t.Fatalf("without node: %+v", st)
	}
}
