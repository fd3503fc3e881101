package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/scenarios/simlog"
	"github.com/epochledger/epochledger/settlement"
	"github.com/epochledger/epochledger/settlement/localnet"
)

// The test binary doubles as the epochledger binary for crash tests: run
// with EPOCHLEDGER_SETTLE_TEST_CHILD=1 it executes the command line in its
// arguments and exits, so a child can be killed like the real program.
func init() {
	if os.Getenv("EPOCHLEDGER_SETTLE_TEST_CHILD") != "1" {
		return
	}
	main()
}

// child starts the command line as a separate process.
func child(t *testing.T, extraEnv []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "EPOCHLEDGER_SETTLE_TEST_CHILD=1"), extraEnv...)
	return cmd
}

// cliEnv runs the command line in-process with an environment.
func cliEnv(t *testing.T, vars map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }}
	code := run(context.Background(), args, e)
	return code, out.String(), errb.String()
}

// settleNetwork is n operators with one node each and compute work; those
// in noWallet have no wallet. Epoch 1 closes.
func settleNetwork(n int, noWallet map[int]bool) *simlog.Builder {
	b := simlog.New(fmt.Sprintf("cli-settle-%d", n), t0)
	for i := 0; i < n; i++ {
		op, node := fmt.Sprintf("op-%03d", i), fmt.Sprintf("node-%03d", i)
		b.Node(node, op, "700")
		if !noWallet[i] {
			b.SetWallet(op)
		}
		b.Compute(fmt.Sprintf("t-%03d", i), node, 120_000, fmt.Sprint(2+i%5))
	}
	b.CloseEpoch(1, domain.DefaultEmission)
	return b
}

func startLocalnetState(t *testing.T) (*localnet.Localnet, string) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, err := localnet.Start(ctx, localnet.Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, dir
}

// settledLedger folds the log read-only.
func settledLedger(t *testing.T, data string) *projections.Ledger {
	t.Helper()
	s, err := filestore.Open(data, &filestore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := projections.Build(context.Background(), s, projections.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// assertBalances checks chain against ledger: settled says every wallet
// holds exactly what the ledger paid it; otherwise at least paid and at
// most paid + in flight. The treasury lost exactly what wallets gained.
func assertBalances(t *testing.T, l *localnet.Localnet, led *projections.Ledger, settled bool) {
	t.Helper()
	ctx := context.Background()
	paid, inflight := map[string]uint64{}, map[string]uint64{}
	for _, o := range led.Operators {
		if o.Wallet != "" {
			paid[o.Wallet] += uint64(o.Paid)
			inflight[o.Wallet] += uint64(o.InFlight)
		}
	}
	var moved uint64
	for w := range paid {
		got, err := l.TokenBalance(ctx, solana.MustPublicKeyFromBase58(w), l.Mint)
		if err != nil {
			t.Fatal(err)
		}
		if settled && (got != paid[w] || inflight[w] != 0) {
			t.Errorf("wallet %s holds %d, the ledger paid %d (in flight %d)", w, got, paid[w], inflight[w])
		}
		if got < paid[w] || got > paid[w]+inflight[w] {
			t.Errorf("wallet %s holds %d: paid %d, in flight %d", w, got, paid[w], inflight[w])
		}
		moved += got
	}
	tr, err := l.TokenBalance(ctx, l.Treasury.PublicKey(), l.Mint)
	if err != nil {
		t.Fatal(err)
	}
	if tr != l.TreasuryAmount-moved {
		t.Errorf("treasury %d, want %d − %d", tr, l.TreasuryAmount, moved)
	}
}

func TestSettleCLIPlanSubmitStatusProof(t *testing.T) {
	l, state := startLocalnetState(t)
	data := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"EPOCHLEDGER_DATA": data, "EPOCHLEDGER_LOCALNET": state}
	if code, _, errs := cliEnv(t, env, "", "import", writeFile(t, settleNetwork(12, map[int]bool{4: true}))); code != 0 {
		t.Fatal(errs)
	}
	// Usage errors exit 2; refusals 1, naming the rule.
	if code, _, _ := cliEnv(t, env, "", "settle", "plan"); code != 2 {
		t.Fatalf("plan without --epoch: exit %d", code)
	}
	if code, _, errs := cliEnv(t, env, "", "settle", "plan", "--epoch", "3"); code != 1 || !strings.Contains(errs, "epoch 3 does not exist") {
		t.Fatalf("plan of an unknown epoch: %d %s", code, errs)
	}
	if code, _, errs := cliEnv(t, env, "", "settle", "submit", "--epoch", "1", "--poll", "5ms"); code != 1 || !strings.Contains(errs, "settle plan --epoch 1") {
		t.Fatalf("submit before plan: %d %s", code, errs)
	}
	code, out, errs := cliEnv(t, env, "", "settle", "plan", "--epoch", "1", "--json")
	if code != 0 {
		t.Fatal(errs)
	}
	var plan planDoc
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatal(err)
	}
	if len(plan.Payouts) != 11 || strings.Join(plan.CarriedForward, ",") != "op-004" || plan.Memo != "epochledger:1:"+plan.Root {
		t.Fatalf("plan: %+v", plan)
	}
	// Planning again prints the recorded plan.
	code, out, _ = cliEnv(t, env, "", "settle", "plan", "--epoch", "1")
	if code != 0 || !strings.Contains(out, "already planned") || !strings.Contains(out, plan.Root) {
		t.Fatalf("plan again: %d %s", code, out)
	}
	// An RPC that is down: refused, nothing appended.
	headBefore := settledLedger(t, data).Position
	code, _, errs = cliEnv(t, env, "", "settle", "submit", "--epoch", "1", "--rpc", "http://127.0.0.1:1", "--poll", "5ms")
	if code != 1 || !strings.Contains(errs, "does not answer") || settledLedger(t, data).Position != headBefore {
		t.Fatalf("RPC down: %d %s", code, errs)
	}
	// Dry run: simulated, nothing recorded.
	code, out, errs = cliEnv(t, env, "", "settle", "submit", "--epoch", "1", "--dry-run")
	if code != 0 || !strings.Contains(out, "nothing recorded or sent") || settledLedger(t, data).Position != headBefore {
		t.Fatalf("dry run: %d %s %s", code, out, errs)
	}
	code, out, errs = cliEnv(t, env, "", "settle", "submit", "--epoch", "1", "--poll", "5ms", "--json")
	if code != 0 {
		t.Fatalf("submit: %d %s %s", code, out, errs)
	}
	var rep settlement.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Settled || rep.Transactions != 2 || rep.Paid.String() != plan.Total {
		t.Fatalf("report %+v", rep)
	}
	assertBalances(t, l, settledLedger(t, data), true)
	code, out, _ = cliEnv(t, env, "", "settle", "submit", "--epoch", "1")
	if code != 0 || !strings.Contains(out, "already settled") {
		t.Fatalf("second submit: %d %s", code, out)
	}
	// Status per operator.
	code, out, _ = cliEnv(t, env, "", "settle", "status", "--epoch", "1", "--json")
	var st statusDoc
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("status: %d %s", code, out)
	}
	if st.State != "confirmed" || len(st.Operators) != 11 || st.Confirmed != plan.Total || st.InFlight != "0" || len(st.Transactions) != 2 {
		t.Fatalf("status %+v", st)
	}
	for _, o := range st.Operators {
		if o.Confirmed != o.Planned || len(o.Signatures) != 1 {
			t.Fatalf("status of %s: %+v", o.OperatorID, o)
		}
	}
	// The operator's proof, verified against the root, through a file and stdin.
	code, proofJSON, errs := cliEnv(t, env, "", "proof", "--epoch", "1", "--operator", "op-007", "--json")
	if code != 0 {
		t.Fatal(errs)
	}
	pf := filepath.Join(t.TempDir(), "proof.json")
	os.WriteFile(pf, []byte(proofJSON), 0o644)
	if code, out, _ := cliEnv(t, env, "", "proof", "verify", pf, "--root", plan.Root); code != 0 || !strings.HasPrefix(out, "valid") {
		t.Fatalf("verify: %d %s", code, out)
	}
	if code, out, _ := cliEnv(t, env, proofJSON, "proof", "verify", "--root", strings.Repeat("0", 64)); code != 1 || !strings.Contains(out, "INVALID") {
		t.Fatalf("verify against another root: %d %s", code, out)
	}
	forged := strings.Replace(proofJSON, `"amount":"`, `"amount":"1`, 1)
	if code, _, _ := cliEnv(t, env, forged, "proof", "verify", "-", "--root", plan.Root); code != 1 {
		t.Fatalf("forged amount verified: %d", code)
	}
	if code, _, _ := cliEnv(t, env, "", "proof", "verify", pf); code != 2 {
		t.Fatalf("verify without --root: %d", code)
	}
	if code, _, errs := cliEnv(t, env, "", "proof", "--epoch", "1", "--operator", "op-004"); code != 1 || !strings.Contains(errs, "carried forward") {
		t.Fatalf("proof of a carried operator: %d %s", code, errs)
	}
	code, out, _ = cliEnv(t, env, "", "proof", "--epoch", "1", "--operator", "op-007")
	if code != 0 || !strings.Contains(out, "confirmed in") {
		t.Fatalf("proof text: %s", out)
	}
}

// TestSettleCrashChildProcesses kills real `settle submit` processes with
// SIGKILL at every crash point and at random times, under dropped sends,
// timed-out replies and an expired blockhash, and checks after every kill
// that the chain agrees with the log, and at the end that every operator
// holds exactly their allocation.
func TestSettleCrashChildProcesses(t *testing.T) {
	for _, version := range []string{settlement.TxLegacy, settlement.TxV0} {
		t.Run(version, func(t *testing.T) { settleCrashChildProcesses(t, version) })
	}
}

// settleCrashChildProcesses is TestSettleCrashChildProcesses for one
// transaction version. For v0 it first kills the process after the
// table's creation is recorded, after it is sent, after an extension is
// recorded (whose blockhash then expires before the next run: the
// resumed run must give it up and extend again) and after one is sent.
// Legacy runs every crash point; v0 runs the table points and two payout
// points by default, and all the rest with EPOCHLEDGER_SETTLE_CRASH_FULL=1.
func settleCrashChildProcesses(t *testing.T, version string) {
	full := version == settlement.TxLegacy || os.Getenv("EPOCHLEDGER_SETTLE_CRASH_FULL") != ""
	l, state := startLocalnetState(t)
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"EPOCHLEDGER_DATA": data}
	// 100 operators: 12 legacy transactions (10 v0), in batches of 3.
	if code, _, errs := cliEnv(t, env, "", "import", writeFile(t, settleNetwork(100, nil))); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := cliEnv(t, env, "", "settle", "plan", "--epoch", "1"); code != 0 {
		t.Fatal(errs)
	}
	args := []string{"settle", "submit", "--epoch", "1", "--data", data, "--localnet", state, "--batch", "3", "--poll", "5ms", "--rebroadcast", "100ms", "--send-timeout", "500ms", "--max-wait", "20s", "--tx-version", version}
	killedAt := func(crashAt string) {
		t.Helper()
		cmd := child(t, []string{"EPOCHLEDGER_SETTLE_CRASH_AT=" + crashAt}, args...)
		out, err := cmd.CombinedOutput()
		ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if err == nil || !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("crash at %s: want death by SIGKILL, got %v\n%s", crashAt, err, out)
		}
		assertBalances(t, l, settledLedger(t, data), false)
	}
	if version == settlement.TxV0 {
		killedAt("table-after-record:1")                 // the creation recorded, not sent
		killedAt("table-after-send:1")                   // the creation (re)sent
		killedAt("table-after-record:2")                 // an extension recorded, not sent…
		if err := l.AdvanceSlots(ctx, 151); err != nil { // …and its blockhash expires
			t.Fatal(err)
		}
		killedAt("table-after-send:2") // an extension sent
	}
	killedAt("after-append:1")                       // recorded, nothing sent
	killedAt("after-send:2")                         // resent one, sent one of a new batch
	if err := l.AdvanceSlots(ctx, 151); err != nil { // what is in flight expires
		t.Fatal(err)
	}
	if full {
		killedAt("after-confirm:1")
		if err := l.SetFaults(ctx, localnet.Faults{DropNextSends: 2, TimeoutNextSends: 1, FailNextSends: 1, TimeoutDelay: 2 * time.Second}); err != nil {
			t.Fatal(err)
		}
		killedAt("after-send:4") // mid-batch, under faults
		if version == settlement.TxLegacy {
			killedAt("after-append:2")
		} else {
			killedAt("after-append:1") // v0 has fewer transactions left by now
		}

		// Random-time kills.
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 4; i++ {
			cmd := child(t, nil, args...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Duration(30+rng.IntN(250)) * time.Millisecond)
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
			assertBalances(t, l, settledLedger(t, data), false)
		}
	}
	var before uint64
	// Then run to the end, twice: the second sends nothing.
	for i := 0; i < 2; i++ {
		if i == 1 {
			if err := l.Call(ctx, "getTransactionCount", nil, &before); err != nil {
				t.Fatal(err)
			}
		}
		out, err := child(t, nil, append(args, "--json")...).Output()
		if err != nil {
			t.Fatalf("final submit: %v\n%s", err, out)
		}
		var rep settlement.Report
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatal(err, string(out))
		}
		if !rep.Settled || (i == 1 && (!rep.AlreadySettled || rep.Transactions != 0 || rep.TableTransactions != 0)) {
			t.Fatalf("run %d: %+v", i, rep)
		}
	}
	var after uint64
	if err := l.Call(ctx, "getTransactionCount", nil, &after); err != nil || after != before {
		t.Fatalf("the submit of a settled epoch sent %d transactions (%v)", after-before, err)
	}
	led := settledLedger(t, data)
	assertBalances(t, l, led, true)
	var allocated, paid domain.BaseUnits
	for _, o := range led.Operators {
		allocated += o.Allocated
		paid += o.Paid
		if o.Paid != o.Allocated {
			t.Errorf("%s: allocated %s, paid %s", o.ID, o.Allocated, o.Paid)
		}
	}
	if paid != domain.DefaultEmission {
		t.Fatalf("paid %s of %s", paid, domain.DefaultEmission)
	}
	st := led.Epoch(1).Settlement
	expired, v0, tableRecords := 0, 0, 0
	for _, tx := range st.Txs {
		if tx.State == "expired" {
			expired++
		}
	}
	// The records as stored: v0 ones name their tables and loaded addresses.
	code, out, errs := cliEnv(t, env, "", "export")
	if code != 0 {
		t.Fatal(errs)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev struct {
			Type string `json:"type"`
			Data struct {
				LookupTables    []string                `json:"lookup_tables"`
				LoadedAddresses *domain.LoadedAddresses `json:"loaded_addresses"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		switch ev.Type {
		case domain.TypePayoutSubmitted:
			if len(ev.Data.LookupTables) > 0 && ev.Data.LoadedAddresses != nil && len(ev.Data.LoadedAddresses.Writable) > 0 {
				v0++
			}
		case domain.TypeLookupTableCreated, domain.TypeLookupTableExtended:
			tableRecords++
		}
	}
	if version == settlement.TxV0 && tableRecords < 2 || version == settlement.TxLegacy && tableRecords != 0 {
		t.Fatalf("%s: %d lookup-table records", version, tableRecords)
	}
	t.Logf("%s: %d transactions recorded (%d through lookup tables), %d expired and re-planned", version, len(st.Txs), v0, expired)
	if expired == 0 {
		t.Fatal("the expiry path was not exercised")
	}
	if version == settlement.TxV0 && v0 != len(st.Txs) || version == settlement.TxLegacy && v0 != 0 {
		t.Fatalf("%s: %d of %d recorded transactions name lookup tables", version, v0, len(st.Txs))
	}
}

func TestSettleCLIExportSignImport(t *testing.T) {
	l, state := startLocalnetState(t)
	data := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"EPOCHLEDGER_DATA": data, "EPOCHLEDGER_LOCALNET": state}
	if code, _, errs := cliEnv(t, env, "", "import", writeFile(t, settleNetwork(15, nil))); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := cliEnv(t, env, "", "settle", "plan", "--epoch", "1"); code != 0 {
		t.Fatal(errs)
	}
	dir := filepath.Join(t.TempDir(), "export")
	// The offline side has no keypair file: only the authority's address.
	noKey := map[string]string{"EPOCHLEDGER_DATA": data}
	code, out, errs := cliEnv(t, noKey, "", "settle", "submit", "--epoch", "1", "--rpc", l.RPC, "--mint", l.Mint.String(), "--authority", l.Treasury.PublicKey().String(), "--export-unsigned", dir)
	if code != 0 || !strings.Contains(out, "exported 2 unsigned transactions") {
		t.Fatalf("export: %d %s %s", code, out, errs)
	}
	// v0 (the default): the export carries the table's creation and
	// extension, signed offline with the payouts.
	if !strings.Contains(out, "after 2 lookup-table steps") {
		t.Fatalf("export: %s", out)
	}
	if code, out, errs := cliEnv(t, noKey, "", "settle", "sign", dir, "--keypair", filepath.Join(state, "treasury.json")); code != 0 || !strings.Contains(out, "signed 2 transactions and 2 lookup-table steps") {
		t.Fatalf("sign: %d %s %s", code, out, errs)
	}
	code, out, errs = cliEnv(t, env, "", "settle", "import-signed", dir, "--poll", "5ms", "--json")
	if code != 0 {
		t.Fatalf("import-signed: %d %s %s", code, out, errs)
	}
	var rep settlement.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || !rep.Settled || rep.Transactions != 2 {
		t.Fatalf("import report %s", out)
	}
	assertBalances(t, l, settledLedger(t, data), true)
}

func TestLocalnetCommandStartsAndStops(t *testing.T) {
	state := t.TempDir()
	cmd := child(t, nil, "localnet", "--port", "0", "--state", state)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var info *localnet.State
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var err error
		if info, err = localnet.ReadState(state); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no localnet.json: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	key, err := settlement.ReadKeypair(info.TreasuryKeypair)
	if err != nil {
		t.Fatal(err)
	}
	c := settlement.Dial(info.RPC)
	mint := solana.MustPublicKeyFromBase58(info.Mint)
	if dec, err := c.MintInfo(context.Background(), mint); err != nil || dec != 8 {
		t.Fatalf("mint: %d %v", dec, err)
	}
	ata, _, _ := solana.FindAssociatedTokenAddress(key.PublicKey(), mint)
	if ata.String() != info.TreasuryTokenAccount {
		t.Fatalf("treasury token account %s, want %s", info.TreasuryTokenAccount, ata)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("localnet exit: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), info.RPC) || !strings.Contains(out.String(), info.Mint) {
		t.Fatalf("output lacks the endpoint: %s", out.String())
	}
	if _, err := os.Stat(filepath.Join(state, "localnet.json")); !os.IsNotExist(err) {
		t.Fatal("localnet.json outlives the server")
	}
}

// TestSettlePlanReportsCost (issue #21 item 3): with a chain, settle plan
// --json reports what paying the plan takes — transactions (v0 and the
// lookup-table transactions before them), compute units and lamports
// (signatures, priority fees, rent of new token accounts and table space)
// — the same figures settle submit --dry-run --json prints, sending
// nothing; --tx-version legacy reports legacy packing; without a chain
// the plan prints no cost. A treasury too poor is named, not refused.
func TestSettlePlanReportsCost(t *testing.T) {
	l, state := startLocalnetState(t)
	if err := l.SetPrioritizationFees(context.Background(), []uint64{2000}); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"EPOCHLEDGER_DATA": data, "EPOCHLEDGER_LOCALNET": state}
	if code, _, errs := cliEnv(t, env, "", "import", writeFile(t, settleNetwork(12, nil))); code != 0 {
		t.Fatal(errs)
	}
	// No chain: no cost.
	code, out, errs := cliEnv(t, map[string]string{"EPOCHLEDGER_DATA": data}, "", "settle", "plan", "--epoch", "1", "--json")
	if code != 0 || strings.Contains(out, `"cost"`) {
		t.Fatalf("plan without a chain: %d %s %s", code, out, errs)
	}
	code, out, errs = cliEnv(t, env, "", "settle", "plan", "--epoch", "1", "--json")
	var plan planDoc
	if code != 0 || json.Unmarshal([]byte(out), &plan) != nil || plan.Cost == nil {
		t.Fatalf("plan: %d %s %s", code, out, errs)
	}
	c := plan.Cost
	// 12 new token accounts: 2 v0 transactions (10 with creation each);
	// the table's creation and one extension (14 addresses).
	if c.TxVersion != "v0" || c.Transactions != 2 || c.TableTransactions != 2 || c.NewTokenAccounts != 12 || c.ComputeUnits == 0 ||
		c.ComputeUnitLimit <= c.ComputeUnits || !c.UnitsEstimated || c.PriorityFee != 2000 || c.SignatureLamports != 4*settlement.SignatureFee ||
		c.PriorityLamports == 0 || c.RentLamports == 0 || c.TotalLamports != c.SignatureLamports+c.PriorityLamports+c.RentLamports || c.Shortfall != "" {
		t.Fatalf("plan cost %+v", c)
	}
	// The dry run prints the same figures.
	code, out, errs = cliEnv(t, env, "", "settle", "submit", "--epoch", "1", "--dry-run", "--json")
	var dr settlement.DryRun
	if code != 0 || json.Unmarshal([]byte(out), &dr) != nil || dr.Cost == nil {
		t.Fatalf("dry run: %d %s %s", code, out, errs)
	}
	if len(dr.Transactions) != c.Transactions || len(dr.TableSteps) != c.TableTransactions || dr.Cost.TotalLamports != c.TotalLamports || dr.ComputeUnits != c.ComputeUnits {
		t.Fatalf("dry run %+v %+v, plan's cost %+v", dr, dr.Cost, c)
	}
	var priority uint64
	for _, tx := range dr.Transactions {
		// The priority fee is price × limit, rounded up, per transaction.
		if tx.Version != "v0" || tx.ComputeUnitLimit == 0 || tx.PriorityLamports != (uint64(tx.ComputeUnitLimit)*2000+999_999)/1_000_000 {
			t.Fatalf("dry run tx %+v", tx)
		}
		priority += tx.PriorityLamports
	}
	if priority != c.PriorityLamports {
		t.Fatalf("priority fees %d in the dry run's transactions, %d in the plan's cost", priority, c.PriorityLamports)
	}
	code, out, _ = cliEnv(t, env, "", "settle", "submit", "--epoch", "1", "--dry-run")
	if code != 0 || !strings.Contains(out, "in 2 v0 transactions") || !strings.Contains(out, "2 lookup-table transactions first") || !strings.Contains(out, "CU_LIMIT") {
		t.Fatalf("dry run text: %d %s", code, out)
	}
	// Legacy: 9 transfers with creation per transaction, no table.
	code, out, errs = cliEnv(t, env, "", "settle", "plan", "--epoch", "1", "--json", "--tx-version", "legacy")
	if code != 0 || json.Unmarshal([]byte(out), &plan) != nil || plan.Cost == nil {
		t.Fatalf("plan legacy: %d %s %s", code, out, errs)
	}
	if c := plan.Cost; c.TxVersion != "legacy" || c.Transactions != 2 || c.TableTransactions != 0 || c.PriorityLamports != 0 || c.SignatureLamports != 2*settlement.SignatureFee {
		t.Fatalf("legacy cost %+v", c)
	}
	// Nothing was sent.
	if bal, err := l.TokenBalance(context.Background(), l.Treasury.PublicKey(), l.Mint); err != nil || bal != l.TreasuryAmount {
		t.Fatalf("treasury %d %v", bal, err)
	}
	// A treasury without the tokens: the plan names the shortfall.
	poor := solana.NewWallet()
	if _, err := l.MintTo(context.Background(), l.Mint, poor.PublicKey(), 1); err != nil {
		t.Fatal(err)
	}
	if err := l.Airdrop(context.Background(), poor.PublicKey(), 1_000_000_000); err != nil {
		t.Fatal(err)
	}
	code, out, errs = cliEnv(t, map[string]string{"EPOCHLEDGER_DATA": data}, "", "settle", "plan", "--epoch", "1", "--json",
		"--rpc", l.RPC, "--mint", l.Mint.String(), "--authority", poor.PublicKey().String())
	if code != 0 || json.Unmarshal([]byte(out), &plan) != nil || plan.Cost == nil || !strings.Contains(plan.Cost.Shortfall, "short by") {
		t.Fatalf("poor treasury: %d %s %s", code, out, errs)
	}
}
