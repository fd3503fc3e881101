package settlement_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/settlement"
)

// TestSettleV0TablesGrowOverTwoEpochs: 260 operators in epoch 1 need 262
// table addresses (their token accounts, the treasury's and the mint), so
// the first table fills and a second one is created; epoch 2 adds 60
// operators, whose accounts extend the second table (no third). Every
// payout is a v0 transaction whose record names its table(s) and the
// addresses it resolved, equal to the chain's loadedAddresses, and an
// independent reader finds every wallet holding exactly the sum of its
// two plans. A further submit sends nothing.
func TestSettleV0TablesGrowOverTwoEpochs(t *testing.T) {
	l := startLocalnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := l.SetPrioritizationFees(ctx, []uint64{10, 500, 20}); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, network(260, nil, emission))
	p1 := w.plan(1)
	cfg := fastConfig(l, 1)
	cfg.Batch = 4
	rep, err := w.submit(ctx, l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// 260 new accounts, 10 per transaction (the instruction trace); 2
	// creations and 9 + 1 extensions (≤ 30 addresses each; 256 fill the
	// first table).
	if !rep.Settled || rep.Transactions != 26 || rep.TxVersion != settlement.TxV0 || len(rep.LookupTables) != 2 || rep.TableTransactions != 2+10 {
		t.Fatalf("epoch 1: %+v", rep)
	}
	// The median of the recent fees (10, 20, 500) is the price.
	if rep.PriorityLamports == 0 || rep.ComputeUnits == 0 || rep.PriorityLamports > (rep.ComputeUnits*20+999_999)/1_000_000+uint64(rep.Transactions) {
		t.Fatalf("compute budget: %d CU, %d lamports of priority", rep.ComputeUnits, rep.PriorityLamports)
	}

	b := more("v0-2")
	for i := 0; i < 260; i++ {
		b.Compute(fmt.Sprintf("task-%03d-2", i), fmt.Sprintf("node-%03d", i), 60_000, "2")
	}
	for i := 260; i < 320; i++ {
		op, node := opID(i), fmt.Sprintf("node-%03d", i)
		b.Node(node, op, "500")
		b.SetWallet(op)
		b.Compute(fmt.Sprintf("task-%03d-2", i), node, 60_000, "4")
	}
	b.CloseEpoch(2, emission)
	w.add(b)
	p2 := w.plan(2)
	cfg.Epoch = 2
	rep, err = w.submit(ctx, l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// 260 existing accounts (47 per transaction: 6) and 60 new (10 per: 6),
	// packed in plan order; the second table grows by 60 (two extensions).
	if !rep.Settled || rep.Transactions < 12 || rep.Transactions > 14 || rep.TableTransactions != 2 || len(rep.LookupTables) != 2 {
		t.Fatalf("epoch 2: %+v", rep)
	}

	// The independent reader: every wallet holds the sum of its plans.
	want := map[string]uint64{}
	for _, p := range []*settlement.Plan{p1, p2} {
		for _, po := range p.Payouts {
			want[po.Wallet] += uint64(po.Amount)
		}
	}
	for wallet, amount := range want {
		if got := chainBalance(t, l.RPC, solana.MustPublicKeyFromBase58(wallet), l.Mint); got != amount {
			t.Errorf("wallet %s holds %d on chain, planned %d", wallet, got, amount)
		}
	}
	if got := chainBalance(t, l.RPC, l.Treasury.PublicKey(), l.Mint); got != l.TreasuryAmount-uint64(p1.Total+p2.Total) {
		t.Errorf("treasury holds %d", got)
	}

	// The records: two tables created, ever; each payout names its tables
	// and loaded addresses, which are the chain's.
	created, extended, payouts := 0, 0, 0
	c := rpc.New(l.RPC)
	v0 := uint64(0)
	err = w.store.ReadAll(ctx, 1, func(e *eventstore.RecordedEvent) error {
		switch e.Type {
		case domain.TypeLookupTableCreated:
			created++
		case domain.TypeLookupTableExtended:
			extended++
		case domain.TypePayoutSubmitted:
			var ps domain.PayoutSubmitted
			if err := json.Unmarshal(e.Data, &ps); err != nil {
				return err
			}
			if len(ps.LookupTables) == 0 || ps.LoadedAddresses == nil {
				return fmt.Errorf("payout %s names no lookup tables", ps.Signature)
			}
			got, err := c.GetTransaction(ctx, solana.MustSignatureFromBase58(ps.Signature), &rpc.GetTransactionOpts{Encoding: solana.EncodingBase64, MaxSupportedTransactionVersion: &v0})
			if err != nil {
				return err
			}
			la := got.Meta.LoadedAddresses
			if len(la.Writable) != len(ps.LoadedAddresses.Writable) || len(la.ReadOnly) != len(ps.LoadedAddresses.Readonly) {
				return fmt.Errorf("payout %s: recorded %d+%d loaded addresses, the chain %d+%d", ps.Signature,
					len(ps.LoadedAddresses.Writable), len(ps.LoadedAddresses.Readonly), len(la.Writable), len(la.ReadOnly))
			}
			for i, a := range la.Writable {
				if a.String() != ps.LoadedAddresses.Writable[i] {
					return fmt.Errorf("payout %s: loaded writable %d is %s on chain, %s recorded", ps.Signature, i, a, ps.LoadedAddresses.Writable[i])
				}
			}
			payouts++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if created != 2 || extended != 10+2 || payouts == 0 {
		t.Fatalf("%d tables created, %d extensions, %d payouts recorded", created, extended, payouts)
	}
	verifyMemos(t, ctx, l, w.ledger(), 1, 2)

	var before, after uint64
	_ = l.Call(ctx, "getTransactionCount", nil, &before)
	if rep, err := w.submit(ctx, l, cfg); err != nil || !rep.AlreadySettled || rep.TableTransactions != 0 {
		t.Fatalf("a further submit: %+v %v", rep, err)
	}
	_ = l.Call(ctx, "getTransactionCount", nil, &after)
	if after != before {
		t.Fatalf("a further submit sent %d transactions", after-before)
	}
}

// TestSettleV0FeeCap: a fixed price that would cost 1 lamport per compute
// unit is lowered so that the round's priority fees stay within
// --max-fee-lamports; the chain charged what the report says.
func TestSettleV0FeeCap(t *testing.T) {
	l := startLocalnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := newWorld(t, network(30, nil, emission))
	w.plan(1)
	before, err := dial(l).Lamports(ctx, l.Treasury.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig(l, 1)
	cfg.PriorityFee, cfg.FixedPriorityFee, cfg.MaxFeeLamports = 1_000_000, true, 50_000
	rep, err := w.submit(ctx, l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Settled || rep.Transactions != 3 || rep.PriorityLamports == 0 || rep.PriorityLamports > 50_000 || rep.ComputeUnits < 100_000 {
		t.Fatalf("report: %+v", rep)
	}
	after, err := dial(l).Lamports(ctx, l.Treasury.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	// Spent: the signatures of 3 payouts and 3 table transactions (1
	// creation, 2 extensions: 32 addresses, ≤ 30 each), the rent of 30
	// token accounts and of the table, and exactly the reported priority
	// fees.
	rent := func(n uint64) uint64 {
		var r uint64
		if err := l.Call(ctx, "getMinimumBalanceForRentExemption", []any{n}, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	want := uint64(rep.Transactions+rep.TableTransactions)*settlement.SignatureFee + 30*rent(165) + rent(56+32*32) + rep.PriorityLamports
	if before-after != want {
		t.Fatalf("the treasury spent %d lamports, the report accounts for %d", before-after, want)
	}
}
