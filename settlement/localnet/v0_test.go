package localnet_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gagliardetto/solana-go"
	addresslookuptable "github.com/gagliardetto/solana-go/programs/address-lookup-table"
	computebudget "github.com/gagliardetto/solana-go/programs/compute-budget"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/epochledger/epochledger/settlement/localnet"
	"github.com/epochledger/epochledger/settlement/lookuptable"
)

// signedV0 builds and signs a v0 transaction that resolves every
// non-signer, non-program account found in tables through them.
func signedV0(t *testing.T, blockhash solana.Hash, payer solana.PrivateKey, tables map[solana.PublicKey]solana.PublicKeySlice, ixs ...solana.Instruction) *solana.Transaction {
	t.Helper()
	tx, err := solana.NewTransaction(ixs, blockhash, solana.TransactionPayer(payer.PublicKey()), solana.TransactionAddressTables(tables))
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

func wireSize(t *testing.T, tx *solana.Transaction) int {
	t.Helper()
	b, err := tx.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// makeTable creates a lookup table of the treasury through the real
// program and extends it with addrs (in chunks that fit a packet).
func makeTable(t *testing.T, l *localnet.Localnet, c *rpc.Client, addrs []solana.PublicKey) solana.PublicKey {
	t.Helper()
	ctx := testCtx(t)
	slot, err := c.GetSlot(ctx, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	ix, table, err := lookuptable.Create(l.Treasury.PublicKey(), l.Treasury.PublicKey(), slot)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := send(ctx, c, signed(t, latest(t, ctx, c).Value.Blockhash, l.Treasury, ix), false)
	if err != nil {
		t.Fatalf("create lookup table: %v", err)
	}
	waitFinalized(t, ctx, c, sig)
	for i := 0; i < len(addrs); i += lookuptable.MaxExtendPerTx {
		chunk := addrs[i:min(i+lookuptable.MaxExtendPerTx, len(addrs))]
		ix, err := lookuptable.Extend(table, l.Treasury.PublicKey(), l.Treasury.PublicKey(), chunk)
		if err != nil {
			t.Fatal(err)
		}
		tx := signed(t, latest(t, ctx, c).Value.Blockhash, l.Treasury, ix)
		if n := wireSize(t, tx); n > 1232 {
			t.Fatalf("extend of %d addresses is %d bytes", len(chunk), n)
		}
		sig, err := send(ctx, c, tx, false)
		if err != nil {
			t.Fatalf("extend lookup table: %v", err)
		}
		waitFinalized(t, ctx, c, sig)
	}
	return table
}

// TestV0WithLookupTable: the address-lookup-table program creates and
// extends a table, getAccountInfo returns it (base64 and jsonParsed), a v0
// transaction with two compute-budget instructions and 48 TransferChecked
// resolved through the table lands inside 1,232 bytes and 64 locks,
// getTransaction reports its loadedAddresses and the token balances of the
// loaded accounts, and getSignaturesForAddress finds it by a loaded one.
func TestV0WithLookupTable(t *testing.T) {
	l := start(t, localnet.Options{})
	ctx := testCtx(t)
	c := rpc.New(l.RPC)

	const n = 48
	owners := make([]solana.PublicKey, n)
	atas := make([]solana.PublicKey, n)
	for i := range owners {
		owners[i] = solana.NewWallet().PublicKey()
		a, err := l.MintTo(ctx, l.Mint, owners[i], 0)
		if err != nil {
			t.Fatal(err)
		}
		atas[i] = a
	}
	// The table holds what every payout transaction repeats too.
	addrs := append([]solana.PublicKey{l.TreasuryTokenAccount, l.Mint}, atas...)
	table := makeTable(t, l, c, addrs)

	acct, err := c.GetAccountInfo(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	if !acct.Value.Owner.Equals(lookuptable.ProgramID) {
		t.Fatalf("table owner %s", acct.Value.Owner)
	}
	state, err := addresslookuptable.DecodeAddressLookupTableState(acct.Value.Data.GetBinary())
	if err != nil {
		t.Fatal(err)
	}
	if len(state.Addresses) != len(addrs) || state.Authority == nil || !state.Authority.Equals(l.Treasury.PublicKey()) {
		t.Fatalf("table has %d addresses (want %d), authority %v", len(state.Addresses), len(addrs), state.Authority)
	}
	for i := range addrs {
		if !state.Addresses[i].Equals(addrs[i]) {
			t.Fatalf("table address %d is %s, want %s", i, state.Addresses[i], addrs[i])
		}
	}
	var parsed struct {
		Value struct {
			Data struct {
				Program string `json:"program"`
				Parsed  struct {
					Type string `json:"type"`
					Info struct {
						Authority string   `json:"authority"`
						Addresses []string `json:"addresses"`
					} `json:"info"`
				} `json:"parsed"`
			} `json:"data"`
		} `json:"value"`
	}
	if err := l.Call(ctx, "getAccountInfo", []any{table.String(), map[string]any{"encoding": "jsonParsed"}}, &parsed); err != nil {
		t.Fatal(err)
	}
	if p := parsed.Value.Data; p.Program != "address-lookup-table" || p.Parsed.Type != "lookupTable" ||
		p.Parsed.Info.Authority != l.Treasury.PublicKey().String() || len(p.Parsed.Info.Addresses) != len(addrs) {
		t.Fatalf("jsonParsed table: %+v", p)
	}

	ixs := []solana.Instruction{
		computebudget.NewSetComputeUnitLimitInstruction(400_000).Build(),
		computebudget.NewSetComputeUnitPriceInstruction(1_000).Build(),
	}
	for i, o := range owners {
		ixs = append(ixs, transferChecked(t, l, o, uint64(1000+i)))
	}
	ixs = append(ixs, memo("epochledger:1:ab:1/1"))
	tx := signedV0(t, latest(t, ctx, c).Value.Blockhash, l.Treasury, map[solana.PublicKey]solana.PublicKeySlice{table: addrs}, ixs...)
	if size := wireSize(t, tx); size > 1232 {
		t.Fatalf("v0 transaction of %d transfers is %d bytes", n, size)
	}
	sig, err := send(ctx, c, tx, false)
	if err != nil {
		t.Fatalf("send v0: %v", err)
	}
	waitFinalized(t, ctx, c, sig)
	for i, a := range atas {
		if got := tokenBalance(t, ctx, c, a); got != uint64(1000+i) {
			t.Fatalf("recipient %d has %d, want %d", i, got, 1000+i)
		}
	}

	// Without maxSupportedTransactionVersion a node refuses to return a v0 transaction.
	if _, err := c.GetTransaction(ctx, sig, &rpc.GetTransactionOpts{Encoding: solana.EncodingBase64}); err == nil {
		t.Fatal("getTransaction of a v0 transaction without maxSupportedTransactionVersion succeeded")
	} else {
		rpcErr(t, err, -32015)
	}
	v := uint64(0)
	got, err := c.GetTransaction(ctx, sig, &rpc.GetTransactionOpts{Encoding: solana.EncodingBase64, MaxSupportedTransactionVersion: &v})
	if err != nil {
		t.Fatal(err)
	}
	if got.Meta.Err != nil {
		t.Fatalf("landed with error %v", got.Meta.Err)
	}
	// The treasury's token account and the mint are the table's first two
	// addresses: writable then readonly, each in its own list, in table order.
	la := got.Meta.LoadedAddresses
	if len(la.Writable) != n+1 || len(la.ReadOnly) != 1 || !la.ReadOnly[0].Equals(l.Mint) {
		t.Fatalf("loadedAddresses: %d writable, readonly %v", len(la.Writable), la.ReadOnly)
	}
	ws := map[solana.PublicKey]bool{}
	for _, w := range la.Writable {
		ws[w] = true
	}
	for _, a := range append([]solana.PublicKey{l.TreasuryTokenAccount}, atas...) {
		if !ws[a] {
			t.Fatalf("%s missing from loadedAddresses.writable", a)
		}
	}
	if locks := len(tx.Message.AccountKeys) + len(la.Writable) + len(la.ReadOnly); locks > 64 {
		t.Fatalf("%d account locks", locks)
	}
	if len(got.Meta.PostTokenBalances) != n+1 || len(got.Meta.PostBalances) != len(got.Meta.PreBalances) {
		t.Fatalf("%d post token balances (want %d), %d/%d pre/post balances", len(got.Meta.PostTokenBalances), n+1, len(got.Meta.PreBalances), len(got.Meta.PostBalances))
	}
	sigs, err := c.GetSignaturesForAddress(ctx, atas[n-1])
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) == 0 || sigs[0].Signature != sig {
		t.Fatalf("getSignaturesForAddress of a loaded account: %v", sigs)
	}
	if sigs[0].Memo == nil || !strings.Contains(*sigs[0].Memo, "epochledger:1:ab:1/1") {
		t.Fatalf("memo %v", sigs[0].Memo)
	}
}

// TestV0AccountLockLimit: a v0 transaction that fits the packet but locks
// more than 64 accounts (static and loaded together) is refused before it
// executes, with the bank's TooManyAccountLocks: -32002 with preflight,
// silently dropped without; an index past the table's end is
// InvalidAddressLookupTableIndex.
func TestV0AccountLockLimit(t *testing.T) {
	l := start(t, localnet.Options{})
	ctx := testCtx(t)
	c := rpc.New(l.RPC)

	// 70 plain addresses: a lock is a lock whether or not the account exists.
	addrs := make([]solana.PublicKey, 70)
	for i := range addrs {
		addrs[i] = solana.NewWallet().PublicKey()
	}
	table := makeTable(t, l, c, addrs)
	metas := solana.AccountMetaSlice{}
	for _, a := range addrs {
		metas = append(metas, solana.Meta(a))
	}
	// One memo instruction naming 70 table accounts (1 byte each in the
	// instruction and in the lookup): small on the wire, 73 locks.
	tx := signedV0(t, latest(t, ctx, c).Value.Blockhash, l.Treasury, map[solana.PublicKey]solana.PublicKeySlice{table: addrs},
		solana.NewInstruction(solana.MemoProgramID, metas, []byte("locks")))
	if size := wireSize(t, tx); size > 1232 {
		t.Fatalf("test transaction is %d bytes", size)
	}
	_, err := send(ctx, c, tx, false)
	re := rpcErr(t, err, -32002)
	if re.Message != "Transaction simulation failed: Transaction locked too many accounts" {
		t.Fatalf("message %q", re.Message)
	}
	if got := errData(t, re)["err"]; got != "TooManyAccountLocks" {
		t.Fatalf("err %v", got)
	}
	sig, err := send(ctx, c, tx, true)
	if err != nil {
		t.Fatalf("skipPreflight: %v", err)
	}
	if s := status(t, ctx, c, sig); s != nil {
		t.Fatalf("a transaction over the lock limit landed: %+v", s)
	}

	// The same table, one index past its end.
	bad := signedV0(t, latest(t, ctx, c).Value.Blockhash, l.Treasury, map[solana.PublicKey]solana.PublicKeySlice{table: addrs[:3]},
		solana.NewInstruction(solana.MemoProgramID, solana.AccountMetaSlice{solana.Meta(addrs[2])}, []byte("x")))
	bad.Message.AddressTableLookups[0].ReadonlyIndexes[0] = 200
	if _, err := bad.Sign(func(k solana.PublicKey) *solana.PrivateKey { return &l.Treasury }); err != nil {
		t.Fatal(err)
	}
	_, err = send(ctx, c, bad, false)
	re = rpcErr(t, err, -32002)
	if got := errData(t, re)["err"]; got != "InvalidAddressLookupTableIndex" {
		t.Fatalf("err %v (%s)", got, re.Message)
	}
}

// TestRecentPrioritizationFees: empty until set; a global list answers
// every query, oldest slot first, ending at the current slot; fees set for
// an account raise the answer only for queries naming it.
func TestRecentPrioritizationFees(t *testing.T) {
	l := start(t, localnet.Options{})
	ctx := testCtx(t)
	c := rpc.New(l.RPC)
	hot := solana.NewWallet().PublicKey()
	cold := solana.NewWallet().PublicKey()

	fees, err := c.GetRecentPrioritizationFees(ctx, solana.PublicKeySlice{hot})
	if err != nil {
		t.Fatal(err)
	}
	if len(fees) != 0 {
		t.Fatalf("fees before any were set: %v", fees)
	}
	if err := l.Call(ctx, "localnet_setPrioritizationFees", map[string]any{"fees": []any{100, 200, "300"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.SetPrioritizationFees(ctx, []uint64{50, 5000, 10}, hot); err != nil {
		t.Fatal(err)
	}
	slot, err := c.GetSlot(ctx, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		accounts solana.PublicKeySlice
		want     []uint64
	}{
		{nil, []uint64{100, 200, 300}},
		{solana.PublicKeySlice{cold}, []uint64{100, 200, 300}},
		{solana.PublicKeySlice{cold, hot}, []uint64{100, 5000, 300}},
	} {
		fees, err := c.GetRecentPrioritizationFees(ctx, tc.accounts)
		if err != nil {
			t.Fatal(err)
		}
		if len(fees) != len(tc.want) {
			t.Fatalf("%v: %d entries, want %d", tc.accounts, len(fees), len(tc.want))
		}
		for i, f := range fees {
			if f.PrioritizationFee != tc.want[i] || f.Slot != slot-uint64(len(fees)-1-i) {
				t.Fatalf("%v: entry %d = %+v, want fee %d at slot %d", tc.accounts, i, f, tc.want[i], slot-uint64(len(fees)-1-i))
			}
		}
	}
	err = l.Call(ctx, "localnet_setPrioritizationFees", map[string]any{"fees": []any{-1}}, nil)
	var re *localnet.RPCError
	if !errors.As(err, &re) || re.Code != -32602 || !strings.Contains(re.Message, "fees[0]") {
		t.Fatalf("a negative fee: %v", err)
	}
}
