package settlement_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/scenarios/simlog"
	"github.com/epochledger/epochledger/settlement"
	"github.com/epochledger/epochledger/settlement/localnet"
)

const emission = domain.BaseUnits(4_700_000_000_000)

func TestSettlePlanProofsAndCarryForward(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, network(25, map[int]bool{3: true, 11: true}, emission))
	p, err := settlement.Derive(w.ledger(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Payouts) != 23 || strings.Join(p.Carried, ",") != "op-003,op-011" {
		t.Fatalf("payouts %d carried %v", len(p.Payouts), p.Carried)
	}
	ep := w.ledger().Epoch(1)
	if p.Total != emission-ep.Allocations["op-003"]-ep.Allocations["op-011"] {
		t.Fatalf("total %s", p.Total)
	}
	pos, err := settlement.Record(ctx, w.j, p)
	if err != nil || pos == 0 {
		t.Fatal(pos, err)
	}
	// A second plan of the epoch is refused, by Derive and by the ledger.
	if _, err := settlement.Derive(w.ledger(), 1); !errors.Is(err, settlement.ErrAlreadyPlanned) {
		t.Fatalf("second Derive: %v", err)
	}
	if _, err := settlement.Record(ctx, w.j, p); err == nil || !strings.Contains(err.Error(), "already has a settlement plan") {
		t.Fatalf("second Record: %v", err)
	}
	// Every payout's proof verifies against the root, through JSON; a
	// changed amount, wallet or index does not.
	w.reload()
	st := w.ledger().Epoch(1).Settlement
	if st == nil || st.Root != p.RootHex() || st.PlannedAt != pos {
		t.Fatalf("settlement after reload: %+v", st)
	}
	for _, po := range p.Payouts {
		pr, err := projections.BuildProof(st, po.OperatorID)
		if err != nil {
			t.Fatal(err)
		}
		if err := pr.Verify(p.RootHex()); err != nil {
			t.Fatalf("%s: %v", po.OperatorID, err)
		}
		// The proof's memo is the one the payout transactions carry.
		if want := domain.Memo(p.Epoch, p.RootHex()); pr.Memo != want {
			t.Fatalf("%s: proof memo %q, transactions carry %q", po.OperatorID, pr.Memo, want)
		}
		bad := *pr
		bad.Amount++
		bad.Leaf = ""
		if bad.Verify(p.RootHex()) == nil {
			t.Fatal("a proof verified a changed amount")
		}
		bad = *pr
		bad.LeafIndex ^= 1
		if bad.Verify(p.RootHex()) == nil {
			t.Fatal("a proof verified at another index")
		}
	}
	if _, err := projections.BuildProof(st, "op-003"); !errors.Is(err, projections.ErrNotInPlan) {
		t.Fatalf("proof of a carried operator: %v", err)
	}

	// Epoch 2: op-003 gets a wallet; epoch 3 closes before epoch 2 is
	// planned. Epoch 2's plan pays op-003 epochs 1 and 2, not epoch 3.
	b := more("settle-25-more")
	b.SetWallet("op-003")
	b.Compute("task-003-2", "node-003", 60_000, "5")
	b.Compute("task-004-2", "node-004", 60_000, "5")
	b.CloseEpoch(2, emission)
	b.Compute("task-003-3", "node-003", 60_000, "5")
	b.CloseEpoch(3, emission)
	w.add(b)
	p2, err := settlement.Derive(w.ledger(), 2)
	if err != nil {
		t.Fatal(err)
	}
	l := w.ledger()
	if len(p2.Payouts) != 2 || p2.Payouts[0].OperatorID != "op-003" || p2.Payouts[1].OperatorID != "op-004" {
		t.Fatalf("epoch 2 payouts %+v", p2.Payouts)
	}
	want3 := l.Epoch(1).Allocations["op-003"] + l.Epoch(2).Allocations["op-003"]
	if got := p2.Payouts[0]; got.Amount != want3 || fmt.Sprint(got.Epochs) != "[1 2]" {
		t.Fatalf("op-003 in epoch 2's plan: %s %v, want %s [1 2]", got.Amount, got.Epochs, want3)
	}
	if got := p2.Payouts[1]; got.Amount != l.Epoch(2).Allocations["op-004"] || fmt.Sprint(got.Epochs) != "[2]" {
		t.Fatalf("op-004 in epoch 2's plan: %+v", got)
	}
	if strings.Join(p2.Carried, ",") != "op-011" {
		t.Fatalf("carried %v", p2.Carried)
	}
	w.plan(2)
	p3 := w.plan(3)
	if len(p3.Payouts) != 1 || p3.Payouts[0].Amount != l.Epoch(3).Allocations["op-003"] || fmt.Sprint(p3.Payouts[0].Epochs) != "[3]" {
		t.Fatalf("epoch 3 payouts %+v", p3.Payouts)
	}
	// An open or unknown epoch has no plan.
	if _, err := settlement.Derive(w.ledger(), 4); !errors.Is(err, settlement.ErrEpochOpen) {
		t.Fatalf("open epoch: %v", err)
	}
	if _, err := settlement.Derive(w.ledger(), 9); !errors.Is(err, settlement.ErrUnknownEpoch) {
		t.Fatalf("unknown epoch: %v", err)
	}
}

func TestSettlePlanSplitIntoParts(t *testing.T) {
	if testing.Short() {
		t.Skip("12,000 operators")
	}
	ctx := context.Background()
	w := newWorld(t, network(12_000, nil, emission))
	p, err := settlement.Derive(w.ledger(), 1)
	if err != nil {
		t.Fatal(err)
	}
	evs := p.Events()
	if len(evs) < 2 {
		t.Fatalf("a plan of %d payouts is one event", len(p.Payouts))
	}
	for _, e := range evs {
		data, err := domain.EncodeEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > domain.MaxDataLen {
			t.Fatalf("part %d is %d bytes", e.Part, len(data))
		}
	}
	head := w.head()
	if _, err := settlement.Record(ctx, w.j, p); err != nil {
		t.Fatal(err)
	}
	if got := w.typesSince(head)[domain.TypeSettlementPlanned]; got != len(evs) {
		t.Fatalf("%d SettlementPlanned stored, want %d", got, len(evs))
	}
	inMemory := w.ledger().Epoch(1).Settlement
	w.reopen()
	st := w.ledger().Epoch(1).Settlement
	if st == nil || st.Incomplete() || st.Root != p.RootHex() || len(st.Payouts) != len(p.Payouts) || st.PlannedAt != inMemory.PlannedAt || st.PlannedAt != head+1 {
		t.Fatalf("folded split plan: %v payouts, root %s (want %s), planned at %d/%d", len(st.Payouts), st.Root, p.RootHex(), st.PlannedAt, inMemory.PlannedAt)
	}
	pr, err := projections.BuildProof(st, "op-11999")
	if err != nil {
		t.Fatal(err)
	}
	if err := pr.Verify(p.RootHex()); err != nil {
		t.Fatal(err)
	}
	// Parts out of order, or parts whose payouts do not add up to the
	// root, are refused by the ledger.
	w2 := newWorld(t, network(12_000, nil, emission))
	tm := t0.Format(time.RFC3339)
	if err := w2.ledger().Check(tm, evs[1]); err == nil || !strings.Contains(err.Error(), "out of order") {
		t.Fatalf("part 2 first: %v", err)
	}
	if len(evs) == 2 {
		short := *evs[1]
		short.Payouts = short.Payouts[1:]
		if err := w2.ledger().Check(tm, evs[0]); err != nil {
			t.Fatal(err)
		}
		w2.ledger().Apply(w2.ledger().Position+1, evs[0])
		if err := w2.ledger().Check(tm, &short); err == nil || !strings.Contains(err.Error(), "sum of the payouts") {
			t.Fatalf("last part lacking a payout: %v", err)
		}
	}
}

func TestSettlePackSizes(t *testing.T) {
	tr := &settlement.Treasury{Authority: solana.NewWallet().PublicKey(), Mint: solana.NewWallet().PublicKey()}
	tr.Source, _, _ = solana.FindAssociatedTokenAddress(tr.Authority, tr.Mint)
	memo := domain.Memo(12, strings.Repeat("ab", 32))
	if n := settlement.MaxTransfers(tr, true, len(memo)); n != 9 {
		t.Errorf("max transfers with ATA creation = %d, want 9", n)
	}
	if n := settlement.MaxTransfers(tr, false, len(memo)); n != 18 {
		t.Errorf("max transfers without ATA creation = %d, want 18", n)
	}
	// The sizer agrees with the wire bytes on random mixes, and every
	// packed transaction is within the limit, and full.
	var transfers []settlement.Transfer
	for i := 0; i < 200; i++ {
		r := domain.Recipient{OperatorID: opID(i), Wallet: simlog.Wallet(opID(i)), Amount: domain.BaseUnits(1 + i)}
		if i%17 == 5 { // two operators sharing a wallet
			r.Wallet = simlog.Wallet(opID(i - 1))
		}
		tf, err := settlement.NewTransfer(r, tr.Mint)
		if err != nil {
			t.Fatal(err)
		}
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(i*2654435761))
		tf.Create = b[0]%3 != 0
		transfers = append(transfers, tf)
	}
	groups := settlement.Pack(tr, transfers, len(memo))
	total := 0
	for gi, g := range groups {
		total += len(g)
		tx, err := settlement.BuildTx(tr, g, memo, solana.Hash{1})
		if err != nil {
			t.Fatal(err)
		}
		n, _ := settlement.TxSize(tx)
		if n > settlement.MaxTxSize {
			t.Fatalf("group %d: %d bytes", gi, n)
		}
		if gi+1 < len(groups) {
			next := append(append([]settlement.Transfer(nil), g...), groups[gi+1][0])
			tx2, _ := settlement.BuildTx(tr, next, memo, solana.Hash{1})
			if n2, _ := settlement.TxSize(tx2); n2 <= settlement.MaxTxSize {
				t.Fatalf("group %d is not full: one more transfer still fits (%d bytes)", gi, n2)
			}
		}
		if err := settlement.VerifyPayoutTx(tx, tr, g, memo); err != nil {
			t.Fatal(err)
		}
	}
	if total != len(transfers) {
		t.Fatalf("packed %d of %d", total, len(transfers))
	}
}

// legacy is cfg with --tx-version legacy: v1's transactions, whose
// packing and counts the legacy tests pin.
func legacy(cfg settlement.Config) settlement.Config {
	cfg.TxVersion = settlement.TxLegacy
	return cfg
}

// versions runs f once per transaction version, each on its own chain.
func versions(t *testing.T, f func(t *testing.T, version string)) {
	for _, v := range []string{settlement.TxLegacy, settlement.TxV0} {
		t.Run(v, func(t *testing.T) { f(t, v) })
	}
}

func TestSettleEndToEndOnLocalnet(t *testing.T) {
	l := startLocalnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// 30 operators, two without a wallet: 4 transactions (9 with creation each).
	w := newWorld(t, network(30, map[int]bool{7: true, 20: true}, emission))
	p := w.plan(1)

	// A dry run simulates and records nothing.
	head := w.head()
	c := dial(l)
	dr, err := settlement.NewSettler(c, w.j, legacy(fastConfig(l, 1))).DryRun(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if dr.Failures != 0 || dr.Recipients != 28 || len(dr.Transactions) != 4 || dr.Total != p.Total.String() {
		t.Fatalf("dry run: %+v", dr)
	}
	if c := dr.Cost; c == nil || c.Transactions != 4 || c.Creates != 28 || c.SignatureLamports != 4*settlement.SignatureFee || c.RentLamports == 0 ||
		c.TotalLamports != c.SignatureLamports+c.RentLamports || c.Tokens != p.Total || dr.ComputeUnits == 0 {
		t.Fatalf("dry run cost: %+v, %d CU", dr.Cost, dr.ComputeUnits)
	}
	for _, tx := range dr.Transactions {
		if tx.Units == 0 || tx.Bytes > settlement.MaxTxSize || tx.Creates != tx.Recipients {
			t.Fatalf("dry run tx: %+v", tx)
		}
	}
	if w.head() != head {
		t.Fatal("dry run appended to the log")
	}
	if bal, _ := l.TokenBalance(ctx, l.Treasury.PublicKey(), l.Mint); bal != l.TreasuryAmount {
		t.Fatal("dry run moved tokens")
	}

	rep, err := w.submit(ctx, l, legacy(fastConfig(l, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Settled || rep.Transactions != 4 || rep.Confirmed != 4 || rep.Paid != p.Total || rep.Expired != 0 {
		t.Fatalf("report %+v", rep)
	}
	if paid := checkBalances(t, ctx, l, w.ledger()); paid != p.Total {
		t.Fatalf("paid %s, plan total %s", paid, p.Total)
	}
	// A second submit sends nothing and appends nothing.
	head = w.head()
	var before uint64
	if err := l.Call(ctx, "getTransactionCount", nil, &before); err != nil {
		t.Fatal(err)
	}
	rep, err = w.submit(ctx, l, legacy(fastConfig(l, 1)))
	if err != nil || !rep.AlreadySettled || rep.Transactions != 0 {
		t.Fatalf("second submit: %+v %v", rep, err)
	}
	var after uint64
	_ = l.Call(ctx, "getTransactionCount", nil, &after)
	if after != before || w.head() != head {
		t.Fatalf("second submit sent %d transactions, appended %d events", after-before, w.head()-head)
	}

	// Epoch 2: op-007 sets a wallet and is paid epochs 1 and 2; token
	// accounts now exist (18 per transaction).
	b := more("e2e-2")
	b.SetWallet("op-007")
	for i := 0; i < 30; i++ {
		b.Compute(fmt.Sprintf("task-%03d-2", i), fmt.Sprintf("node-%03d", i), 60_000, "3")
	}
	b.CloseEpoch(2, emission)
	w.add(b)
	p2 := w.plan(2)
	led := w.ledger()
	if st := led.Epoch(2).Settlement.Operator("op-007"); st == nil || st.Payout.Amount != led.Epoch(1).Allocations["op-007"]+led.Epoch(2).Allocations["op-007"] {
		t.Fatalf("op-007 in epoch 2: %+v", st)
	}
	rep, err = w.submit(ctx, l, legacy(fastConfig(l, 2)))
	if err != nil {
		t.Fatal(err)
	}
	// 29 recipients: op-007 needs a token account (9-wide), the rest do not.
	if !rep.Settled || rep.Transactions != 2 || rep.Paid != p2.Total {
		t.Fatalf("epoch 2 report %+v", rep)
	}
	paid := checkBalances(t, ctx, l, w.ledger())
	if paid != p.Total+p2.Total {
		t.Fatalf("paid %s", paid)
	}
	if o := w.ledger().Operators["op-020"]; o.Paid != 0 || o.Owed() != o.Allocated {
		t.Fatalf("op-020 has no wallet yet: %+v", o)
	}
	// Every paid operator's proof verifies against the root of the memo
	// read back from the chain.
	verifyMemos(t, ctx, l, w.ledger(), 1, 2)
}

// more continues a network's log in a new builder (which does not hold
// the node keys: the store does not check signatures, nor does the fold).
func more(seed string) *simlog.Builder {
	b := simlog.New(seed, t0.Add(8*24*time.Hour))
	b.FakeSignatures = true
	return b
}

// verifyMemos reads every confirmed payout transaction of the epochs back
// from the VM, takes the root from its memo and verifies each
// recipient's proof against it.
func verifyMemos(t *testing.T, ctx context.Context, l *localnet.Localnet, led *projections.Ledger, epochs ...uint64) {
	t.Helper()
	c := rpc.New(l.RPC)
	v0 := uint64(0)
	for _, n := range epochs {
		st := led.Epoch(n).Settlement
		checked := 0
		for _, tx := range st.Txs {
			if tx.State != "confirmed" {
				continue
			}
			got, err := c.GetTransaction(ctx, solana.MustSignatureFromBase58(tx.Signature), &rpc.GetTransactionOpts{Encoding: solana.EncodingBase64, Commitment: rpc.CommitmentFinalized, MaxSupportedTransactionVersion: &v0})
			if err != nil {
				t.Fatal(err)
			}
			back, err := got.Transaction.GetTransaction()
			if err != nil {
				t.Fatal(err)
			}
			var memo string
			for _, ix := range back.Message.Instructions {
				if pid, _ := back.Message.Program(ix.ProgramIDIndex); pid == solana.MemoProgramID {
					memo = string(ix.Data)
				}
			}
			prefix := fmt.Sprintf("epochledger:%d:", n)
			if !strings.HasPrefix(memo, prefix) {
				t.Fatalf("memo %q", memo)
			}
			// A v0 memo goes on with :<i>/<n>.
			root, _, _ := strings.Cut(strings.TrimPrefix(memo, prefix), ":")
			for _, r := range tx.Recipients {
				pr, err := projections.BuildProof(st, r.OperatorID)
				if err != nil {
					t.Fatal(err)
				}
				if err := pr.Verify(root); err != nil {
					t.Fatalf("epoch %d %s: %v", n, r.OperatorID, err)
				}
				checked++
			}
		}
		if checked != len(st.Payouts) {
			t.Fatalf("epoch %d: verified %d proofs for %d payouts", n, checked, len(st.Payouts))
		}
	}
}

// crash is what a test hook panics with to stop a submit at a crash point.
type crash struct{ point string }

func submitUntil(ctx context.Context, w *world, l *localnet.Localnet, cfg settlement.Config, point string, at int) (crashed bool, err error) {
	cfg.Hook = func(p string, n int) {
		if p == point && n == at {
			panic(crash{p})
		}
	}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crash); !ok {
				panic(r)
			}
			crashed = true
		}
	}()
	_, err = w.submit(ctx, l, cfg)
	return false, err
}

// TestSettleResumesAtEveryCrashPoint, for each transaction version: a
// submit stopped at each crash point in turn (for v0 also after a table's
// creation was recorded, after it was sent, after an extension was
// recorded and after one was sent), then resumed: nothing moves that the
// log does not account for, and the last run pays everyone exactly.
func TestSettleResumesAtEveryCrashPoint(t *testing.T) {
	versions(t, func(t *testing.T, version string) {
		l := startLocalnet(t)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		w := newWorld(t, network(80, nil, emission))
		p := w.plan(1)
		cfg := fastConfig(l, 1)
		cfg.TxVersion = version
		cfg.Batch = 2 // 9 legacy (8 v0) transactions in batches of 2
		type point struct {
			point string
			n     int
		}
		points := []point{{"after-append", 1}, {"after-send", 3}, {"after-confirm", 1}, {"after-send", 1}, {"after-append", 1}}
		if version == settlement.TxV0 {
			// 1 creation and 3 extensions: stop after the creation is
			// recorded, after it is sent, after the second extension is
			// recorded, after the third is sent (the resend of the second
			// counts as the first send of that run).
			points = append([]point{{"table-after-record", 1}, {"table-after-send", 1}, {"table-after-record", 2}, {"table-after-send", 2}}, points...)
		}
		for _, cp := range points {
			crashed, err := submitUntil(ctx, w, l, cfg, cp.point, cp.n)
			if err != nil {
				t.Fatalf("%s:%d: %v", cp.point, cp.n, err)
			}
			if !crashed {
				t.Fatalf("settled before crash point %s:%d", cp.point, cp.n)
			}
			w.reopen()
			checkInFlight(t, ctx, l, w.ledger()) // nothing moved that the log does not account for
		}
		rep, err := w.submit(ctx, l, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Settled {
			t.Fatalf("not settled: %+v", rep)
		}
		if paid := checkBalances(t, ctx, l, w.ledger()); paid != p.Total {
			t.Fatalf("paid %s, want %s", paid, p.Total)
		}
		verifyMemos(t, ctx, l, w.ledger(), 1)
		// A further submit sends nothing.
		var before, after uint64
		_ = l.Call(ctx, "getTransactionCount", nil, &before)
		if rep, err := w.submit(ctx, l, cfg); err != nil || !rep.AlreadySettled || rep.Transactions != 0 || rep.TableTransactions != 0 {
			t.Fatalf("second submit: %+v %v", rep, err)
		}
		_ = l.Call(ctx, "getTransactionCount", nil, &after)
		if after != before {
			t.Fatalf("a submit of a settled epoch sent %d transactions", after-before)
		}
	})
}

func TestSettleExpiredBlockhashIsReplanned(t *testing.T) {
	l := startLocalnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := newWorld(t, network(12, nil, emission))
	p := w.plan(1)
	// Record the first transaction and crash before sending it.
	if crashed, err := submitUntil(ctx, w, l, fastConfig(l, 1), "after-append", 1); !crashed || err != nil {
		t.Fatal(crashed, err)
	}
	w.reopen()
	st := w.ledger().Epoch(1).Settlement
	if len(st.Txs) != 2 || st.Txs[0].State != "submitted" {
		t.Fatalf("recorded %d transactions", len(st.Txs))
	}
	first := st.Txs[0].Signature
	// Its blockhash expires before the next run.
	if err := l.AdvanceSlots(ctx, 151); err != nil {
		t.Fatal(err)
	}
	head := w.head()
	rep, err := w.submit(ctx, l, fastConfig(l, 1))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Expired != 2 || !rep.Settled || rep.Resent != 0 {
		t.Fatalf("report %+v", rep)
	}
	if tx := w.ledger().Epoch(1).Settlement.Tx(first); tx.State != "expired" {
		t.Fatalf("first transaction is %s", tx.State)
	}
	if got := w.typesSince(head); got[domain.TypePayoutExpired] != 2 || got[domain.TypePayoutSubmitted] != 2 || got[domain.TypePayoutConfirmed] != 2 {
		t.Fatalf("events after restart: %v", got)
	}
	if paid := checkBalances(t, ctx, l, w.ledger()); paid != p.Total {
		t.Fatalf("paid %s", paid)
	}
}

func TestSettleUnderSendFaults(t *testing.T) {
	versions(t, func(t *testing.T, version string) {
		l := startLocalnet(t)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		w := newWorld(t, network(60, nil, emission))
		p := w.plan(1)
		// 7 legacy transactions (6 v0, after the table's): the first send is
		// dropped, the next two replies time out (they execute), the next
		// two fail outright.
		if err := l.SetFaults(ctx, localnet.Faults{DropNextSends: 1, TimeoutNextSends: 2, FailNextSends: 2, TimeoutDelay: 3 * time.Second}); err != nil {
			t.Fatal(err)
		}
		cfg := fastConfig(l, 1)
		cfg.TxVersion = version
		cfg.Batch = 3
		rep, err := w.submit(ctx, l, cfg)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{settlement.TxLegacy: 7, settlement.TxV0: 6}[version]
		if !rep.Settled || rep.Expired != 0 || rep.Resent == 0 || rep.Transactions != want {
			t.Fatalf("report %+v", rep)
		}
		if paid := checkBalances(t, ctx, l, w.ledger()); paid != p.Total {
			t.Fatalf("paid %s", paid)
		}
	})
}

func TestSettleRefusesBadInputs(t *testing.T) {
	l := startLocalnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := network(5, nil, emission)
	b.Compute("task-open", "node-001", 60_000, "1") // epoch 2 stays open
	w := newWorld(t, b)
	head := w.head()
	submit := func(cfg settlement.Config) error {
		_, err := w.submit(ctx, l, cfg)
		return err
	}
	// Unknown and open epochs; an epoch without a plan.
	if err := submit(fastConfig(l, 7)); !errors.Is(err, settlement.ErrUnknownEpoch) {
		t.Errorf("unknown epoch: %v", err)
	}
	if err := submit(fastConfig(l, 2)); !errors.Is(err, settlement.ErrEpochOpen) {
		t.Errorf("open epoch: %v", err)
	}
	if err := submit(fastConfig(l, 1)); !errors.Is(err, settlement.ErrNotPlanned) || !strings.Contains(err.Error(), "settle plan --epoch 1") {
		t.Errorf("unplanned epoch: %v", err)
	}
	w.plan(1)
	head = w.head()
	// A keypair that is not the treasury's.
	cfg := fastConfig(l, 1)
	cfg.Signer = solana.NewWallet().PrivateKey
	if err := submit(cfg); !errors.Is(err, settlement.ErrNotTreasury) {
		t.Errorf("stranger keypair: %v", err)
	}
	// A token account of the mint owned by someone else, named explicitly.
	cfg = fastConfig(l, 1)
	other := solana.NewWallet().PublicKey()
	otherATA, err := l.MintTo(ctx, l.Mint, other, 5)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Source = otherATA
	if err := submit(cfg); !errors.Is(err, settlement.ErrNotTreasury) || !strings.Contains(err.Error(), "owned by "+other.String()) {
		t.Errorf("foreign token account: %v", err)
	}
	// A mint with 6 decimals.
	mint6, err := l.CreateMint(ctx, 6)
	if err != nil {
		t.Fatal(err)
	}
	cfg = fastConfig(l, 1)
	cfg.Mint = mint6
	if err := submit(cfg); !errors.Is(err, settlement.ErrWrongDecimals) || !strings.Contains(err.Error(), "6 decimals") {
		t.Errorf("6-decimal mint: %v", err)
	}
	// Not a mint at all.
	cfg.Mint = l.Treasury.PublicKey()
	if err := submit(cfg); err == nil || !strings.Contains(err.Error(), "mint") {
		t.Errorf("wallet as mint: %v", err)
	}
	// An RPC that is down.
	w.reload()
	down := settlement.Dial("http://127.0.0.1:1")
	if _, err := settlement.NewSettler(down, w.j, fastConfig(l, 1)).Submit(ctx); !errors.Is(err, settlement.ErrRPC) || !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("RPC down: %v", err)
	}
	// A treasury too poor: a fresh treasury with 1 base unit.
	var poor struct {
		SecretKey []int `json:"secretKey"`
	}
	if err := l.Call(ctx, "localnet_setupTreasury", map[string]any{"amount": "1"}, &poor); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 64)
	for i, v := range poor.SecretKey {
		key[i] = byte(v)
	}
	cfg = fastConfig(l, 1)
	cfg.Signer = solana.PrivateKey(key)
	if err := submit(cfg); !errors.Is(err, settlement.ErrInsufficient) || !strings.Contains(err.Error(), "short by") || !strings.Contains(err.Error(), "nothing was recorded or sent") {
		t.Errorf("poor treasury: %v", err)
	}
	// Tokens enough, SOL not: the fees and rent are named, and the shortfall.
	var broke struct {
		SecretKey []int `json:"secretKey"`
	}
	if err := l.Call(ctx, "localnet_setupTreasury", map[string]any{"amount": "100000000000000", "lamports": "20000"}, &broke); err != nil {
		t.Fatal(err)
	}
	key = make([]byte, 64)
	for i, v := range broke.SecretKey {
		key[i] = byte(v)
	}
	cfg = fastConfig(l, 1)
	cfg.Signer = solana.PrivateKey(key)
	if err := submit(cfg); !errors.Is(err, settlement.ErrInsufficient) || !strings.Contains(err.Error(), "has 20000 lamports") || !strings.Contains(err.Error(), "lamports of rent") || !strings.Contains(err.Error(), "short by") {
		t.Errorf("treasury without SOL: %v", err)
	}
	// SOL for v1's transaction (1 signature, 5 token accounts: 10,201,400
	// lamports) but not for v0's lookup table too (its rent, 2.8M, and two
	// more signatures): legacy would go ahead, v0 is refused up front,
	// naming the shortfall, before the table is created.
	var tight struct {
		SecretKey []int `json:"secretKey"`
	}
	if err := l.Call(ctx, "localnet_setupTreasury", map[string]any{"amount": "100000000000000", "lamports": "11000000"}, &tight); err != nil {
		t.Fatal(err)
	}
	key = make([]byte, 64)
	for i, v := range tight.SecretKey {
		key[i] = byte(v)
	}
	cfg = fastConfig(l, 1)
	cfg.Signer = solana.PrivateKey(key)
	if err := submit(cfg); !errors.Is(err, settlement.ErrInsufficient) || !strings.Contains(err.Error(), "has 11000000 lamports") || !strings.Contains(err.Error(), "lookup-table space") {
		t.Errorf("v0 treasury without SOL for its table: %v", err)
	}
	if w.head() != head {
		t.Fatalf("refused submits appended %d events", w.head()-head)
	}
	if bal, _ := l.TokenBalance(ctx, l.Treasury.PublicKey(), l.Mint); bal != l.TreasuryAmount {
		t.Fatal("refused submits moved tokens")
	}
}

func TestSettleExportSignImport(t *testing.T) {
	l := startLocalnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := newWorld(t, network(20, nil, emission))
	p := w.plan(1)
	dir := t.TempDir()
	head := w.head()
	cfg := legacy(fastConfig(l, 1)) // v0 exports: TestSettleV0DryRunAndOfflineRoundTrip
	cfg.Signer = nil
	cfg.Authority = l.Treasury.PublicKey()
	m, err := settlement.NewSettler(dial(l), w.j, cfg).Export(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Transactions) != 3 || w.head() != head {
		t.Fatalf("export: %d transactions, %d events appended", len(m.Transactions), w.head()-head)
	}
	// Unsigned, the import is refused.
	if _, err := settlement.NewSettler(dial(l), w.j, fastConfig(l, 0)).ImportSigned(ctx, dir); err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Fatalf("unsigned import: %v", err)
	}
	// Signed by a stranger: refused by SignExport.
	if _, err := settlement.SignExport(dir, solana.NewWallet().PrivateKey); !errors.Is(err, settlement.ErrNotTreasury) {
		t.Fatalf("stranger signs: %v", err)
	}
	if n, err := settlement.SignExport(dir, l.Treasury); err != nil || n != 3 {
		t.Fatal(n, err)
	}
	// A manifest whose amount was changed after signing no longer matches.
	tampered := t.TempDir()
	copyDir(t, dir, tampered)
	editFile(t, tampered+"/manifest.json", fmt.Sprintf(`"amount": "%d"`, m.Transactions[0].Recipients[0].Amount), fmt.Sprintf(`"amount": "%d"`, m.Transactions[0].Recipients[0].Amount+1))
	if _, err := settlement.NewSettler(dial(l), w.j, fastConfig(l, 0)).ImportSigned(ctx, tampered); err == nil {
		t.Fatal("tampered manifest imported")
	}
	if w.head() != head {
		t.Fatal("refused imports appended events")
	}
	w.reload()
	rep, err := settlement.NewSettler(dial(l), w.j, fastConfig(l, 0)).ImportSigned(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Settled || rep.Transactions != 3 || rep.Paid != p.Total {
		t.Fatalf("import report %+v", rep)
	}
	// Importing again records and sends nothing.
	w.reload()
	head = w.head()
	rep, err = settlement.NewSettler(dial(l), w.j, fastConfig(l, 0)).ImportSigned(ctx, dir)
	if err != nil || rep.Transactions != 0 || w.head() != head {
		t.Fatalf("second import: %+v %v", rep, err)
	}
	if paid := checkBalances(t, ctx, l, w.ledger()); paid != p.Total {
		t.Fatalf("paid %s", paid)
	}
}

func TestSettleRestartResendsRecordedBytes(t *testing.T) {
	l := startLocalnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := newWorld(t, network(20, nil, emission))
	p := w.plan(1)
	if crashed, err := submitUntil(ctx, w, l, fastConfig(l, 1), "after-append", 1); !crashed || err != nil {
		t.Fatal(crashed, err)
	}
	w.reopen()
	recorded := map[string]bool{}
	for _, tx := range w.ledger().Epoch(1).Settlement.Txs {
		if tx.Transaction == "" {
			t.Fatalf("%s recorded without its bytes", tx.Signature)
		}
		recorded[tx.Signature] = true
	}
	rep, err := w.submit(ctx, l, fastConfig(l, 1))
	if err != nil {
		t.Fatal(err)
	}
	// The blockhash was still valid: the recorded transactions themselves
	// landed; nothing new was signed.
	if rep.Transactions != 0 || rep.Expired != 0 || rep.Resent != len(recorded) || !rep.Settled {
		t.Fatalf("report %+v", rep)
	}
	for _, sig := range rep.Signatures {
		if !recorded[sig] {
			t.Fatalf("confirmed %s, which was not recorded before the crash", sig)
		}
	}
	for _, tx := range w.ledger().Epoch(1).Settlement.Txs {
		if tx.Transaction != "" {
			t.Fatal("a resolved transaction keeps its bytes in the fold")
		}
	}
	if paid := checkBalances(t, ctx, l, w.ledger()); paid != p.Total {
		t.Fatalf("paid %s", paid)
	}
}

func TestSettleEventRules(t *testing.T) {
	w := newWorld(t, network(3, nil, emission))
	p := w.plan(1)
	r := domain.Recipient{OperatorID: p.Payouts[0].OperatorID, Wallet: p.Payouts[0].Wallet, Amount: p.Payouts[0].Amount}
	key := solana.NewWallet().PrivateKey
	tr := &settlement.Treasury{Authority: key.PublicKey(), Mint: solana.NewWallet().PublicKey()}
	tf, _ := settlement.NewTransfer(r, tr.Mint)
	tx, err := settlement.BuildTx(tr, []settlement.Transfer{tf}, domain.Memo(1, p.RootHex()), solana.Hash{7})
	if err != nil {
		t.Fatal(err)
	}
	tx.Sign(func(solana.PublicKey) *solana.PrivateKey { return &key })
	raw, _ := tx.MarshalBinary()
	ev := &domain.PayoutSubmitted{Epoch: 1, Signature: tx.Signatures[0].String(), Recipients: []domain.Recipient{r}, Blockhash: solana.Hash{7}.String(), LastValidBlockHeight: 9,
		Transaction: base64.StdEncoding.EncodeToString(raw)}
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	data, err := domain.EncodeEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	back, err := domain.DecodeEvent(domain.TypePayoutSubmitted, data)
	if err != nil || back.(*domain.PayoutSubmitted).Transaction != ev.Transaction {
		t.Fatalf("round trip: %v", err)
	}
	// The bytes must be the transaction the signature names.
	other := *ev
	other.Signature = solana.Signature{1}.String()
	if err := other.Validate(); err == nil || !strings.Contains(err.Error(), "transaction") {
		t.Fatalf("mismatched signature: %v", err)
	}
	other = *ev
	other.Transaction = "not base64!"
	if other.Validate() == nil {
		t.Fatal("garbage transaction accepted")
	}
	// Without the field the event is as before (the field is optional).
	other = *ev
	other.Transaction = ""
	if data, err := domain.EncodeEvent(&other); err != nil || strings.Contains(string(data), "transaction") {
		t.Fatalf("optional field: %s %v", data, err)
	}
	// Part rules.
	sp := &domain.SettlementPlanned{Epoch: 1, Root: p.RootHex(), Total: p.Total, Payouts: p.Payouts, Part: 3, Parts: 2}
	if sp.Validate() == nil {
		t.Fatal("part 3 of 2 accepted")
	}
	sp.Part, sp.Parts = 1, 1
	if sp.Validate() == nil {
		t.Fatal("a one-part split accepted")
	}
	// Nor may a payout be recorded twice: once in flight, the ledger
	// refuses the same recipients in another transaction.
	j := w.j
	if _, err := j.Append(context.Background(), settlement.Stream(1), []domain.Event{ev}); err != nil {
		t.Fatal(err)
	}
	second := *ev
	second.Signature, second.Transaction = solana.Signature{2}.String(), ""
	if _, err := j.Append(context.Background(), settlement.Stream(1), []domain.Event{&second}); err == nil || !strings.Contains(err.Error(), "paying twice") {
		t.Fatalf("second transaction for the same payout: %v", err)
	}
}
