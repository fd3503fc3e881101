package domain

import "strconv"

// Address lookup tables of a treasury (v0 payout transactions). A table is
// created once per treasury authority and extended as recipients' token
// accounts appear; both are recorded BEFORE the transaction is sent, with
// its signed bytes, so a restarted submit re-sends exactly what may be in
// flight. The chain's table account decides what a table holds: a record
// says what was tried, not what landed.
const (
	TypeLookupTableCreated  = "LookupTableCreated"
	TypeLookupTableExtended = "LookupTableExtended"
)

// MaxLookupTableAddresses is how many addresses one table holds.
const MaxLookupTableAddresses = 256

// LookupTableStream is the stream of authority's lookup-table records,
// shared by every epoch (the tables are reused week after week).
func LookupTableStream(authority string) string { return "lookuptable-" + authority }

// LookupTableCreated records a CreateLookupTable transaction before it is
// sent: the table is the program address of [authority, recent_slot].
type LookupTableCreated struct {
	Authority            string `json:"authority"`
	Table                string `json:"table"`
	RecentSlot           uint64 `json:"recent_slot"`
	Signature            string `json:"signature"`
	Blockhash            string `json:"blockhash"`
	LastValidBlockHeight uint64 `json:"last_valid_block_height"`
	Transaction          string `json:"transaction"` // signed wire bytes, base64
}

// LookupTableExtended records an ExtendLookupTable transaction before it
// is sent: addresses are appended to table in this order.
type LookupTableExtended struct {
	Authority            string   `json:"authority"`
	Table                string   `json:"table"`
	Addresses            []string `json:"addresses"`
	Signature            string   `json:"signature"`
	Blockhash            string   `json:"blockhash"`
	LastValidBlockHeight uint64   `json:"last_valid_block_height"`
	Transaction          string   `json:"transaction"`
}

// LoadedAddresses are the accounts a v0 transaction resolves through its
// lookup tables, in the runtime's order (writable, then readonly), as
// getTransaction's meta.loadedAddresses names them.
type LoadedAddresses struct {
	Writable []string `json:"writable"`
	Readonly []string `json:"readonly"`
}

func (*LookupTableCreated) EventType() string  { return TypeLookupTableCreated }
func (*LookupTableExtended) EventType() string { return TypeLookupTableExtended }

const ruleAddress = "must be base58 of a 32-byte Solana address"

// Validate checks the stateless rules of LookupTableCreated. That table is
// the program address of [authority, recent_slot] needs the curve check:
// settlement verifies it when it reads the record.
func (e *LookupTableCreated) Validate() error {
	c := checker{event: TypeLookupTableCreated}
	c.check(validBase58N(e.Authority, 32), "authority", ruleAddress)
	c.check(validBase58N(e.Table, 32), "table", ruleAddress)
	c.check(e.Table != e.Authority, "table", "must not be the authority")
	c.lookupTx(e.Signature, e.Blockhash, e.Transaction)
	return c.result()
}

// Validate checks the stateless rules of LookupTableExtended: 1 to 256
// distinct addresses.
func (e *LookupTableExtended) Validate() error {
	c := checker{event: TypeLookupTableExtended}
	c.check(validBase58N(e.Authority, 32), "authority", ruleAddress)
	c.check(validBase58N(e.Table, 32), "table", ruleAddress)
	c.check(len(e.Addresses) > 0 && len(e.Addresses) <= MaxLookupTableAddresses, "addresses",
		"must list 1 to "+strconv.Itoa(MaxLookupTableAddresses)+" addresses")
	c.addresses("addresses", e.Addresses)
	c.lookupTx(e.Signature, e.Blockhash, e.Transaction)
	return c.result()
}

// addresses checks that every element is an address, each once.
func (c *checker) addresses(field string, as []string) {
	seen := make(map[string]struct{}, len(as))
	for i, a := range as {
		if c.err != nil {
			return
		}
		_, dup := seen[a]
		seen[a] = struct{}{}
		c.check(validBase58N(a, 32), field+"["+strconv.Itoa(i)+"]", ruleAddress)
		c.check(!dup, field+"["+strconv.Itoa(i)+"]", "an address may appear once")
	}
}

func (c *checker) lookupTx(sig, blockhash, tx string) {
	c.txsig("signature", sig)
	c.check(validBase58N(blockhash, 32), "blockhash", ruleBlockhash)
	if c.err == nil {
		c.check(txFirstSignature(tx) == sig, "transaction",
			"must be base64 of a signed Solana transaction of at most 1232 bytes whose first signature is signature")
	}
}

// checkLookups is PayoutSubmitted's rule for its optional v0 fields: the
// tables distinct addresses; loaded addresses only with tables, at most
// 256 per table named.
func (c *checker) checkLookups(tables []string, loaded *LoadedAddresses) {
	c.addresses("lookup_tables", tables)
	if loaded == nil || c.err != nil {
		return
	}
	c.check(len(tables) > 0, "loaded_addresses", "needs lookup_tables")
	c.check(len(loaded.Writable)+len(loaded.Readonly) <= MaxLookupTableAddresses*len(tables), "loaded_addresses",
		"must not list more addresses than the tables hold")
	for i, a := range loaded.Writable {
		c.check(validBase58N(a, 32), "loaded_addresses.writable["+strconv.Itoa(i)+"]", ruleAddress)
	}
	for i, a := range loaded.Readonly {
		c.check(validBase58N(a, 32), "loaded_addresses.readonly["+strconv.Itoa(i)+"]", ruleAddress)
	}
}

var (
	lookupTableCreatedFields  = fieldSet{names: []string{"authority", "table", "recent_slot", "signature", "blockhash", "last_valid_block_height", "transaction"}}
	lookupTableExtendedFields = fieldSet{names: []string{"authority", "table", "addresses", "signature", "blockhash", "last_valid_block_height", "transaction"}}
	loadedAddressesFields     = fieldSet{names: []string{"writable", "readonly"}}
)

func (d *decoder) strs(v jsonValue) []string {
	out := []string{}
	d.elements(v, func(_ int, el jsonValue) { out = append(out, d.str(el)) })
	return out
}

func decodeLookupTableCreated(d *decoder, data []byte) Event {
	e := new(LookupTableCreated)
	d.fields(data, lookupTableCreatedFields, func(i int, v jsonValue) {
		switch i {
		case 0:
			e.Authority = d.str(v)
		case 1:
			e.Table = d.str(v)
		case 2:
			e.RecentSlot = d.uint(v)
		case 3:
			e.Signature = d.str(v)
		case 4:
			e.Blockhash = d.str(v)
		case 5:
			e.LastValidBlockHeight = d.uint(v)
		case 6:
			e.Transaction = d.str(v)
		}
	})
	return e
}

func decodeLookupTableExtended(d *decoder, data []byte) Event {
	e := new(LookupTableExtended)
	d.fields(data, lookupTableExtendedFields, func(i int, v jsonValue) {
		switch i {
		case 0:
			e.Authority = d.str(v)
		case 1:
			e.Table = d.str(v)
		case 2:
			e.Addresses = d.strs(v)
		case 3:
			e.Signature = d.str(v)
		case 4:
			e.Blockhash = d.str(v)
		case 5:
			e.LastValidBlockHeight = d.uint(v)
		case 6:
			e.Transaction = d.str(v)
		}
	})
	return e
}

func (d *decoder) loadedAddresses(v jsonValue) *LoadedAddresses {
	la := &LoadedAddresses{Writable: []string{}, Readonly: []string{}}
	d.nested(v, loadedAddressesFields, func(i int, f jsonValue) {
		switch i {
		case 0:
			la.Writable = d.strs(f)
		case 1:
			la.Readonly = d.strs(f)
		}
	})
	return la
}
