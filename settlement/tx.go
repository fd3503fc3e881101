package settlement

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gagliardetto/solana-go"

	"github.com/epochledger/epochledger/domain"
)

// Decimals is what the RENDER mint must have: amounts are base units of
// 10^-8 RENDER and TransferChecked states it.
const Decimals = 8

// MaxTxSize is the byte limit of a legacy transaction on the wire.
const MaxTxSize = domain.MaxTransactionSize

// The instruction bytes of SPL Token TransferChecked and of the Associated
// Token Account program's CreateIdempotent.
const (
	tokenIxTransferChecked = 12
	ataIxCreateIdempotent  = 1
)

// Treasury names the accounts a payout transaction spends from.
type Treasury struct {
	// Authority owns Source and pays the fees: the one signer.
	Authority solana.PublicKey
	// Source is the treasury's token account of Mint.
	Source solana.PublicKey
	Mint   solana.PublicKey
}

// Transfer is one recipient of a payout transaction.
type Transfer struct {
	domain.Recipient
	Owner solana.PublicKey // the operator's wallet
	ATA   solana.PublicKey // its associated token account of the mint
	// Create adds an idempotent create-associated-token-account
	// instruction: the account did not exist when the batch was packed.
	Create bool
}

// sumTransfers is what transfers pay in all and how many token accounts
// they create: the one tally the cost, the dry run's rows and its total use.
func sumTransfers(ts []Transfer) (amount domain.BaseUnits, creates int) {
	for _, t := range ts {
		amount += t.Amount
		if t.Create {
			creates++
		}
	}
	return amount, creates
}

// NewTransfer resolves a recipient's wallet and associated token account.
func NewTransfer(r domain.Recipient, mint solana.PublicKey) (Transfer, error) {
	w, err := domain.ParseWallet(r.Wallet)
	if err != nil {
		return Transfer{}, err
	}
	owner := solana.PublicKeyFromBytes(w[:])
	ata, _, err := solana.FindAssociatedTokenAddress(owner, mint)
	if err != nil {
		return Transfer{}, fmt.Errorf("associated token account of %s: %w", r.Wallet, err)
	}
	return Transfer{Recipient: r, Owner: owner, ATA: ata}, nil
}

// createATAIdempotent is the Associated Token Account program's
// CreateIdempotent: solana-go's Create accounts with data [1] (its Create
// sends empty data, which fails when the account exists).
func createATAIdempotent(payer, owner, ata, mint solana.PublicKey) solana.Instruction {
	return solana.NewInstruction(solana.SPLAssociatedTokenAccountProgramID, solana.AccountMetaSlice{
		solana.Meta(payer).WRITE().SIGNER(),
		solana.Meta(ata).WRITE(),
		solana.Meta(owner),
		solana.Meta(mint),
		solana.Meta(solana.SystemProgramID),
		solana.Meta(solana.TokenProgramID),
	}, []byte{ataIxCreateIdempotent})
}

// transferChecked is SPL Token TransferChecked: source, mint, destination,
// authority; data [12, amount u64 LE, decimals].
func transferChecked(t *Treasury, dest solana.PublicKey, amount uint64) solana.Instruction {
	data := make([]byte, 10)
	data[0] = tokenIxTransferChecked
	binary.LittleEndian.PutUint64(data[1:9], amount)
	data[9] = Decimals
	return solana.NewInstruction(solana.TokenProgramID, solana.AccountMetaSlice{
		solana.Meta(t.Source).WRITE(),
		solana.Meta(t.Mint),
		solana.Meta(dest).WRITE(),
		solana.Meta(t.Authority).SIGNER(),
	}, data)
}

// memoInstruction is the SPL Memo program's instruction: the UTF-8 text
// is the whole data, no accounts. (solana-go's memo package prefixes a
// length byte, which would land in the memo.)
func memoInstruction(text string) solana.Instruction {
	return solana.NewInstruction(solana.MemoProgramID, solana.AccountMetaSlice{}, []byte(text))
}

// BuildTx returns the unsigned payout transaction: for each transfer in
// order an optional idempotent ATA creation and a TransferChecked, then
// the memo.
func BuildTx(t *Treasury, transfers []Transfer, memo string, blockhash solana.Hash) (*solana.Transaction, error) {
	ixs := make([]solana.Instruction, 0, 2*len(transfers)+1)
	for _, tr := range transfers {
		if tr.Create {
			ixs = append(ixs, createATAIdempotent(t.Authority, tr.Owner, tr.ATA, t.Mint))
		}
		ixs = append(ixs, transferChecked(t, tr.ATA, uint64(tr.Amount)))
	}
	ixs = append(ixs, memoInstruction(memo))
	tx, err := solana.NewTransaction(ixs, blockhash, solana.TransactionPayer(t.Authority))
	if err != nil {
		return nil, err
	}
	// Complete the wire form with an empty signature slot, so that an
	// unsigned export has the size of the signed transaction.
	tx.Signatures = make([]solana.Signature, tx.Message.Header.NumRequiredSignatures)
	return tx, nil
}

// compactLen is the length of a compact-u16.
func compactLen(n int) int {
	switch {
	case n < 0x80:
		return 1
	case n < 0x4000:
		return 2
	}
	return 3
}

// ixLen is the wire length of a compiled instruction.
func ixLen(accounts, data int) int {
	return 1 + compactLen(accounts) + accounts + compactLen(data) + data
}

// sizer computes the wire size of a payout transaction as transfers are
// added, without building it. The layout of a legacy transaction:
//
//	compact(signatures) 64×signatures | header 3 | compact(keys) 32×keys |
//	blockhash 32 | compact(instructions) | per instruction: program index 1,
//	compact(accounts) accounts×1, compact(data) data
type sizer struct {
	keys    map[solana.PublicKey]struct{}
	ixs     int
	ixBytes int
}

func newSizer(t *Treasury, memoLen int) *sizer {
	z := &sizer{keys: map[solana.PublicKey]struct{}{}}
	for _, k := range []solana.PublicKey{t.Authority, t.Source, t.Mint, solana.TokenProgramID, solana.MemoProgramID} {
		z.keys[k] = struct{}{}
	}
	z.ixs = 1
	z.ixBytes = ixLen(0, memoLen)
	return z
}

func (z *sizer) size(extraKeys, extraIxs, extraIxBytes int) int {
	keys := len(z.keys) + extraKeys
	ixs := z.ixs + extraIxs
	return compactLen(1) + 64 + 3 + compactLen(keys) + 32*keys + 32 + compactLen(ixs) + z.ixBytes + extraIxBytes
}

// cost returns what adding tr would add: new keys, instructions, bytes.
func (z *sizer) cost(tr *Transfer) (keys []solana.PublicKey, ixs, ixBytes int) {
	add := func(k solana.PublicKey) {
		if _, ok := z.keys[k]; ok {
			return
		}
		for _, x := range keys {
			if x == k {
				return
			}
		}
		keys = append(keys, k)
	}
	add(tr.ATA)
	ixs, ixBytes = 1, ixLen(4, 10)
	if tr.Create {
		add(tr.Owner)
		add(solana.SPLAssociatedTokenAccountProgramID)
		add(solana.SystemProgramID)
		ixs++
		ixBytes += ixLen(6, 1)
	}
	return keys, ixs, ixBytes
}

// fits adds tr if the transaction stays within limit, reporting whether it did.
func (z *sizer) fits(tr *Transfer, limit int) bool {
	keys, ixs, b := z.cost(tr)
	if z.size(len(keys), ixs, b) > limit {
		return false
	}
	for _, k := range keys {
		z.keys[k] = struct{}{}
	}
	z.ixs += ixs
	z.ixBytes += b
	return true
}

// Pack splits transfers, in order, into as few consecutive groups as the
// byte limit allows: each group is one transaction. It never puts one
// operator in two groups.
func Pack(t *Treasury, transfers []Transfer, memoLen int) [][]Transfer {
	var out [][]Transfer
	start := 0
	z := newSizer(t, memoLen)
	for i := range transfers {
		if !z.fits(&transfers[i], MaxTxSize) {
			out = append(out, transfers[start:i])
			start = i
			z = newSizer(t, memoLen)
			if !z.fits(&transfers[i], MaxTxSize) {
				panic("settlement: one transfer does not fit a transaction") // memo too long: a bug
			}
		}
	}
	if start < len(transfers) {
		out = append(out, transfers[start:])
	}
	return out
}

// MaxTransfers is the byte-limit maximum of transfers per transaction to
// distinct new wallets, with or without ATA creation, for a memo of
// memoLen bytes.
func MaxTransfers(t *Treasury, create bool, memoLen int) int {
	z := newSizer(t, memoLen)
	n := 0
	for {
		var b [32]byte
		binary.BigEndian.PutUint64(b[:], uint64(n+1))
		b[31] = 1
		owner := solana.PublicKeyFromBytes(b[:])
		b[31] = 2
		tr := Transfer{Owner: owner, ATA: solana.PublicKeyFromBytes(b[:]), Create: create}
		if !z.fits(&tr, MaxTxSize) {
			return n
		}
		n++
	}
}

// TxSize returns the wire size of a transaction.
func TxSize(tx *solana.Transaction) (int, error) {
	b, err := tx.MarshalBinary()
	return len(b), err
}

// errNotPayout is returned by VerifyPayoutTx.
var errNotPayout = errors.New("not a payout transaction of this plan")

// VerifyPayoutTx checks that tx is exactly a payout transaction of the
// plan: legacy, signed by (only) the treasury authority as fee payer,
// instructions only idempotent ATA creations for the recipients' own
// accounts, one TransferChecked per recipient in order with the planned
// amount from the treasury's source to the recipient's associated token
// account, and the plan's memo last. It does not check signatures.
func VerifyPayoutTx(tx *solana.Transaction, t *Treasury, recipients []Transfer, memo string) error {
	if tx.Message.IsVersioned() || len(tx.Message.AddressTableLookups) > 0 {
		return fmt.Errorf("%w: %s", errNotPayout, "not a legacy transaction")
	}
	return verifyPayout(tx, tx.Message.AccountKeys, t, recipients, func(m string) bool { return m == memo }, memo, false)
}

// VerifyPayoutTxV0 is VerifyPayoutTx for a v0 transaction: its accounts
// resolved with loaded (the chain's meta.loadedAddresses, or the
// record's), at most the two compute-budget instructions first, and the
// memo base:<i>/<n>[:<log head>] (base = domain.Memo(epoch, root)).
func VerifyPayoutTxV0(tx *solana.Transaction, loaded *domain.LoadedAddresses, t *Treasury, recipients []Transfer, base string) error {
	if !tx.Message.IsVersioned() {
		return fmt.Errorf("%w: %s", errNotPayout, "not a v0 transaction")
	}
	keys, err := resolvedKeys(tx, loaded)
	if err != nil {
		return err
	}
	return verifyPayout(tx, keys, t, recipients, func(m string) bool {
		pm, ok := domain.ParseMemo(m)
		return ok && pm.Parts > 0 && pm.Base() == base
	}, base+":<i>/<n>", true)
}

// VerifyPayoutTxAny dispatches on the transaction's version.
func VerifyPayoutTxAny(tx *solana.Transaction, loaded *domain.LoadedAddresses, t *Treasury, recipients []Transfer, base string) error {
	if tx.Message.IsVersioned() {
		return VerifyPayoutTxV0(tx, loaded, t, recipients, base)
	}
	return VerifyPayoutTx(tx, t, recipients, base)
}

func verifyPayout(tx *solana.Transaction, allKeys []solana.PublicKey, t *Treasury, recipients []Transfer, memoOK func(string) bool, memoWant string, v0 bool) error {
	m := &tx.Message
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", errNotPayout, fmt.Sprintf(format, a...))
	}
	if m.Header.NumRequiredSignatures != 1 || len(m.AccountKeys) == 0 || m.AccountKeys[0] != t.Authority {
		return fail("the one signer and fee payer must be the treasury authority %s", t.Authority)
	}
	key := func(i uint16) (solana.PublicKey, bool) {
		if int(i) >= len(allKeys) {
			return solana.PublicKey{}, false
		}
		return allKeys[i], true
	}
	accounts := func(ix *solana.CompiledInstruction) ([]solana.PublicKey, bool) {
		out := make([]solana.PublicKey, len(ix.Accounts))
		for i, a := range ix.Accounts {
			k, ok := key(a)
			if !ok {
				return nil, false
			}
			out[i] = k
		}
		return out, true
	}
	next := 0
	ixs := m.Instructions
	if len(ixs) == 0 {
		return fail("no instructions")
	}
	budget := 0 // compute-budget instructions seen (v0: at most a limit and a price, first)
	for n := range ixs[:len(ixs)-1] {
		ix := &ixs[n]
		pid, ok := key(ix.ProgramIDIndex)
		accs, ok2 := accounts(ix)
		if !ok || !ok2 {
			return fail("instruction %d: account index out of range", n)
		}
		switch {
		case v0 && pid == solana.ComputeBudget:
			if n != budget || len(accs) != 0 || !(len(ix.Data) == 5 && ix.Data[0] == 2 || len(ix.Data) == 9 && ix.Data[0] == 3) ||
				(n == 1 && ix.Data[0] == ixs[0].Data[0]) {
				return fail("instruction %d: only SetComputeUnitLimit and SetComputeUnitPrice, once each, may come first", n)
			}
			budget++
		case pid == solana.SPLAssociatedTokenAccountProgramID:
			if next >= len(recipients) {
				return fail("instruction %d: an ATA creation after the last transfer", n)
			}
			r := &recipients[next]
			if !bytes.Equal(ix.Data, []byte{ataIxCreateIdempotent}) || len(accs) != 6 ||
				accs[0] != t.Authority || accs[1] != r.ATA || accs[2] != r.Owner || accs[3] != t.Mint ||
				accs[4] != solana.SystemProgramID || accs[5] != solana.TokenProgramID {
				return fail("instruction %d: not the idempotent creation of %s's token account", n, r.OperatorID)
			}
		case pid == solana.TokenProgramID:
			if next >= len(recipients) {
				return fail("instruction %d: more transfers than recipients", n)
			}
			r := &recipients[next]
			if len(ix.Data) != 10 || ix.Data[0] != tokenIxTransferChecked || ix.Data[9] != Decimals || len(accs) != 4 ||
				accs[0] != t.Source || accs[1] != t.Mint || accs[2] != r.ATA || accs[3] != t.Authority {
				return fail("instruction %d: not TransferChecked from %s to %s's token account %s", n, t.Source, r.OperatorID, r.ATA)
			}
			if amt := binary.LittleEndian.Uint64(ix.Data[1:9]); amt != uint64(r.Amount) {
				return fail("instruction %d: transfers %d base units to %s, the plan says %d", n, amt, r.OperatorID, r.Amount)
			}
			next++
		default:
			return fail("instruction %d: program %s is not allowed", n, pid)
		}
	}
	if next != len(recipients) {
		return fail("%d transfers for %d recipients", next, len(recipients))
	}
	last := &ixs[len(ixs)-1]
	if pid, ok := key(last.ProgramIDIndex); !ok || pid != solana.MemoProgramID || len(last.Accounts) != 0 || !memoOK(string(last.Data)) {
		return fail("the last instruction must be the memo %q", memoWant)
	}
	return nil
}
