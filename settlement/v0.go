package settlement

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"

	"github.com/gagliardetto/solana-go"
	computebudget "github.com/gagliardetto/solana-go/programs/compute-budget"

	"github.com/epochledger/epochledger/domain"
)

// Transaction versions of settle submit.
const (
	TxV0     = "v0"     // version-0 with the treasury's lookup tables and a compute budget (default)
	TxLegacy = "legacy" // v1's legacy transactions, unchanged
)

// MaxAccountLocks is the most accounts one transaction may lock (static
// keys and lookup-table addresses together): MAX_TX_ACCOUNT_LOCKS.
const MaxAccountLocks = 64

// MaxInstructionTrace is the most instructions one transaction may run,
// top-level and cross-program invocations together
// (MAX_INSTRUCTION_TRACE_LENGTH); past it the transaction fails with
// MaxInstructionTraceLengthExceeded. An idempotent creation of a token
// account that does not exist runs five (the ATA program, then Token's
// GetAccountDataSize, System's CreateAccount, Token's
// InitializeImmutableOwner and InitializeAccount3), a TransferChecked
// one: this, not the bytes or the locks, bounds the transfers with
// creation per transaction.
const MaxInstructionTrace = 64

// createTrace and transferTrace are those counts.
const (
	createTrace   = 5
	transferTrace = 1
)

// MaxComputeUnits is the most compute units one transaction may ask for.
const MaxComputeUnits = 1_400_000

// Budget is a transaction's compute budget: SetComputeUnitLimit(Units) and
// SetComputeUnitPrice(Price, micro-lamports per unit).
type Budget struct {
	Units uint32
	Price uint64
}

// PriorityLamports is what the budget adds to the fee: price × units,
// rounded up, as the runtime charges.
func (b Budget) PriorityLamports() uint64 {
	return (b.Price*uint64(b.Units) + 999_999) / 1_000_000
}

// Tables are lookup tables as solana-go takes them: table → its addresses.
type Tables map[solana.PublicKey]solana.PublicKeySlice

// BuildTxV0 returns the unsigned v0 payout transaction: the two
// compute-budget instructions, then for each transfer an optional
// idempotent ATA creation and a TransferChecked, then the memo; every
// account found in tables (other than the signer and the programs) is
// loaded through them.
func BuildTxV0(t *Treasury, transfers []Transfer, memo string, blockhash solana.Hash, tables Tables, b Budget) (*solana.Transaction, error) {
	ixs := make([]solana.Instruction, 0, 2*len(transfers)+3)
	ixs = append(ixs,
		computebudget.NewSetComputeUnitLimitInstruction(b.Units).Build(),
		computebudget.NewSetComputeUnitPriceInstruction(b.Price).Build())
	for _, tr := range transfers {
		if tr.Create {
			ixs = append(ixs, createATAIdempotent(t.Authority, tr.Owner, tr.ATA, t.Mint))
		}
		ixs = append(ixs, transferChecked(t, tr.ATA, uint64(tr.Amount)))
	}
	ixs = append(ixs, memoInstruction(memo))
	tx, err := solana.NewTransaction(ixs, blockhash, solana.TransactionPayer(t.Authority), solana.TransactionAddressTables(tables))
	if err != nil {
		return nil, err
	}
	tx.Signatures = make([]solana.Signature, tx.Message.Header.NumRequiredSignatures)
	return tx, nil
}

// Loaded returns the tables a v0 transaction uses and the addresses it
// resolves from them, in the runtime's order (all writable, then all
// readonly, table by table), as PayoutSubmitted records them.
func Loaded(tx *solana.Transaction, tables Tables) ([]string, *domain.LoadedAddresses, error) {
	if !tx.Message.IsVersioned() || len(tx.Message.AddressTableLookups) == 0 {
		return nil, nil, nil
	}
	names := []string{}
	la := &domain.LoadedAddresses{Writable: []string{}, Readonly: []string{}}
	var ro []string
	for _, l := range tx.Message.AddressTableLookups {
		as, ok := tables[l.AccountKey]
		if !ok {
			return nil, nil, fmt.Errorf("settlement: lookup table %s is not known", l.AccountKey)
		}
		names = append(names, l.AccountKey.String())
		for _, i := range l.WritableIndexes {
			if int(i) >= len(as) {
				return nil, nil, fmt.Errorf("settlement: lookup table %s has no index %d", l.AccountKey, i)
			}
			la.Writable = append(la.Writable, as[i].String())
		}
		for _, i := range l.ReadonlyIndexes {
			if int(i) >= len(as) {
				return nil, nil, fmt.Errorf("settlement: lookup table %s has no index %d", l.AccountKey, i)
			}
			ro = append(ro, as[i].String())
		}
	}
	la.Readonly = append(la.Readonly, ro...)
	return names, la, nil
}

// sizerV0 computes the wire size and the account locks of a v0 payout
// transaction as transfers are added, without building it. Layout:
//
//	compact(1) 64 | 0x80 | header 3 | compact(static) 32×static | blockhash 32 |
//	compact(ixs) | instructions | compact(1 table) | table 32 |
//	compact(w) w | compact(r) r
//
// Programs and the signer are static; every other account in a table is
// one index byte; one not in a table is a static key.
type sizer0 struct {
	inTable  TableOf
	static   map[solana.PublicKey]struct{}
	writable map[solana.PublicKey]solana.PublicKey // loaded → its table
	readonly map[solana.PublicKey]solana.PublicKey
	ixs      int
	ixBytes  int
	trace    int
}

// TableOf says which lookup table holds an address, if any.
type TableOf func(solana.PublicKey) (solana.PublicKey, bool)

// AllInOneTable is a TableOf for limit computations: every address is in
// one table.
func AllInOneTable(solana.PublicKey) (solana.PublicKey, bool) { return solana.PublicKey{1}, true }

// tableOf returns the TableOf of tables.
func (ts Tables) tableOf() TableOf {
	idx := map[solana.PublicKey]solana.PublicKey{}
	for _, t := range ts.sortedKeys() {
		for _, a := range ts[t] {
			if _, ok := idx[a]; !ok {
				idx[a] = t
			}
		}
	}
	return func(k solana.PublicKey) (solana.PublicKey, bool) {
		t, ok := idx[k]
		return t, ok
	}
}

func newSizer0(t *Treasury, memoLen int, inTable TableOf) *sizer0 {
	z := &sizer0{inTable: inTable, static: map[solana.PublicKey]struct{}{}, writable: map[solana.PublicKey]solana.PublicKey{}, readonly: map[solana.PublicKey]solana.PublicKey{}}
	for _, k := range []solana.PublicKey{t.Authority, solana.TokenProgramID, solana.MemoProgramID, solana.ComputeBudget} {
		z.static[k] = struct{}{}
	}
	z.ixs = 3
	z.trace = 3
	z.ixBytes = ixLen(0, 5) + ixLen(0, 9) + ixLen(0, memoLen)
	return z
}

// delta is what one transfer adds.
type delta0 struct {
	static             []solana.PublicKey
	writable, readonly map[solana.PublicKey]solana.PublicKey
	ixs, ixBytes       int
	trace              int
}

func (z *sizer0) has(k solana.PublicKey) bool {
	_, a := z.static[k]
	_, b := z.writable[k]
	_, c := z.readonly[k]
	return a || b || c
}

func (z *sizer0) cost(t *Treasury, tr *Transfer) delta0 {
	d := delta0{writable: map[solana.PublicKey]solana.PublicKey{}, readonly: map[solana.PublicKey]solana.PublicKey{}}
	seen := map[solana.PublicKey]bool{}
	add := func(k solana.PublicKey, writable, program bool) {
		if z.has(k) || seen[k] {
			return
		}
		seen[k] = true
		table, ok := z.inTable(k)
		switch {
		case program || !ok:
			d.static = append(d.static, k)
		case writable:
			d.writable[k] = table
		default:
			d.readonly[k] = table
		}
	}
	add(t.Source, true, false)
	add(t.Mint, false, false)
	add(tr.ATA, true, false)
	d.ixs, d.ixBytes, d.trace = 1, ixLen(4, 10), transferTrace
	if tr.Create {
		add(tr.Owner, false, false)
		add(solana.SPLAssociatedTokenAccountProgramID, false, true)
		add(solana.SystemProgramID, false, true)
		d.ixs++
		d.ixBytes += ixLen(6, 1)
		d.trace += createTrace
	}
	return d
}

func (z *sizer0) measure(d delta0) (size, locks int) {
	static := len(z.static) + len(d.static)
	ixs := z.ixs + d.ixs
	size = compactLen(1) + 64 + 1 + 3 + compactLen(static) + 32*static + 32 + compactLen(ixs) + z.ixBytes + d.ixBytes
	type wr struct{ w, r int }
	per := map[solana.PublicKey]*wr{}
	count := func(m map[solana.PublicKey]solana.PublicKey, writable bool) {
		for _, t := range m {
			c := per[t]
			if c == nil {
				c = &wr{}
				per[t] = c
			}
			if writable {
				c.w++
			} else {
				c.r++
			}
		}
	}
	count(z.writable, true)
	count(d.writable, true)
	count(z.readonly, false)
	count(d.readonly, false)
	size += compactLen(len(per))
	loaded := 0
	for _, c := range per {
		size += 32 + compactLen(c.w) + c.w + compactLen(c.r) + c.r
		loaded += c.w + c.r
	}
	return size, static + loaded
}

func (z *sizer0) fits(t *Treasury, tr *Transfer) bool {
	d := z.cost(t, tr)
	size, locks := z.measure(d)
	if size > MaxTxSize || locks > MaxAccountLocks || z.trace+d.trace > MaxInstructionTrace {
		return false
	}
	z.trace += d.trace
	for _, k := range d.static {
		z.static[k] = struct{}{}
	}
	for k, t := range d.writable {
		z.writable[k] = t
	}
	for k, t := range d.readonly {
		z.readonly[k] = t
	}
	z.ixs += d.ixs
	z.ixBytes += d.ixBytes
	return true
}

// PackV0 splits transfers, in order, into as few consecutive groups as
// 1,232 bytes and 64 account locks allow, each one v0 transaction with
// the memo domain.MemoV0Anchor(…, i, n, logHead). base is domain.Memo(epoch, root); the
// memo's i/n grows with n, so the packing is redone with wider counters
// until the widths it assumed hold. The first group's memo also carries
// ":" and the log head, so it is packed for that longer memo.
func PackV0(t *Treasury, transfers []Transfer, base, logHead string, inTable TableOf) [][]Transfer {
	anchor := 0
	if logHead != "" {
		anchor = 1 + len(logHead)
	}
	for digits := 1; ; digits++ {
		memoLen := len(base) + 2 + 2*digits // ":" i "/" n at their widest
		var out [][]Transfer
		start := 0
		z := newSizer0(t, memoLen+anchor, inTable)
		for i := range transfers {
			if !z.fits(t, &transfers[i]) {
				out = append(out, transfers[start:i])
				start = i
				z = newSizer0(t, memoLen, inTable)
				if !z.fits(t, &transfers[i]) {
					panic("settlement: one transfer does not fit a v0 transaction") // memo too long: a bug
				}
			}
		}
		if start < len(transfers) {
			out = append(out, transfers[start:])
		}
		if len(strconv.Itoa(len(out))) <= digits {
			return out
		}
	}
}

// MaxTransfersV0 is the limit, from the bytes, the account locks and the
// instruction trace, of
// transfers per v0 transaction to distinct new wallets whose accounts are
// all in a lookup table, with or without ATA creation, for a memo of
// memoLen bytes (with the two compute-budget instructions).
func MaxTransfersV0(t *Treasury, create bool, memoLen int) int {
	z := newSizer0(t, memoLen, AllInOneTable)
	n := 0
	for {
		tr := syntheticTransfer(n+1, create)
		if !z.fits(t, &tr) {
			return n
		}
		n++
	}
}

// syntheticTransfer is a distinct made-up recipient for limit computations.
func syntheticTransfer(n int, create bool) Transfer {
	var b [32]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	b[31] = 1
	owner := solana.PublicKeyFromBytes(b[:])
	b[31] = 2
	return Transfer{Owner: owner, ATA: solana.PublicKeyFromBytes(b[:]), Create: create}
}

// tableAddresses lists what the tables must hold for transfers: the
// treasury's token account and the mint, and each recipient's token
// account. The wallets of accounts to create stay static keys: with
// creation the instruction trace, not the bytes, bounds a transaction
// (10 such transfers take ~1,040 bytes with static wallets), so putting
// them in a table would only double its rent.
func tableAddresses(t *Treasury, transfers []Transfer) []solana.PublicKey {
	out := []solana.PublicKey{t.Source, t.Mint}
	seen := map[solana.PublicKey]bool{t.Source: true, t.Mint: true}
	for _, tr := range transfers {
		if !seen[tr.ATA] {
			seen[tr.ATA] = true
			out = append(out, tr.ATA)
		}
	}
	return out
}

// resolvedKeys returns a transaction's full account list: for a v0 one the
// static keys, then the loaded writable, then the loaded readonly ones
// (from the chain's meta.loadedAddresses, or the record's).
func resolvedKeys(tx *solana.Transaction, loaded *domain.LoadedAddresses) ([]solana.PublicKey, error) {
	keys := append([]solana.PublicKey{}, tx.Message.AccountKeys...)
	if !tx.Message.IsVersioned() {
		return keys, nil
	}
	n := tx.Message.NumLookups()
	if n == 0 {
		return keys, nil
	}
	if loaded == nil || len(loaded.Writable)+len(loaded.Readonly) != n {
		return nil, fmt.Errorf("%w: the transaction loads %d addresses from lookup tables, the resolution names %d", errNotPayout, n, lenLoaded(loaded))
	}
	for _, group := range [][]string{loaded.Writable, loaded.Readonly} {
		for _, a := range group {
			k, err := solana.PublicKeyFromBase58(a)
			if err != nil {
				return nil, fmt.Errorf("%w: loaded address %q: %v", errNotPayout, a, err)
			}
			keys = append(keys, k)
		}
	}
	return keys, nil
}

func lenLoaded(l *domain.LoadedAddresses) int {
	if l == nil {
		return 0
	}
	return len(l.Writable) + len(l.Readonly)
}

// sortedKeys returns the tables' keys in byte order.
func (ts Tables) sortedKeys() []solana.PublicKey {
	out := make([]solana.PublicKey, 0, len(ts))
	for k := range ts {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i][:]) < string(out[j][:]) })
	return out
}
