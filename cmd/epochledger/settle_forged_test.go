package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/scenarios/simlog"
	"github.com/epochledger/epochledger/settlement"
)

// rawTokenBalance reads owner's associated token account balance of mint
// with a bare JSON-RPC call over HTTP: a reader independent of the
// settlement client (0 when the account does not exist).
func rawTokenBalance(t *testing.T, url, owner string, mint solana.PublicKey) uint64 {
	t.Helper()
	ata, _, err := solana.FindAssociatedTokenAddress(solana.MustPublicKeyFromBase58(owner), mint)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "getTokenAccountBalance", "params": []any{ata.String()}})
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Result *struct {
			Value struct{ Amount string } `json:"value"`
		} `json:"result"`
		Error *struct{ Message string } `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Error != nil {
		if strings.Contains(out.Error.Message, "could not find account") {
			return 0
		}
		t.Fatal(out.Error.Message)
	}
	n, _ := strconv.ParseUint(out.Result.Value.Amount, 10, 64)
	return n
}

// TestSettleCLIForgedImportsAndWalletChange drives the command line: an
// operator changes wallet after the plan (status and the dry run warn and
// say how to re-plan; settle plan --replan does it); a forged
// PayoutSubmitted + PayoutConfirmed with an invented signature is imported
// for two operators; submit pays everyone exactly once (the new wallet,
// not the old), as an independent reader of the local VM sees. Then a
// forged PayoutExpired of a landed transaction is imported: the next
// submit pays nobody again.
func TestSettleCLIForgedImportsAndWalletChange(t *testing.T) {
	l, state := startLocalnetState(t)
	data := t.TempDir()
	if code, _, errOut := cli(t, "", "import", "--data", data, writeFile(t, settleNetwork(5, nil))); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	if code, _, errOut := cli(t, "", "settle", "plan", "--data", data, "--epoch", "1"); code != 0 {
		t.Fatalf("plan: %s", errOut)
	}
	oldWallet, newWallet := simlog.Wallet("op-001"), simlog.Wallet("op-001-new")
	b := simlog.New("wallet-change", t0.Add(1e9))
	b.Add("operator-op-001", &domain.OperatorWalletSet{OperatorID: "op-001", Wallet: newWallet})
	if code, _, errOut := cli(t, "", "import", "--data", data, writeFile(t, b)); code != 0 {
		t.Fatalf("import wallet change: %s", errOut)
	}
	code, out, errOut := cli(t, "", "settle", "status", "--data", data, "--epoch", "1", "--json")
	if code != 0 || !strings.Contains(errOut, "settle plan --epoch 1 --replan") || !strings.Contains(out, `"wallet_changes"`) {
		t.Fatalf("status does not warn of the wallet change: %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = cli(t, "", "settle", "submit", "--data", data, "--epoch", "1", "--localnet", state, "--dry-run")
	if code != 0 || !strings.Contains(errOut, newWallet) || !strings.Contains(errOut, "--replan") {
		t.Fatalf("dry run does not warn of the wallet change: %d\n%s", code, errOut)
	}
	if code, out, errOut := cli(t, "", "settle", "plan", "--data", data, "--epoch", "1", "--replan", "--json"); code != 0 || !strings.Contains(out, newWallet) || strings.Contains(out, oldWallet) {
		t.Fatalf("replan: %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := cli(t, "", "settle", "plan", "--data", data, "--epoch", "1", "--replan"); code != 1 || !strings.Contains(errOut, "nothing changed") {
		t.Fatalf("a second replan with nothing changed: %d %s", code, errOut)
	}
	led := settledLedger(t, data)
	st := led.Epoch(1).Settlement
	plan := st.Payouts

	// The forgery: op-000 and op-002 "paid" by a signature no chain has.
	var sigBytes solana.Signature
	rand.Read(sigBytes[:])
	sig := sigBytes.String()
	var rs []domain.Recipient
	for _, p := range plan {
		if p.OperatorID == "op-000" || p.OperatorID == "op-002" {
			rs = append(rs, domain.Recipient{OperatorID: p.OperatorID, Wallet: p.Wallet, Amount: p.Amount})
		}
	}
	f := simlog.New("forger", t0.Add(2e9))
	f.Add(settlement.Stream(1), &domain.PayoutSubmitted{Epoch: 1, Signature: sig, Recipients: rs, Blockhash: solana.Hash{1}.String(), LastValidBlockHeight: 3})
	f.Add(settlement.Stream(1), &domain.PayoutConfirmed{Epoch: 1, Signature: sig, Slot: 4})
	if code, _, errOut := cli(t, "", "import", "--data", data, writeFile(t, f)); code != 0 {
		t.Fatalf("import of the forged confirmation: %s", errOut)
	}
	code, out, errOut = cli(t, "", "settle", "submit", "--data", data, "--epoch", "1", "--localnet", state, "--poll", "5ms", "--json")
	if code != 0 {
		t.Fatalf("submit: %d\n%s\n%s", code, out, errOut)
	}
	var rep settlement.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.AlreadySettled || !rep.Settled || rep.Corrected != 1 {
		t.Fatalf("report %s", out)
	}
	checkPaid := func(when string) {
		t.Helper()
		var total uint64
		for _, p := range plan {
			if got := rawTokenBalance(t, l.RPC, p.Wallet, l.Mint); got != uint64(p.Amount) {
				t.Errorf("%s: %s's wallet holds %d, planned %d", when, p.OperatorID, got, p.Amount)
			}
			total += uint64(p.Amount)
		}
		if got := rawTokenBalance(t, l.RPC, oldWallet, l.Mint); got != 0 {
			t.Errorf("%s: op-001's old wallet received %d", when, got)
		}
		if got := rawTokenBalance(t, l.RPC, l.Treasury.PublicKey().String(), l.Mint); got != l.TreasuryAmount-total {
			t.Errorf("%s: treasury holds %d, want %d", when, got, l.TreasuryAmount-total)
		}
	}
	checkPaid("after submit")

	// A forged expiry of a transaction that landed.
	led = settledLedger(t, data)
	var landed string
	for _, tx := range led.Epoch(1).Settlement.Txs {
		if tx.State == "confirmed" {
			landed = tx.Signature
		}
	}
	f = simlog.New("forger-2", t0.Add(3e9))
	f.Add(settlement.Stream(1), &domain.PayoutExpired{Epoch: 1, Signature: landed})
	if code, _, errOut := cli(t, "", "import", "--data", data, writeFile(t, f)); code != 0 {
		t.Fatalf("import of the forged expiry: %s", errOut)
	}
	if s := settledLedger(t, data).Epoch(1).Settlement; s.Done() {
		t.Fatal("the forged expiry did not reopen the epoch in the log")
	}
	code, out, errOut = cli(t, "", "settle", "submit", "--data", data, "--epoch", "1", "--localnet", state, "--poll", "5ms", "--json")
	if code != 0 {
		t.Fatalf("submit after the forged expiry: %d\n%s\n%s", code, out, errOut)
	}
	rep = settlement.Report{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Transactions != 0 || rep.Corrected != 1 || !rep.Settled {
		t.Fatalf("report after the forged expiry %s", out)
	}
	checkPaid("after the forged expiry")

	// proof verify --rpc: op-001's payout (to its new wallet) is on chain;
	// the same proof naming a signature the chain does not have is not.
	code, out, errOut = cli(t, "", "proof", "--data", data, "--epoch", "1", "--operator", "op-001", "--json")
	if code != 0 {
		t.Fatalf("proof: %s", errOut)
	}
	pf := filepath.Join(t.TempDir(), "p.json")
	if err := os.WriteFile(pf, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := cli(t, "", "proof", "verify", pf, "--rpc", l.RPC, "--mint", l.Mint.String()); code != 0 || !strings.Contains(out, "valid on chain") || !strings.Contains(out, newWallet) {
		t.Fatalf("proof verify --rpc: %d\n%s\n%s", code, out, errOut)
	}
	var doc projections.Proof
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	rand.Read(sigBytes[:])
	doc.Signatures = []string{sigBytes.String()}
	b2, _ := json.Marshal(doc)
	if err := os.WriteFile(pf, b2, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := cli(t, "", "proof", "verify", pf, "--rpc", l.RPC, "--json"); code != 1 || !strings.Contains(out, `"valid":false`) || !strings.Contains(out, "not on chain") {
		t.Fatalf("proof verify --rpc naming a transaction the chain does not have: %d %s", code, out)
	}

	// reconcile: every line matched (exit 0), then a transfer from the
	// treasury behind the ledger's back under the plan's memo (exit 1).
	code, out, errOut = cli(t, "", "reconcile", "--data", data, "--epoch", "1", "--localnet", state, "--csv")
	if code != 0 || strings.Count(out, ",matched,") != 5 || !strings.HasPrefix(out, "epoch,operator_id,wallet,token_account,planned,on_chain,log_state,result,signatures,detail\r\n") {
		t.Fatalf("reconcile of a settled epoch: %d\n%s\n%s", code, out, errOut)
	}
	// DESIGN's form, --rpc alone: the treasury and mint are read from the
	// epoch's landed payouts.
	code, out, errOut = cli(t, "", "reconcile", "--data", data, "--epoch", "1", "--rpc", l.RPC)
	if code != 0 || strings.Count(out, "matched") < 5 {
		t.Fatalf("reconcile --rpc alone: %d\n%s\n%s", code, out, errOut)
	}
	tr := &settlement.Treasury{Authority: l.Treasury.PublicKey(), Source: l.TreasuryTokenAccount, Mint: l.Mint}
	tf, err := settlement.NewTransfer(domain.Recipient{OperatorID: "op-003", Wallet: plan[3].Wallet, Amount: 777}, l.Mint)
	if err != nil {
		t.Fatal(err)
	}
	c := rpc.New(l.RPC)
	bh, err := c.GetLatestBlockhash(context.Background(), rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := settlement.BuildTx(tr, []settlement.Transfer{tf}, domain.Memo(1, st.Root), bh.Value.Blockhash)
	if err != nil {
		t.Fatal(err)
	}
	tx.Sign(func(solana.PublicKey) *solana.PrivateKey { return &l.Treasury })
	if _, err := c.SendTransaction(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = cli(t, "", "reconcile", "--data", data, "--epoch", "1", "--localnet", state, "--json")
	var rec settlement.Reconciliation
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatal(err)
	}
	if code != 1 || rec.Differences != 1 || rec.Lines[len(rec.Lines)-1].Result != settlement.ResultUnexpected || rec.Lines[len(rec.Lines)-1].OnChain != "777" || !strings.Contains(errOut, "differ") {
		t.Fatalf("reconcile after a direct transfer: %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut = cli(t, "", "reconcile", "--data", data, "--epoch", "1", "--rpc", l.RPC, "--json"); code != 1 || !strings.Contains(out, `"unexpected"`) {
		t.Fatalf("reconcile --rpc alone after a direct transfer: %d\n%s\n%s", code, out, errOut)
	}
}

// TestSettleCrashThenForgedImports: a real settle submit process is
// SIGKILLed right after sending its second transaction (both landed, the
// second not yet confirmed in the log). A forger then imports, through the
// command line, a PayoutExpired for every recorded transaction (the landed,
// confirmed one included) and a PayoutSubmitted + PayoutConfirmed of an
// invented signature for two operators nothing was sent to. The next
// submit process pays every operator exactly its planned amount, as the
// independent reader sees, and a further one sends nothing.
func TestSettleCrashThenForgedImports(t *testing.T) {
	l, state := startLocalnetState(t)
	data := filepath.Join(t.TempDir(), "data")
	if code, _, errs := cli(t, "", "import", "--data", data, writeFile(t, settleNetwork(40, nil))); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := cli(t, "", "settle", "plan", "--data", data, "--epoch", "1"); code != 0 {
		t.Fatal(errs)
	}
	args := []string{"settle", "submit", "--epoch", "1", "--data", data, "--localnet", state, "--batch", "1", "--poll", "5ms", "--max-wait", "20s"}
	cmd := child(t, []string{"EPOCHLEDGER_SETTLE_CRASH_AT=after-send:2"}, args...)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("the crash run was not killed:\n%s", out)
	}
	st := settledLedger(t, data).Epoch(1).Settlement
	if len(st.Txs) != 2 {
		t.Fatalf("%d transactions recorded before the kill, want 2", len(st.Txs))
	}
	f := simlog.New("crash-forger", t0.Add(5e9))
	for _, tx := range st.Txs {
		f.Add(settlement.Stream(1), &domain.PayoutExpired{Epoch: 1, Signature: tx.Signature})
	}
	var rs []domain.Recipient
	for _, p := range st.Payouts {
		if ps := st.Operator(p.OperatorID); ps.Reserved == p.Amount && len(rs) < 2 {
			rs = append(rs, domain.Recipient{OperatorID: p.OperatorID, Wallet: p.Wallet, Amount: p.Amount})
		}
	}
	var ghost solana.Signature
	rand.Read(ghost[:])
	f.Add(settlement.Stream(1), &domain.PayoutSubmitted{Epoch: 1, Signature: ghost.String(), Recipients: rs, Blockhash: solana.Hash{2}.String(), LastValidBlockHeight: 3})
	f.Add(settlement.Stream(1), &domain.PayoutConfirmed{Epoch: 1, Signature: ghost.String(), Slot: 4})
	if code, _, errOut := cli(t, "", "import", "--data", data, writeFile(t, f)); code != 0 {
		t.Fatalf("import of the forged facts: %s", errOut)
	}
	for i := 0; i < 2; i++ {
		out, err := child(t, nil, append(args, "--json")...).Output()
		if err != nil {
			t.Fatalf("submit %d: %v\n%s", i, err, out)
		}
		var rep settlement.Report
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatal(err, string(out))
		}
		if !rep.Settled || (i == 0 && rep.Corrected != 3) || (i == 1 && (!rep.AlreadySettled || rep.Transactions != 0)) {
			t.Fatalf("submit %d: %s", i, out)
		}
	}
	var total uint64
	for _, p := range st.Payouts {
		if got := rawTokenBalance(t, l.RPC, p.Wallet, l.Mint); got != uint64(p.Amount) {
			t.Errorf("%s's wallet holds %d, planned %d", p.OperatorID, got, p.Amount)
		}
		total += uint64(p.Amount)
	}
	if got := rawTokenBalance(t, l.RPC, l.Treasury.PublicKey().String(), l.Mint); got != l.TreasuryAmount-total {
		t.Errorf("treasury holds %d, want %d", got, l.TreasuryAmount-total)
	}
}
