package localnet_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/token"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"
	"github.com/mr-tron/base58"

	"github.com/epochledger/epochledger/settlement/localnet"
)

// ---------------------------------------------------------------- harness

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs a fresh server for one test; its log is shown if the test fails.
func start(t *testing.T, opts localnet.Options) *localnet.Localnet {
	t.Helper()
	// The first run on a machine may spend a while in npm install.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logs := &lockedBuffer{}
	opts.Stderr = logs
	opts.Verbose = true
	l, err := localnet.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return l
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ata(t *testing.T, owner, mint solana.PublicKey) solana.PublicKey {
	t.Helper()
	a, _, err := solana.FindAssociatedTokenAddress(owner, mint)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// createATAIdempotent is solana-go's associatedtokenaccount Create with
// instruction data [1] (CreateIdempotent) instead of the empty Create.
func createATAIdempotent(t *testing.T, payer, owner, mint solana.PublicKey) solana.Instruction {
	return solana.NewInstruction(solana.SPLAssociatedTokenAccountProgramID, solana.AccountMetaSlice{
		solana.Meta(payer).WRITE().SIGNER(),
		solana.Meta(ata(t, owner, mint)).WRITE(),
		solana.Meta(owner),
		solana.Meta(mint),
		solana.Meta(solana.SystemProgramID),
		solana.Meta(solana.TokenProgramID),
	}, []byte{1})
}

func transferChecked(t *testing.T, l *localnet.Localnet, to solana.PublicKey, amount uint64) solana.Instruction {
	return token.NewTransferCheckedInstruction(amount, l.Decimals, l.TreasuryTokenAccount, l.Mint,
		ata(t, to, l.Mint), l.Treasury.PublicKey(), nil).Build()
}

// memo is the raw SPL Memo instruction: the UTF-8 text is the whole data.
func memo(text string) solana.Instruction {
	return solana.NewInstruction(solana.MemoProgramID, solana.AccountMetaSlice{}, []byte(text))
}

func signed(t *testing.T, blockhash solana.Hash, payer solana.PrivateKey, ixs ...solana.Instruction) *solana.Transaction {
	t.Helper()
	tx, err := solana.NewTransaction(ixs, blockhash, solana.TransactionPayer(payer.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Sign(func(k solana.PublicKey) *solana.PrivateKey {
		if k.Equals(payer.PublicKey()) {
			return &payer
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return tx
}

// payout is the settlement shape: idempotent ATA, TransferChecked, Memo.
func payout(t *testing.T, l *localnet.Localnet, blockhash solana.Hash, to solana.PublicKey, amount uint64, note string) *solana.Transaction {
	return signed(t, blockhash, l.Treasury,
		createATAIdempotent(t, l.Treasury.PublicKey(), to, l.Mint),
		transferChecked(t, l, to, amount),
		memo(note))
}

func latest(t *testing.T, ctx context.Context, c *rpc.Client) *rpc.GetLatestBlockhashResult {
	t.Helper()
	bh, err := c.GetLatestBlockhash(ctx, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	return bh
}

func send(ctx context.Context, c *rpc.Client, tx *solana.Transaction, skipPreflight bool) (solana.Signature, error) {
	return c.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{SkipPreflight: skipPreflight, PreflightCommitment: rpc.CommitmentFinalized})
}

// waitFinalized polls getSignatureStatuses (there is no WebSocket).
func waitFinalized(t *testing.T, ctx context.Context, c *rpc.Client, sig solana.Signature) *rpc.SignatureStatusesResult {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := c.GetSignatureStatuses(ctx, true, sig)
		if err != nil {
			t.Fatal(err)
		}
		if s := res.Value[0]; s != nil && s.ConfirmationStatus == rpc.ConfirmationStatusFinalized {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not finalized after 10s", sig)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func status(t *testing.T, ctx context.Context, c *rpc.Client, sig solana.Signature) *rpc.SignatureStatusesResult {
	t.Helper()
	res, err := c.GetSignatureStatuses(ctx, true, sig)
	if err != nil {
		t.Fatal(err)
	}
	return res.Value[0]
}

func tokenBalance(t *testing.T, ctx context.Context, c *rpc.Client, account solana.PublicKey) uint64 {
	t.Helper()
	res, err := c.GetTokenAccountBalance(ctx, account, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatalf("getTokenAccountBalance %s: %v", account, err)
	}
	n, err := strconv.ParseUint(res.Value.Amount, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func rpcErr(t *testing.T, err error, code int) *jsonrpc.RPCError {
	t.Helper()
	var re *jsonrpc.RPCError
	if !errors.As(err, &re) {
		t.Fatalf("want RPC error %d, got %v", code, err)
	}
	if re.Code != code {
		t.Fatalf("want RPC error code %d, got %d: %s", code, re.Code, re.Message)
	}
	return re
}

func errData(t *testing.T, re *jsonrpc.RPCError) map[string]any {
	t.Helper()
	m, ok := re.Data.(map[string]any)
	if !ok {
		t.Fatalf("error data is %T (%v), want an object", re.Data, re.Data)
	}
	return m
}

// ---------------------------------------------------------------- tests

func TestPayoutTransactionLands(t *testing.T) {
	l := start(t, localnet.Options{})
	ctx := testCtx(t)
	c := rpc.New(l.RPC)

	if got := ata(t, l.Treasury.PublicKey(), l.Mint); !got.Equals(l.TreasuryTokenAccount) {
		t.Fatalf("treasury token account %s, want the ATA %s", l.TreasuryTokenAccount, got)
	}
	if l.Decimals != 8 || l.TreasuryAmount != 1_000_000_000_000_000 {
		t.Fatalf("decimals %d, treasury amount %d", l.Decimals, l.TreasuryAmount)
	}
	if got := tokenBalance(t, ctx, c, l.TreasuryTokenAccount); got != l.TreasuryAmount {
		t.Fatalf("treasury balance %d, want %d", got, l.TreasuryAmount)
	}

	bh := latest(t, ctx, c)
	height0, err := c.GetBlockHeight(ctx, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	if bh.Value.LastValidBlockHeight != height0+150 {
		t.Fatalf("lastValidBlockHeight %d, want block height %d + 150", bh.Value.LastValidBlockHeight, height0)
	}

	alice := solana.NewWallet().PublicKey()
	const amount = 4_700_012_345_678 // 47,000.12345678 RENDER
	note := "epochledger:7:" + strings.Repeat("ab", 32)
	tx := payout(t, l, bh.Value.Blockhash, alice, amount, note)
	sig, err := send(ctx, c, tx, false)
	if err != nil {
		t.Fatal(err)
	}
	if sig != tx.Signatures[0] {
		t.Fatalf("sendTransaction answered %s, want the first signature %s", sig, tx.Signatures[0])
	}
	st := waitFinalized(t, ctx, c, sig)
	if st.Err != nil {
		t.Fatalf("landed with error %v", st.Err)
	}

	if got := tokenBalance(t, ctx, c, ata(t, alice, l.Mint)); got != amount {
		t.Fatalf("alice has %d, want %d", got, amount)
	}
	if got := tokenBalance(t, ctx, c, l.TreasuryTokenAccount); got != l.TreasuryAmount-amount {
		t.Fatalf("treasury has %d, want %d", got, l.TreasuryAmount-amount)
	}
	if got, err := l.TokenBalance(ctx, alice, l.Mint); err != nil || got != amount {
		t.Fatalf("TokenBalance = %d, %v; want %d", got, err, amount)
	}

	// The memo reads back from the landed transaction.
	got, err := c.GetTransaction(ctx, sig, &rpc.GetTransactionOpts{Encoding: solana.EncodingBase64, Commitment: rpc.CommitmentFinalized})
	if err != nil {
		t.Fatal(err)
	}
	if got.Meta.Err != nil || got.Slot != st.Slot || got.Meta.Fee != 5000 {
		t.Fatalf("getTransaction: err %v slot %d (status slot %d) fee %d", got.Meta.Err, got.Slot, st.Slot, got.Meta.Fee)
	}
	back, err := got.Transaction.GetTransaction()
	if err != nil {
		t.Fatal(err)
	}
	memos := memosOf(t, back)
	if len(memos) != 1 || memos[0] != note {
		t.Fatalf("memos %q, want [%q]", memos, note)
	}
	if !containsLine(got.Meta.LogMessages, "Program log: Memo (len 78)") || !containsLine(got.Meta.LogMessages, "Program log: CreateIdempotent") {
		t.Fatalf("logs lack the memo or ATA program:\n%s", strings.Join(got.Meta.LogMessages, "\n"))
	}

	// Each landed transaction moves the block height by one, with a new blockhash.
	height1, err := c.GetBlockHeight(ctx, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	if height1 != height0+1 {
		t.Fatalf("block height %d after one transaction, want %d", height1, height0+1)
	}
	if bh2 := latest(t, ctx, c); bh2.Value.Blockhash == bh.Value.Blockhash {
		t.Fatal("blockhash did not change when the block height moved")
	}

	// A batch may reuse one blockhash; the ATA already exists, so the
	// idempotent create is a no-op and the second payout adds up.
	tx2 := payout(t, l, bh.Value.Blockhash, alice, 1, note)
	bob := solana.NewWallet().PublicKey()
	tx3 := payout(t, l, bh.Value.Blockhash, bob, 2, note)
	for _, tx := range []*solana.Transaction{tx2, tx3} {
		sig, err := send(ctx, c, tx, false)
		if err != nil {
			t.Fatal(err)
		}
		if st := waitFinalized(t, ctx, c, sig); st.Err != nil {
			t.Fatalf("landed with error %v", st.Err)
		}
	}
	if got := tokenBalance(t, ctx, c, ata(t, alice, l.Mint)); got != amount+1 {
		t.Fatalf("alice has %d, want %d", got, amount+1)
	}
	if got := tokenBalance(t, ctx, c, ata(t, bob, l.Mint)); got != 2 {
		t.Fatalf("bob has %d, want 2", got)
	}
	if got := tokenBalance(t, ctx, c, l.TreasuryTokenAccount); got != l.TreasuryAmount-amount-3 {
		t.Fatalf("treasury has %d, want %d", got, l.TreasuryAmount-amount-3)
	}
}

func memosOf(t *testing.T, tx *solana.Transaction) []string {
	t.Helper()
	var out []string
	for _, ix := range tx.Message.Instructions {
		pid, err := tx.Message.Program(ix.ProgramIDIndex)
		if err != nil {
			t.Fatal(err)
		}
		if pid.Equals(solana.MemoProgramID) {
			out = append(out, string(ix.Data))
		}
	}
	return out
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func TestPacketSizeLimit(t *testing.T) {
	l := start(t, localnet.Options{})
	ctx := testCtx(t)
	c := rpc.New(l.RPC)
	bh := latest(t, ctx, c).Value.Blockhash
	to := solana.NewWallet().PublicKey()

	// Grow the memo until the wire transaction is exactly 1,232 bytes.
	sized := func(n int) *solana.Transaction {
		return signed(t, bh, l.Treasury, transferChecked(t, l, l.Treasury.PublicKey(), 1), memo(strings.Repeat("x", n)))
	}
	wireLen := func(tx *solana.Transaction) int {
		b, err := tx.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return len(b)
	}
	base := wireLen(sized(1))
	n := 1 + 1232 - base
	for wireLen(sized(n)) > 1232 { // compact-u16 data length may grow a byte
		n--
	}
	atLimit := sized(n)
	if wireLen(atLimit) != 1232 {
		t.Fatalf("could not size a transaction to 1232 bytes (got %d)", wireLen(atLimit))
	}
	_ = to
	sig, err := send(ctx, c, atLimit, false)
	if err != nil {
		t.Fatalf("a 1232-byte transaction was refused: %v", err)
	}
	waitFinalized(t, ctx, c, sig)

	over := sized(n + 1)
	if wireLen(over) != 1233 {
		t.Fatalf("oversize transaction is %d bytes", wireLen(over))
	}
	_, err = send(ctx, c, over, true)
	re := rpcErr(t, err, -32602)
	if !strings.Contains(re.Message, "too large") || !strings.Contains(re.Message, "1232") {
		t.Fatalf("oversize refusal does not say so: %q", re.Message)
	}
	if s := status(t, ctx, c, over.Signatures[0]); s != nil {
		t.Fatalf("oversize transaction has a status: %+v", s)
	}

	// Far over: the base64 text itself is over the RPC's limit.
	huge := signed(t, bh, l.Treasury, memo(strings.Repeat("y", 1500)))
	_, err = send(ctx, c, huge, false)
	re = rpcErr(t, err, -32602)
	if !strings.Contains(re.Message, "too large") {
		t.Fatalf("refusal: %q", re.Message)
	}
}

func TestBadSignatureRefused(t *testing.T) {
	l := start(t, localnet.Options{})
	ctx := testCtx(t)
	c := rpc.New(l.RPC)
	bh := latest(t, ctx, c).Value.Blockhash
	to := solana.NewWallet().PublicKey()

	tx := payout(t, l, bh, to, 5, "bad sig")
	tx.Signatures[0][10] ^= 0xff

	_, err := send(ctx, c, tx, false)
	re := rpcErr(t, err, -32003)
	if re.Message != "Transaction signature verification failure" {
		t.Fatalf("message %q", re.Message)
	}

	// Without preflight the node forwards it and the leader drops it: a
	// signature comes back, nothing lands.
	sig, err := send(ctx, c, tx, true)
	if err != nil {
		t.Fatal(err)
	}
	if s := status(t, ctx, c, sig); s != nil {
		t.Fatalf("bad-signature transaction has a status: %+v", s)
	}
	if got, _ := l.TokenBalance(ctx, to, l.Mint); got != 0 {
		t.Fatalf("recipient got %d from a badly signed transaction", got)
	}

	// Signed by the wrong key.
	mallory := solana.NewWallet().PrivateKey
	forged := payout(t, l, bh, to, 5, "forged")
	msg, err := forged.Message.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	s, err := mallory.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	forged.Signatures[0] = s
	_, err = send(ctx, c, forged, false)
	rpcErr(t, err, -32003)
}

func TestExpiredBlockhash(t *testing.T) {
	l := start(t, localnet.Options{})
	ctx := testCtx(t)
	c := rpc.New(l.RPC)
	to := solana.NewWallet().PublicKey()

	// 150 blocks later a blockhash is still usable...
	old := latest(t, ctx, c)
	if err := l.AdvanceSlots(ctx, 150); err != nil {
		t.Fatal(err)
	}
	h, err := c.GetBlockHeight(ctx, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	if h != old.Value.LastValidBlockHeight {
		t.Fatalf("block height %d, want %d", h, old.Value.LastValidBlockHeight)
	}
	sig, err := send(ctx, c, payout(t, l, old.Value.Blockhash, to, 1, "at the edge"), false)
	if err != nil {
		t.Fatalf("blockhash at its last valid block height was refused: %v", err)
	}
	waitFinalized(t, ctx, c, sig)

	// ...151 blocks later it is not.
	old = latest(t, ctx, c)
	s, err := l.Advance(ctx, 151)
	if err != nil {
		t.Fatal(err)
	}
	if s.BlockHeight <= old.Value.LastValidBlockHeight || s.Blockhash == old.Value.Blockhash.String() {
		t.Fatalf("advance: %+v, old blockhash valid until %d", s, old.Value.LastValidBlockHeight)
	}
	valid, err := c.IsBlockhashValid(ctx, old.Value.Blockhash, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	if valid.Value {
		t.Fatal("isBlockhashValid says an expired blockhash is valid")
	}
	expired := payout(t, l, old.Value.Blockhash, to, 1, "too late")
	_, err = send(ctx, c, expired, false)
	re := rpcErr(t, err, -32002)
	if re.Message != "Transaction simulation failed: Blockhash not found" {
		t.Fatalf("message %q", re.Message)
	}
	if e := errData(t, re)["err"]; e != "BlockhashNotFound" {
		t.Fatalf("data.err = %v, want BlockhashNotFound", e)
	}
	// Sent without preflight, it is silently dropped and never lands.
	if _, err := send(ctx, c, expired, true); err != nil {
		t.Fatal(err)
	}
	if st := status(t, ctx, c, expired.Signatures[0]); st != nil {
		t.Fatalf("expired transaction has a status: %+v", st)
	}
	if got, _ := l.TokenBalance(ctx, to, l.Mint); got != 1 {
		t.Fatalf("recipient has %d, want 1", got)
	}
}

func TestDuplicateDoesNotExecuteTwice(t *testing.T) {
	l := start(t, localnet.Options{})
	ctx := testCtx(t)
	c := rpc.New(l.RPC)
	to := solana.NewWallet().PublicKey()
	tx := payout(t, l, latest(t, ctx, c).Value.Blockhash, to, 100, "once")

	sig, err := send(ctx, c, tx, false)
	if err != nil {
		t.Fatal(err)
	}
	waitFinalized(t, ctx, c, sig)

	_, err = send(ctx, c, tx, false)
	re := rpcErr(t, err, -32002)
	if re.Message != "Transaction simulation failed: This transaction has already been processed" {
		t.Fatalf("message %q", re.Message)
	}
	if e := errData(t, re)["err"]; e != "AlreadyProcessed" {
		t.Fatalf("data.err = %v", e)
	}
	for i := 0; i < 3; i++ {
		if _, err := send(ctx, c, tx, true); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := l.TokenBalance(ctx, to, l.Mint); got != 100 {
		t.Fatalf("recipient has %d after resends, want 100", got)
	}
}

func TestFailedTransactionLandsWithError(t *testing.T) {
	l := start(t, localnet.Options{})
	ctx := testCtx(t)
	c := rpc.New(l.RPC)
	to := solana.NewWallet().PublicKey()
	bh := latest(t, ctx, c).Value.Blockhash
	tooMuch := payout(t, l, bh, to, l.TreasuryAmount+1, "overdraw")

	_, err := send(ctx, c, tooMuch, false)
	re := rpcErr(t, err, -32002)
	if re.Message != "Transaction simulation failed: Error processing Instruction 1: custom program error: 0x1" {
		t.Fatalf("message %q", re.Message)
	}
	if logs, _ := errData(t, re)["logs"].([]any); len(logs) == 0 {
		t.Fatal("preflight failure carries no logs")
	}

	solBefore, err := c.GetBalance(ctx, l.Treasury.PublicKey(), rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := send(ctx, c, tooMuch, true)
	if err != nil {
		t.Fatal(err)
	}
	st := waitFinalized(t, ctx, c, sig)
	b, _ := json.Marshal(st.Err)
	if string(b) != `{"InstructionError":[1,{"Custom":1}]}` {
		t.Fatalf("status err %s", b)
	}
	solAfter, err := c.GetBalance(ctx, l.Treasury.PublicKey(), rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	if solBefore.Value-solAfter.Value != 5000 {
		t.Fatalf("failed transaction cost %d lamports, want the 5000 fee", solBefore.Value-solAfter.Value)
	}
	if got := tokenBalance(t, ctx, c, l.TreasuryTokenAccount); got != l.TreasuryAmount {
		t.Fatalf("treasury has %d after a failed transfer, want %d", got, l.TreasuryAmount)
	}
	got, err := c.GetTransaction(ctx, sig, &rpc.GetTransactionOpts{Encoding: solana.EncodingBase64})
	if err != nil {
		t.Fatal(err)
	}
	if got.Meta.Err == nil || !containsLine(got.Meta.LogMessages, "Program log: Error: insufficient funds") {
		t.Fatalf("meta.err %v, logs:\n%s", got.Meta.Err, strings.Join(got.Meta.LogMessages, "\n"))
	}
}

func TestFaults(t *testing.T) {
	l := start(t, localnet.Options{})
	ctx := testCtx(t)
	c := rpc.New(l.RPC)
	bh := latest(t, ctx, c).Value.Blockhash
	to := solana.NewWallet().PublicKey()
	paid := uint64(0)
	check := func(want uint64) {
		t.Helper()
		if got, err := l.TokenBalance(ctx, to, l.Mint); err != nil || got != want {
			t.Fatalf("recipient has %d (%v), want %d", got, err, want)
		}
	}

	t.Run("drop", func(t *testing.T) {
		tx := payout(t, l, bh, to, 10, "drop")
		if err := l.SetFaults(ctx, localnet.Faults{DropNextSends: 1}); err != nil {
			t.Fatal(err)
		}
		sig, err := send(ctx, c, tx, false)
		if err != nil || sig != tx.Signatures[0] {
			t.Fatalf("dropped send answered %s, %v", sig, err)
		}
		time.Sleep(50 * time.Millisecond)
		if s := status(t, ctx, c, sig); s != nil {
			t.Fatalf("dropped transaction has a status: %+v", s)
		}
		check(paid)
		// The fault is spent: a resend lands, once.
		if _, err := send(ctx, c, tx, false); err != nil {
			t.Fatal(err)
		}
		waitFinalized(t, ctx, c, sig)
		paid += 10
		check(paid)
	})

	t.Run("fail", func(t *testing.T) {
		tx := payout(t, l, bh, to, 20, "fail")
		if err := l.SetFaults(ctx, localnet.Faults{FailNextSends: 2}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			_, err := send(ctx, c, tx, true)
			rpcErr(t, err, -32005)
		}
		if s := status(t, ctx, c, tx.Signatures[0]); s != nil {
			t.Fatalf("failed send executed: %+v", s)
		}
		check(paid)
		sig, err := send(ctx, c, tx, true)
		if err != nil {
			t.Fatal(err)
		}
		waitFinalized(t, ctx, c, sig)
		paid += 20
		check(paid)
	})

	t.Run("timeout", func(t *testing.T) {
		tx := payout(t, l, bh, to, 30, "timeout")
		if err := l.SetFaults(ctx, localnet.Faults{TimeoutNextSends: 1}); err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		_, err := send(short, c, tx, false)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("withheld send returned %v, want a client timeout", err)
		}
		// It executed all the same.
		waitFinalized(t, ctx, c, tx.Signatures[0])
		paid += 30
		check(paid)
		// Resending is refused (preflight) or a no-op (skipPreflight).
		_, err = send(ctx, c, tx, false)
		rpcErr(t, err, -32002)
		if _, err := send(ctx, c, tx, true); err != nil {
			t.Fatal(err)
		}
		check(paid)
	})

	t.Run("timeout with delay", func(t *testing.T) {
		tx := payout(t, l, bh, to, 40, "late answer")
		if err := l.SetFaults(ctx, localnet.Faults{TimeoutNextSends: 1, TimeoutDelay: 200 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		sig, err := send(ctx, c, tx, false)
		if err != nil || sig != tx.Signatures[0] {
			t.Fatalf("late answer %s, %v", sig, err)
		}
		if d := time.Since(t0); d < 200*time.Millisecond {
			t.Fatalf("answered after %v, want ≥ 200ms", d)
		}
		paid += 40
		check(paid)
	})

	t.Run("disarm", func(t *testing.T) {
		if err := l.SetFaults(ctx, localnet.Faults{DropNextSends: 5, FailNextSends: 5}); err != nil {
			t.Fatal(err)
		}
		if err := l.SetFaults(ctx, localnet.Faults{}); err != nil {
			t.Fatal(err)
		}
		sig, err := send(ctx, c, payout(t, l, bh, to, 1, "disarmed"), false)
		if err != nil {
			t.Fatal(err)
		}
		waitFinalized(t, ctx, c, sig)
		paid++
		check(paid)
	})
}

func TestStateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	l := start(t, localnet.Options{StateDir: dir})
	ctx := testCtx(t)

	raw, err := os.ReadFile(filepath.Join(dir, "localnet.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		RPC                  string `json:"rpc"`
		Mint                 string `json:"mint"`
		TreasuryKeypair      string `json:"treasury_keypair"`
		TreasuryTokenAccount string `json:"treasury_token_account"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("localnet.json %s: %v", raw, err)
	}
	if doc.RPC != l.RPC || doc.Mint != l.Mint.String() || doc.TreasuryTokenAccount != l.TreasuryTokenAccount.String() ||
		doc.TreasuryKeypair != filepath.Join(dir, "treasury.json") || l.TreasuryKeypairPath != doc.TreasuryKeypair {
		t.Fatalf("localnet.json %+v does not match %+v", doc, l)
	}
	// ReadState, what every reader uses, reads the same document from the
	// directory or the file, and it is the running server's State.
	for _, p := range []string{dir, filepath.Join(dir, localnet.StateFile)} {
		st, err := localnet.ReadState(p)
		if err != nil {
			t.Fatal(err)
		}
		if *st != l.State() || st.RPC != doc.RPC || st.Mint != doc.Mint || st.TreasuryKeypair != doc.TreasuryKeypair || st.TreasuryTokenAccount != doc.TreasuryTokenAccount {
			t.Fatalf("ReadState(%s) = %+v, the file holds %+v, the server is %+v", p, *st, doc, l.State())
		}
	}
	key, err := solana.PrivateKeyFromSolanaKeygenFile(doc.TreasuryKeypair)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(key, l.Treasury) {
		t.Fatal("treasury.json is not the treasury key")
	}

	c := rpc.New(doc.RPC)
	supply, err := c.GetTokenSupply(ctx, l.Mint, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	if supply.Value.Decimals != 8 || supply.Value.Amount != "1000000000000000" || supply.Value.UiAmountString != "10000000" {
		t.Fatalf("supply %+v", supply.Value)
	}
	sol, err := c.GetBalance(ctx, l.Treasury.PublicKey(), rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	if sol.Value < 1_000*solana.LAMPORTS_PER_SOL {
		t.Fatalf("treasury has only %d lamports", sol.Value)
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "localnet.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("localnet.json outlives the server: %v", err)
	}
	if _, err := localnet.ReadState(dir); !errors.Is(err, localnet.ErrNoState) {
		t.Fatalf("ReadState of a stopped server's directory: %v, want ErrNoState", err)
	}
}

func TestStandardMethodsAndHelpers(t *testing.T) {
	l := start(t, localnet.Options{})
	ctx := testCtx(t)
	c := rpc.New(l.RPC)

	if h, err := c.GetHealth(ctx); err != nil || h != "ok" {
		t.Fatalf("getHealth %q %v", h, err)
	}
	if v, err := c.GetVersion(ctx); err != nil || v.SolanaCore == "" {
		t.Fatalf("getVersion %+v %v", v, err)
	}
	slot, err := c.GetSlot(ctx, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	height, err := c.GetBlockHeight(ctx, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	if slot == height {
		t.Fatalf("slot and block height are both %d; they should differ so mixing them up shows", slot)
	}
	rent, err := c.GetMinimumBalanceForRentExemption(ctx, 165, rpc.CommitmentFinalized)
	if err != nil || rent != 2039280 {
		t.Fatalf("rent for 165 bytes: %d %v", rent, err)
	}

	bh := latest(t, ctx, c).Value.Blockhash
	tx := payout(t, l, bh, solana.NewWallet().PublicKey(), 1, "fee")
	msg, err := tx.Message.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	fee, err := c.GetFeeForMessage(ctx, base64.StdEncoding.EncodeToString(msg), rpc.CommitmentFinalized)
	if err != nil || fee.Value == nil || *fee.Value != 5000 {
		t.Fatalf("getFeeForMessage %+v %v", fee, err)
	}
	sim, err := c.SimulateTransactionWithOpts(ctx, tx, &rpc.SimulateTransactionOpts{SigVerify: true})
	if err != nil || sim.Value.Err != nil || len(sim.Value.Logs) == 0 {
		t.Fatalf("simulateTransaction %+v %v", sim, err)
	}
	// base58 is sendTransaction's default encoding; getTransaction's default is json.
	raw, err := tx.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var sig solana.Signature
	if err := l.Call(ctx, "sendTransaction", []any{base58.Encode(raw)}, &sig); err != nil || sig != tx.Signatures[0] {
		t.Fatalf("base58 sendTransaction %s %v", sig, err)
	}
	waitFinalized(t, ctx, c, sig)
	got, err := c.GetTransaction(ctx, sig, nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := got.Transaction.GetTransaction()
	if err != nil {
		t.Fatal(err)
	}
	if memos := memosOf(t, back); len(memos) != 1 || memos[0] != "fee" || back.Signatures[0] != sig {
		t.Fatalf("json getTransaction: memos %q, signature %s", memos, back.Signatures[0])
	}

	acct, err := c.GetAccountInfo(ctx, l.TreasuryTokenAccount)
	if err != nil || !acct.Value.Owner.Equals(solana.TokenProgramID) || len(acct.Value.Data.GetBinary()) != 165 {
		t.Fatalf("getAccountInfo %+v %v", acct, err)
	}

	// Test-only helpers.
	mint, err := l.CreateMint(ctx, 6)
	if err != nil {
		t.Fatal(err)
	}
	owner := solana.NewWallet().PublicKey()
	if _, err := l.MintTo(ctx, mint, owner, 1_234_567); err != nil {
		t.Fatal(err)
	}
	if got, err := l.TokenBalance(ctx, owner, mint); err != nil || got != 1_234_567 {
		t.Fatalf("TokenBalance %d %v", got, err)
	}
	bal, err := c.GetTokenAccountBalance(ctx, ata(t, owner, mint), rpc.CommitmentFinalized)
	if err != nil || bal.Value.Decimals != 6 || bal.Value.UiAmountString != "1.234567" {
		t.Fatalf("balance %+v %v", bal, err)
	}
	if got, err := l.TokenBalance(ctx, solana.NewWallet().PublicKey(), mint); err != nil || got != 0 {
		t.Fatalf("TokenBalance of a stranger %d %v", got, err)
	}
	if err := l.Airdrop(ctx, owner, 7*solana.LAMPORTS_PER_SOL); err != nil {
		t.Fatal(err)
	}
	if b, err := c.GetBalance(ctx, owner, rpc.CommitmentFinalized); err != nil || b.Value != 7*solana.LAMPORTS_PER_SOL {
		t.Fatalf("balance after airdrop %+v %v", b, err)
	}
	var tr struct {
		Treasury     string `json:"treasury"`
		SecretKey    []int  `json:"secretKey"`
		TokenAccount string `json:"tokenAccount"`
	}
	if err := l.Call(ctx, "localnet_setupTreasury", map[string]any{"mint": mint.String(), "amount": "500"}, &tr); err != nil {
		t.Fatal(err)
	}
	if len(tr.SecretKey) != 64 || tr.TokenAccount != ata(t, solana.MustPublicKeyFromBase58(tr.Treasury), mint).String() {
		t.Fatalf("setupTreasury %+v", tr)
	}

	var re *localnet.RPCError
	if err := l.Call(ctx, "noSuchMethod", nil, nil); !errors.As(err, &re) || re.Code != -32601 {
		t.Fatalf("unknown method: %v", err)
	}
	if err := l.AdvanceSlots(ctx, 0); err == nil {
		t.Fatal("AdvanceSlots(0) succeeded")
	}
}

func TestStartErrors(t *testing.T) {
	ctx := testCtx(t)
	if _, err := localnet.Start(ctx, localnet.Options{NodeBin: filepath.Join(t.TempDir(), "no-node")}); !errors.Is(err, localnet.ErrNodeNotFound) {
		t.Fatalf("missing node: %v", err)
	}

	l := start(t, localnet.Options{})
	port := l.RPC[strings.LastIndex(l.RPC, ":")+1:]
	p, _ := strconv.Atoi(port)
	_, err := localnet.Start(ctx, localnet.Options{Port: p})
	if err == nil || !strings.Contains(err.Error(), "EADDRINUSE") {
		t.Fatalf("port in use: %v", err)
	}

	t.Setenv(localnet.EnvDir, t.TempDir())
	if err := localnet.EnsureInstalled(ctx); err == nil || !strings.Contains(err.Error(), "server.js") {
		t.Fatalf("%s without server.js: %v", localnet.EnvDir, err)
	}
}

func ExampleStart() {
	ctx := context.Background()
	l, err := localnet.Start(ctx, localnet.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	fmt.Println(l.Decimals, l.TreasuryAmount)
	// Output: 8 1000000000000000
}
