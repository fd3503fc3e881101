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

// loadedAddressesFields are LoadedAddresses's members in catalogue order.
var loadedAddressesFields = fieldsOf(
	required("writable", func(d *decoder, e *LoadedAddresses, v jsonValue) { e.Writable = d.strs(v) }),
	required("readonly", func(d *decoder, e *LoadedAddresses, v jsonValue) { e.Readonly = d.strs(v) }),
)

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

// lookupTableCreatedFields are LookupTableCreated's members in catalogue order.
var lookupTableCreatedFields = fieldsOf(
	required("authority", func(d *decoder, e *LookupTableCreated, v jsonValue) { e.Authority = d.str(v) }),
	required("table", func(d *decoder, e *LookupTableCreated, v jsonValue) { e.Table = d.str(v) }),
	required("recent_slot", func(d *decoder, e *LookupTableCreated, v jsonValue) { e.RecentSlot = d.uint(v) }),
	required("signature", func(d *decoder, e *LookupTableCreated, v jsonValue) { e.Signature = d.str(v) }),
	required("blockhash", func(d *decoder, e *LookupTableCreated, v jsonValue) { e.Blockhash = d.str(v) }),
	required("last_valid_block_height", func(d *decoder, e *LookupTableCreated, v jsonValue) { e.LastValidBlockHeight = d.uint(v) }),
	required("transaction", func(d *decoder, e *LookupTableCreated, v jsonValue) { e.Transaction = d.str(v) }),
)

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

// lookupTableExtendedFields are LookupTableExtended's members in catalogue order.
var lookupTableExtendedFields = fieldsOf(
	required("authority", func(d *decoder, e *LookupTableExtended, v jsonValue) { e.Authority = d.str(v) }),
	required("table", func(d *decoder, e *LookupTableExtended, v jsonValue) { e.Table = d.str(v) }),
	required("addresses", func(d *decoder, e *LookupTableExtended, v jsonValue) { e.Addresses = d.strs(v) }),
	required("signature", func(d *decoder, e *LookupTableExtended, v jsonValue) { e.Signature = d.str(v) }),
	required("blockhash", func(d *decoder, e *LookupTableExtended, v jsonValue) { e.Blockhash = d.str(v) }),
	required("last_valid_block_height", func(d *decoder, e *LookupTableExtended, v jsonValue) { e.LastValidBlockHeight = d.uint(v) }),
	required("transaction", func(d *decoder, e *LookupTableExtended, v jsonValue) { e.Transaction = d.str(v) }),
)

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

func (d *decoder) strs(v jsonValue) []string {
	out := []string{}
	d.elements(v, func(_ int, el jsonValue) { out = append(out, d.str(el)) })
	return out
}

// loadedAddresses decodes a PayoutSubmitted's loaded_addresses; both lists
// are present ([]) once the member is.
func (d *decoder) loadedAddresses(v jsonValue) *LoadedAddresses {
	la := &LoadedAddresses{Writable: []string{}, Readonly: []string{}}
	decodeNested(d, v, loadedAddressesFields, la)
	return la
}
