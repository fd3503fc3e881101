package settlement_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/scenarios/simlog"
	"github.com/epochledger/epochledger/settlement"
	"github.com/epochledger/epochledger/settlement/localnet"
)

// chainBalance is an independent balance reader: a bare JSON-RPC
// getTokenAccountBalance over HTTP, neither the settlement client nor
// solana-go, of owner's associated token account of mint (0 when it does
// not exist).
func chainBalance(t *testing.T, url string, owner, mint solana.PublicKey) uint64 {
	t.Helper()
	ata, _, err := solana.FindAssociatedTokenAddress(owner, mint)
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
			Value struct {
				Amount string `json:"amount"`
			} `json:"value"`
		} `json:"result"`
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Error != nil {
		if strings.Contains(out.Error.Message, "could not find account") {
			return 0
		}
		t.Fatalf("getTokenAccountBalance %s: %s", ata, out.Error.Message)
	}
	n, err := strconv.ParseUint(out.Result.Value.Amount, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkPaidExactly asserts with the independent reader that every planned
// wallet holds exactly its planned amount (each paid once, none skipped)
// and that the treasury lost exactly the plan's total.
func checkPaidExactly(t *testing.T, l *localnet.Localnet, p *settlement.Plan) {
	t.Helper()
	for _, po := range p.Payouts {
		if got := chainBalance(t, l.RPC, solana.MustPublicKeyFromBase58(po.Wallet), l.Mint); got != uint64(po.Amount) {
			t.Errorf("%s's wallet holds %d base units on chain, planned %d", po.OperatorID, got, po.Amount)
		}
	}
	if got := chainBalance(t, l.RPC, l.Treasury.PublicKey(), l.Mint); got != l.TreasuryAmount-uint64(p.Total) {
		t.Errorf("treasury holds %d, want %d − %d", got, l.TreasuryAmount, p.Total)
	}
}

// forge appends events the way `import` does (the ledger's rules, then the
// store, under ids of the forger's choosing): settlement events can be
// imported, so a log may carry chain facts nobody observed.
func forge(t *testing.T, w *world, evs ...domain.Event) {
	t.Helper()
	w.reload()
	led := w.ledger()
	now := time.Now().UTC()
	for _, ev := range evs {
		if err := led.Check(now.Format(time.RFC3339Nano), ev); err != nil {
			t.Fatalf("the forged %s is refused by the ledger: %v", ev.EventType(), err)
		}
		var id [16]byte
		rand.Read(id[:])
		id[6], id[8] = id[6]&0x0f|0x40, id[8]&0x3f|0x80
		env, err := domain.NewEnvelope(fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16]), settlement.Stream(1), now, ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.store.Append(context.Background(), env.Stream, eventstore.Any(), eventstore.EventData{ID: env.ID, Type: env.Type, Time: env.Time, Data: env.Data}); err != nil {
			t.Fatal(err)
		}
		if err := w.j.CatchUp(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	w.reload()
}

func inventedSig() string {
	var s solana.Signature
	rand.Read(s[:])
	return s.String()
}

// reservedRecipients returns up to n plan lines with nothing sent yet.
func reservedRecipients(st *projections.Settlement, n int) []domain.Recipient {
	var out []domain.Recipient
	for _, p := range st.Payouts {
		if ps := st.Operator(p.OperatorID); ps.Reserved == p.Amount && len(out) < n {
			out = append(out, domain.Recipient{OperatorID: p.OperatorID, Wallet: p.Wallet, Amount: p.Amount})
		}
	}
	return out
}

// TestSettleForgedFactsMidSettlement is #18's finding 2, mid-settlement: a
// submit is killed after its second transaction was sent (both landed; the
// first confirmed in the log, the second in flight). Then a forger imports
// PayoutExpired for both landed transactions (the confirmed one included)
// and PayoutSubmitted + PayoutConfirmed with an invented signature for
// three operators nothing was sent to. The next submit asks the chain:
// the landed transactions are confirmed again (not paid twice), the
// invented one is expired (its operators are paid, once), and every
// wallet ends with exactly its planned amount, read by an independent
// reader. A further submit sends nothing.
func TestSettleForgedFactsMidSettlement(t *testing.T) {
	l := startLocalnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := newWorld(t, network(40, nil, emission))
	p := w.plan(1)
	cfg := fastConfig(l, 1)
	cfg.Batch = 1
	crashed, err := submitUntil(ctx, w, l, cfg, "after-send", 2)
	if err != nil || !crashed {
		t.Fatalf("crash run: crashed %v, %v", crashed, err)
	}
	w.reopen()
	st := w.ledger().Epoch(1).Settlement
	if len(st.Txs) != 2 {
		t.Fatalf("%d transactions recorded before the crash, want 2", len(st.Txs))
	}
	var forged []domain.Event
	for _, tx := range st.Txs {
		forged = append(forged, &domain.PayoutExpired{Epoch: 1, Signature: tx.Signature})
	}
	ghost := reservedRecipients(st, 3)
	sig := inventedSig()
	forged = append(forged,
		&domain.PayoutSubmitted{Epoch: 1, Signature: sig, Recipients: ghost, Blockhash: solana.Hash{9}.String(), LastValidBlockHeight: 1},
		&domain.PayoutConfirmed{Epoch: 1, Signature: sig, Slot: 5})
	forge(t, w, forged...)
	for _, r := range ghost {
		if o := w.ledger().Operators[r.OperatorID]; o.Paid != r.Amount {
			t.Fatalf("the forged confirmation did not mark %s paid in the log: %+v", r.OperatorID, o)
		}
	}

	rep, err := w.submit(ctx, l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Settled || rep.Corrected != 3 || rep.AlreadySettled {
		t.Fatalf("report %+v", rep)
	}
	checkPaidExactly(t, l, p)
	checkBalances(t, ctx, l, w.ledger())
	for _, tx := range w.ledger().Epoch(1).Settlement.Txs {
		if want := map[bool]string{true: "expired", false: "confirmed"}[tx.Signature == sig]; tx.State != want {
			t.Errorf("transaction %s is %s in the log, want %s", tx.Signature, tx.State, want)
		}
	}
	var before, after uint64
	_ = l.Call(ctx, "getTransactionCount", nil, &before)
	head := w.head()
	rep, err = w.submit(ctx, l, cfg)
	_ = l.Call(ctx, "getTransactionCount", nil, &after)
	if err != nil || !rep.AlreadySettled || rep.Transactions != 0 || after != before || w.head() != head {
		t.Fatalf("second submit: %+v %v; sent %d, appended %d", rep, err, after-before, w.head()-head)
	}
	checkPaidExactly(t, l, p)
}

// TestSettleForgedConfirmationIsNotSettled: a plan nothing was sent for,
// with a forged PayoutSubmitted + PayoutConfirmed of an invented signature
// covering every payout, made submit print "already settled". Now the
// chain does not confirm it, so everyone is paid, exactly once.
func TestSettleForgedConfirmationIsNotSettled(t *testing.T) {
	l := startLocalnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := newWorld(t, network(6, nil, emission))
	p := w.plan(1)
	all := reservedRecipients(w.ledger().Epoch(1).Settlement, 6)
	sig := inventedSig()
	forge(t, w,
		&domain.PayoutSubmitted{Epoch: 1, Signature: sig, Recipients: all, Blockhash: solana.Hash{3}.String(), LastValidBlockHeight: 1},
		&domain.PayoutConfirmed{Epoch: 1, Signature: sig, Slot: 5})
	if !w.ledger().Epoch(1).Settlement.Done() {
		t.Fatal("the forged log does not look settled")
	}
	rep, err := w.submit(ctx, l, fastConfig(l, 1))
	if err != nil {
		t.Fatal(err)
	}
	if rep.AlreadySettled || !rep.Settled || rep.Corrected != 1 || rep.Paid != p.Total {
		t.Fatalf("report %+v", rep)
	}
	checkPaidExactly(t, l, p)
}

// TestSettleUnrecordedPaymentIsNotRepeated: the chain shows a payment the
// log does not know at all — a treasury-signed transfer under the plan's
// memo (a signed export broadcast but never imported) — to an operator
// whose recorded transaction the log says expired. The signature check
// cannot see it (another signature), the balance check does: submit
// refuses, names the operator and the transaction, and sends nothing.
func TestSettleUnrecordedPaymentIsNotRepeated(t *testing.T) {
	l := startLocalnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := newWorld(t, network(4, nil, emission))
	p := w.plan(1)
	st := w.ledger().Epoch(1).Settlement
	victim := reservedRecipients(st, 1)
	sig := inventedSig()
	forge(t, w,
		&domain.PayoutSubmitted{Epoch: 1, Signature: sig, Recipients: victim, Blockhash: solana.Hash{4}.String(), LastValidBlockHeight: 1},
		&domain.PayoutExpired{Epoch: 1, Signature: sig})

	// The payment behind the log's back.
	c := rpc.New(l.RPC)
	tr := &settlement.Treasury{Authority: l.Treasury.PublicKey(), Source: l.TreasuryTokenAccount, Mint: l.Mint}
	tf, err := settlement.NewTransfer(victim[0], l.Mint)
	if err != nil {
		t.Fatal(err)
	}
	tf.Create = true
	bh, err := c.GetLatestBlockhash(ctx, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := settlement.BuildTx(tr, []settlement.Transfer{tf}, domain.Memo(1, p.RootHex()), bh.Value.Blockhash)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Sign(func(solana.PublicKey) *solana.PrivateKey { return &l.Treasury }); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	owner := solana.MustPublicKeyFromBase58(victim[0].Wallet)
	if got := chainBalance(t, l.RPC, owner, l.Mint); got != uint64(victim[0].Amount) {
		t.Fatalf("the direct payment did not land: %d", got)
	}

	head := w.head()
	var before, after uint64
	_ = l.Call(ctx, "getTransactionCount", nil, &before)
	_, err = w.submit(ctx, l, fastConfig(l, 1))
	_ = l.Call(ctx, "getTransactionCount", nil, &after)
	if !errors.Is(err, settlement.ErrLogDisagrees) || !strings.Contains(err.Error(), victim[0].OperatorID) || !strings.Contains(err.Error(), tx.Signatures[0].String()) {
		t.Fatalf("submit: %v", err)
	}
	if after != before || w.head() != head {
		t.Fatalf("a refused submit sent %d transactions and appended %d events", after-before, w.head()-head)
	}
	if got := chainBalance(t, l.RPC, owner, l.Mint); got != uint64(victim[0].Amount) {
		t.Fatalf("%s holds %d, paid once %d", victim[0].OperatorID, got, victim[0].Amount)
	}
}

// TestSettleReplanRules: a plan may be replaced (settle plan --replan)
// while nothing of it was sent — with the new wallet, and the old plan's
// reservations gone — and not once a payout transaction is recorded.
func TestSettleReplanRules(t *testing.T) {
	w := newWorld(t, network(3, nil, emission))
	p := w.plan(1)
	if _, err := settlement.Replan(w.ledger(), 1); !errors.Is(err, settlement.ErrAlreadyPlanned) {
		t.Fatalf("replan with nothing changed: %v", err)
	}
	b := more("replan")
	newWallet := simlogWallet("op-001-new")
	b.Add("operator-op-001", &domain.OperatorWalletSet{OperatorID: "op-001", Wallet: newWallet})
	w.add(b)
	if ch := settlement.WalletChanges(w.ledger(), w.ledger().Epoch(1).Settlement); len(ch) != 1 || ch[0].Current != newWallet || !strings.Contains(ch[0].Advice, "--replan") {
		t.Fatalf("wallet changes: %+v", ch)
	}
	p2, err := settlement.Replan(w.ledger(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := settlement.Record(context.Background(), w.j, p2); err != nil {
		t.Fatal(err)
	}
	w.reload()
	st := w.ledger().Epoch(1).Settlement
	if st.Root != p2.RootHex() || st.Root == p.RootHex() || st.Total != p.Total || st.Operator("op-001").Payout.Wallet != newWallet {
		t.Fatalf("the replan did not replace the plan: %+v", st)
	}
	for _, o := range w.ledger().Operators {
		if r := w.ledger().Reserved(o.ID); r != st.Operator(o.ID).Payout.Amount {
			t.Fatalf("%s has %s reserved, the new plan %s: the old plan's reservation survived", o.ID, r, st.Operator(o.ID).Payout.Amount)
		}
	}
	if len(settlement.WalletChanges(w.ledger(), st)) != 0 {
		t.Fatal("wallet change still reported after the replan")
	}
	// Once a payout is recorded, the plan is fixed.
	r := reservedRecipients(st, 1)
	forge(t, w, &domain.PayoutSubmitted{Epoch: 1, Signature: inventedSig(), Recipients: r, Blockhash: solana.Hash{2}.String(), LastValidBlockHeight: 1})
	b = more("replan-2")
	b.Add("operator-op-002", &domain.OperatorWalletSet{OperatorID: "op-002", Wallet: simlogWallet("op-002-new")})
	w.add(b)
	if _, err := settlement.Replan(w.ledger(), 1); !errors.Is(err, settlement.ErrCannotReplan) {
		t.Fatalf("replan after a recorded payout: %v", err)
	}
}
func simlogWallet(id string) string { return simlog.Wallet(id) }

// sendDirect pays amount to r's wallet from the treasury under memo,
// behind the ledger's back, and returns the signature.
func sendDirect(t *testing.T, ctx context.Context, l *localnet.Localnet, r domain.Recipient, amount domain.BaseUnits, memo string) solana.Signature {
	t.Helper()
	c := rpc.New(l.RPC)
	tr := &settlement.Treasury{Authority: l.Treasury.PublicKey(), Source: l.TreasuryTokenAccount, Mint: l.Mint}
	r.Amount = amount
	tf, err := settlement.NewTransfer(r, l.Mint)
	if err != nil {
		t.Fatal(err)
	}
	tf.Create = true
	bh, err := c.GetLatestBlockhash(ctx, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := settlement.BuildTx(tr, []settlement.Transfer{tf}, memo, bh.Value.Blockhash)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Sign(func(solana.PublicKey) *solana.PrivateKey { return &l.Treasury }); err != nil {
		t.Fatal(err)
	}
	sig, err := c.SendTransaction(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// TestReconcile: a settled epoch reconciles (every line matched); a
// transfer sent from the treasury directly under the plan's memo shows as
// unexpected; in a second epoch a confirmation whose transaction the chain
// does not have is missing, one whose transaction moved half the amount is
// different_amount, and payouts not sent yet are unpaid.
func TestReconcile(t *testing.T) {
	l := startLocalnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := newWorld(t, network(5, nil, emission))
	p := w.plan(1)
	if _, err := w.submit(ctx, l, fastConfig(l, 1)); err != nil {
		t.Fatal(err)
	}
	c := dial(l)
	defer c.Close()
	rec, err := settlement.Reconcile(ctx, c, w.ledger(), 1, l.Mint, l.TreasuryTokenAccount)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Matched != 5 || rec.Differences != 0 || !rec.HistoryComplete {
		t.Fatalf("settled epoch: %+v", rec)
	}
	extra := sendDirect(t, ctx, l, domain.Recipient{OperatorID: "op-000", Wallet: p.Payouts[0].Wallet}, 1000, domain.Memo(1, p.RootHex()))
	rec, err = settlement.Reconcile(ctx, c, w.ledger(), 1, l.Mint, l.TreasuryTokenAccount)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Differences != 1 || len(rec.Lines) != 6 {
		t.Fatalf("after a direct transfer: %+v", rec)
	}
	if u := rec.Lines[5]; u.Result != settlement.ResultUnexpected || u.OperatorID != "op-000" || u.OnChain != "1000" || u.Signatures[0] != extra.String() {
		t.Fatalf("unexpected line: %+v", u)
	}

	b := more("reconcile-2")
	for i := 0; i < 5; i++ {
		b.Compute(fmt.Sprintf("task-%03d-2", i), fmt.Sprintf("node-%03d", i), 60_000, "2")
	}
	b.CloseEpoch(2, emission)
	w.add(b)
	p2 := w.plan(2)
	st := w.ledger().Epoch(2).Settlement
	rs := reservedRecipients(st, 2) // op-000, op-001
	half := sendDirect(t, ctx, l, rs[1], rs[1].Amount/2, domain.Memo(2, p2.RootHex()))
	ghost := inventedSig()
	forge2 := func(evs ...domain.Event) {
		for _, ev := range evs {
			if _, err := w.store.Append(ctx, settlement.Stream(2), eventstore.Any(), mustData(t, ev)); err != nil {
				t.Fatal(err)
			}
		}
		w.reload()
	}
	forge2(&domain.PayoutSubmitted{Epoch: 2, Signature: ghost, Recipients: rs[:1], Blockhash: solana.Hash{5}.String(), LastValidBlockHeight: 1},
		&domain.PayoutConfirmed{Epoch: 2, Signature: ghost, Slot: 1},
		&domain.PayoutSubmitted{Epoch: 2, Signature: half.String(), Recipients: rs[1:], Blockhash: solana.Hash{6}.String(), LastValidBlockHeight: 1},
		&domain.PayoutConfirmed{Epoch: 2, Signature: half.String(), Slot: 1})
	rec, err = settlement.Reconcile(ctx, c, w.ledger(), 2, l.Mint, l.TreasuryTokenAccount)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range rec.Lines {
		got[line.OperatorID] = line.Result
	}
	want := map[string]string{"op-000": settlement.ResultMissing, "op-001": settlement.ResultDifferent, "op-002": settlement.ResultUnpaid, "op-003": settlement.ResultUnpaid, "op-004": settlement.ResultUnpaid}
	if fmt.Sprint(got) != fmt.Sprint(want) || rec.Differences != 5 {
		t.Fatalf("epoch 2 lines %v, want %v (%+v)", got, want, rec)
	}
}

func mustData(t *testing.T, ev domain.Event) eventstore.EventData {
	t.Helper()
	var id [16]byte
	rand.Read(id[:])
	id[6], id[8] = id[6]&0x0f|0x40, id[8]&0x3f|0x80
	env, err := domain.NewEnvelope(fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16]), settlement.Stream(2), time.Now().UTC(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return eventstore.EventData{ID: env.ID, Type: env.Type, Time: env.Time, Data: env.Data}
}

// TestProofVerifyOnChain: a confirmed payout's proof verifies on chain;
// it does not when its transaction moved another amount, paid another
// account, carries another plan's memo, is not on chain, or is of another
// mint.
func TestProofVerifyOnChain(t *testing.T) {
	l := startLocalnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := newWorld(t, network(5, nil, emission))
	w.plan(1)
	if _, err := w.submit(ctx, l, fastConfig(l, 1)); err != nil {
		t.Fatal(err)
	}
	c := dial(l)
	defer c.Close()
	proof := func(epoch uint64, op string) *projections.Proof {
		t.Helper()
		p, err := projections.BuildProof(w.ledger().Epoch(epoch).Settlement, op)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if err := settlement.VerifyOnChain(ctx, c, proof(1, "op-000"), l.Mint); err != nil {
		t.Fatalf("a paid operator's proof: %v", err)
	}
	if err := settlement.VerifyOnChain(ctx, c, proof(1, "op-000"), solana.NewWallet().PublicKey()); !errors.Is(err, settlement.ErrNotPaidOnChain) {
		t.Fatalf("another mint: %v", err)
	}
	epoch1Sig := w.ledger().Epoch(1).Settlement.Txs[0].Signature

	// Epoch 2, whose confirmations are forged on chain facts of other payments.
	b := more("proof-2")
	for i := 0; i < 5; i++ {
		b.Compute(fmt.Sprintf("task-%03d-2", i), fmt.Sprintf("node-%03d", i), 60_000, "2")
	}
	b.CloseEpoch(2, emission)
	w.add(b)
	p2 := w.plan(2)
	rs := reservedRecipients(w.ledger().Epoch(2).Settlement, 4)
	memo2 := domain.Memo(2, p2.RootHex())
	half := sendDirect(t, ctx, l, rs[0], rs[0].Amount/2, memo2).String()
	other := sendDirect(t, ctx, l, rs[3], rs[3].Amount, memo2).String() // pays op-003, recorded for op-001
	ghost := inventedSig()
	var evs []domain.Event
	for i, sig := range []string{half, other, epoch1Sig, ghost} {
		evs = append(evs, &domain.PayoutSubmitted{Epoch: 2, Signature: sig, Recipients: rs[i : i+1], Blockhash: solana.Hash{8}.String(), LastValidBlockHeight: 1},
			&domain.PayoutConfirmed{Epoch: 2, Signature: sig, Slot: 1})
	}
	for _, ev := range evs {
		if _, err := w.store.Append(ctx, settlement.Stream(2), eventstore.Any(), mustData(t, ev)); err != nil {
			t.Fatal(err)
		}
	}
	w.reload()
	for i, want := range []string{"moved", "moved 0", "memo", "not on chain"} {
		err := settlement.VerifyOnChain(ctx, c, proof(2, rs[i].OperatorID), l.Mint)
		if !errors.Is(err, settlement.ErrNotPaidOnChain) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", rs[i].OperatorID, err, want)
		}
	}
}

// TestSettleForgedInFlightDoesNotBlock: a forged PayoutSubmitted of an
// invented signature whose recorded last valid height never passes would
// keep its operators in flight forever if the record's height were
// believed. Its own blockhash is not valid on chain and the chain does not
// know the signature, so submit expires it and pays them, once.
func TestSettleForgedInFlightDoesNotBlock(t *testing.T) {
	l := startLocalnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := newWorld(t, network(4, nil, emission))
	p := w.plan(1)
	rs := reservedRecipients(w.ledger().Epoch(1).Settlement, 2)
	forge(t, w, &domain.PayoutSubmitted{Epoch: 1, Signature: inventedSig(), Recipients: rs, Blockhash: solana.Hash{7}.String(), LastValidBlockHeight: 1 << 62})
	cfg := fastConfig(l, 1)
	cfg.MaxWait = 5 * time.Second
	rep, err := w.submit(ctx, l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Settled || rep.Expired != 1 || rep.Paid != p.Total {
		t.Fatalf("report %+v", rep)
	}
	checkPaidExactly(t, l, p)
}
