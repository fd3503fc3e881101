package settlement

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/settlement/lookuptable"
)

// v0 without sending: what a dry run reports and an export writes. Both
// build the very v0 transactions a submit would send, against the
// treasury's lookup tables as they will be once the token accounts still
// missing from them are added. Neither creates nor extends a table (that
// needs the authority's signature and is recorded in the log); a dry run
// lists those steps and their cost, an export writes them, unsigned, for
// the signer with the payouts, and import-signed sends them first.
//
// A transaction whose token accounts are all in an active table now is
// simulated as it is; one that needs a table step first cannot be (the
// chain cannot load what no table holds yet), so its compute units are
// those of the same transfers simulated in legacy transactions, the
// instructions the runtime runs being the same (units_estimated).

// TableStep is one lookup-table transaction a v0 build needs first:
// CreateLookupTable (a new table) or ExtendLookupTable (addresses
// appended, in order). In an export it also names its files.
type TableStep struct {
	Kind       string   `json:"kind"` // "create" or "extend"
	Table      string   `json:"table"`
	RecentSlot uint64   `json:"recent_slot,omitempty"` // create
	Addresses  []string `json:"addresses,omitempty"`   // extend
	// File, SignedFile and MessageSHA256 as in ManifestTx (exports only).
	File          string `json:"file,omitempty"`
	SignedFile    string `json:"signed_file,omitempty"`
	MessageSHA256 string `json:"message_sha256,omitempty"`
}

// ManifestTable is a lookup table as an export's payout transactions
// load it: its addresses once the export's table steps have landed.
type ManifestTable struct {
	Table     string   `json:"table"`
	Addresses []string `json:"addresses"`
}

// offlineTables is the treasury's tables now and once steps are done.
type offlineTables struct {
	loadable map[solana.PublicKey]bool // in an active table now
	after    Tables                    // with every step applied
	order    []solana.PublicKey        // after's tables in record order
	steps    []TableStep
	created  int // new tables among the steps
	added    int // addresses the steps append
}

// planTables works out, sending nothing, how the treasury's tables come
// to hold need: the tables the log's records created, read from the chain,
// then the steps ensureTables would take (the last table with room is
// extended, 30 addresses per transaction; a new table when it is full).
func (s *Settler) planTables(ctx context.Context, need []solana.PublicKey) (*offlineTables, error) {
	recs, err := s.readTableRecords(ctx)
	if err != nil {
		return nil, err
	}
	var created []solana.PublicKey
	for _, ev := range recs {
		if e, ok := ev.(*domain.LookupTableCreated); ok && e.Authority == s.treasury.Authority.String() {
			if k, err := solana.PublicKeyFromBase58(e.Table); err == nil && !slices.Contains(created, k) {
				created = append(created, k)
			}
		}
	}
	tables, err := s.readTables(ctx, created)
	if err != nil {
		return nil, err
	}
	cctx, cancel := s.chain.call(ctx, s.chain.CallTimeout)
	slot, err := s.chain.rpc.GetSlot(cctx, rpc.CommitmentFinalized)
	cancel()
	if err != nil {
		return nil, s.chain.wrap("getSlot", err)
	}
	ot := &offlineTables{loadable: map[solana.PublicKey]bool{}, after: Tables{}}
	have := map[solana.PublicKey]bool{}
	for _, t := range tables {
		for i, a := range t.addresses {
			have[a] = true
			if i < t.startIndex || t.lastExtended < slot {
				ot.loadable[a] = true
			}
		}
		ot.after[t.addr] = slices.Clone(t.addresses)
		ot.order = append(ot.order, t.addr)
	}
	var missing []solana.PublicKey
	for _, a := range need {
		if !have[a] {
			have[a] = true
			missing = append(missing, a)
		}
	}
	for len(missing) > 0 {
		var target solana.PublicKey
		if n := len(ot.order); n > 0 && len(ot.after[ot.order[n-1]]) < lookuptable.MaxAddresses {
			target = ot.order[n-1]
		} else {
			// A creation names a recent slot; each new table another one.
			recent := slot - uint64(ot.created)
			_, table, err := lookuptable.Create(s.treasury.Authority, s.treasury.Authority, recent)
			if err != nil {
				return nil, err
			}
			ot.steps = append(ot.steps, TableStep{Kind: "create", Table: table.String(), RecentSlot: recent})
			ot.after[table] = solana.PublicKeySlice{}
			ot.order = append(ot.order, table)
			ot.created++
			continue
		}
		room := lookuptable.MaxAddresses - len(ot.after[target])
		chunk := missing[:min(len(missing), room, lookuptable.MaxExtendPerTx)]
		step := TableStep{Kind: "extend", Table: target.String()}
		for _, a := range chunk {
			step.Addresses = append(step.Addresses, a.String())
		}
		ot.steps = append(ot.steps, step)
		ot.after[target] = append(ot.after[target], chunk...)
		ot.added += len(chunk)
		missing = missing[len(chunk):]
	}
	return ot, nil
}

// stepsCost adds the table steps' signatures and the rent of the space
// they add (a table's header per new table, 32 bytes per address) to c.
func (s *Settler) stepsCost(ctx context.Context, ot *offlineTables, c *Cost) error {
	if len(ot.steps) == 0 {
		return nil
	}
	cctx, cancel := s.chain.call(ctx, s.chain.CallTimeout)
	rent, err := s.chain.rpc.GetMinimumBalanceForRentExemption(cctx, uint64(lookuptable.MetaSize*ot.created+32*ot.added), rpc.CommitmentFinalized)
	cancel()
	if err != nil {
		return s.chain.wrap("getMinimumBalanceForRentExemption", err)
	}
	c.SignatureLamports += uint64(len(ot.steps)) * SignatureFee
	c.RentLamports += rent
	return nil
}

// budgetFor is the compute budget of a transaction that consumed units in
// simulation: the units plus the margin, at price, lowered so the round's
// priority fees stay under MaxFeeLamports (remaining: this transaction and
// those after it in the round share what is left of the cap).
func (s *Settler) budgetFor(units, price uint64, remaining int) Budget {
	limit := min(units+cuMargin(units), MaxComputeUnits)
	b := Budget{Units: uint32(limit), Price: price}
	if s.cfg.MaxFeeLamports > 0 {
		share := s.feeLeft / uint64(max(remaining, 1))
		if b.PriorityLamports() > share {
			b.Price = share * 1_000_000 / limit
			s.cfg.Log.Info("compute-unit price lowered to keep the priority fees under --max-fee-lamports", "price", b.Price, "wanted", price, "cap", s.cfg.MaxFeeLamports)
		}
		s.feeLeft -= min(s.feeLeft, b.PriorityLamports())
	}
	return b
}

// builtV0 is one v0 payout transaction built without sending.
type builtV0 struct {
	tx        *solana.Transaction
	budget    Budget
	units     uint64 // consumed in simulation
	estimated bool   // units from the same transfers in legacy transactions
	simErr    any
	logs      []string
}

// buildOffline builds the v0 transactions of groups (numbered 1…n in
// their memos, the anchor on 1/n) against ot's tables with blockhash bh,
// each with its compute budget from a simulation (see the top of this
// file). A simulation that fails is reported in the result, not as err.
func (s *Settler) buildOffline(ctx context.Context, groups [][]Transfer, bh solana.Hash, ot *offlineTables, price uint64) ([]builtV0, error) {
	out := make([]builtV0, len(groups))
	s.feeLeft = s.cfg.MaxFeeLamports
	for i, g := range groups {
		memo := domain.MemoV0Anchor(s.cfg.Epoch, s.report.Root, i+1, len(groups), s.logHead)
		b := &out[i]
		loadable := true
		for _, a := range tableAddresses(&s.treasury, g) {
			loadable = loadable && ot.loadable[a]
		}
		if loadable {
			tx, err := BuildTxV0(&s.treasury, g, memo, bh, ot.after, Budget{Units: MaxComputeUnits, Price: price})
			if err != nil {
				return nil, err
			}
			sim, err := s.chain.Simulate(ctx, tx, false)
			if err != nil {
				return nil, err
			}
			if sim.UnitsConsumed != nil {
				b.units = *sim.UnitsConsumed
			}
			if sim.Err != nil {
				b.simErr, b.logs = sim.Err, sim.Logs
			}
		} else {
			b.estimated = true
			for _, lg := range Pack(&s.treasury, g, len(s.memo)) {
				ltx, err := BuildTx(&s.treasury, lg, s.memo, bh)
				if err != nil {
					return nil, err
				}
				sim, err := s.chain.Simulate(ctx, ltx, false)
				if err != nil {
					return nil, err
				}
				if sim.UnitsConsumed != nil {
					b.units += *sim.UnitsConsumed
				}
				if sim.Err != nil && b.simErr == nil {
					b.simErr, b.logs = sim.Err, sim.Logs
				}
			}
		}
		b.budget = s.budgetFor(b.units, price, len(groups)-i)
		tx, err := BuildTxV0(&s.treasury, g, memo, bh, ot.after, b.budget)
		if err != nil {
			return nil, err
		}
		if n, err := TxSize(tx); err != nil || n > MaxTxSize {
			return nil, fmt.Errorf("settlement: packed transaction of %d bytes exceeds %d (%v)", n, MaxTxSize, err)
		}
		_, loaded, err := Loaded(tx, ot.after)
		if err != nil {
			return nil, err
		}
		if err := VerifyPayoutTxAny(tx, loaded, &s.treasury, g, s.memo); err != nil {
			return nil, fmt.Errorf("settlement: built a transaction that fails its own check: %w", err)
		}
		b.tx = tx
	}
	return out, nil
}

// stepTx builds the unsigned transaction of a table step with blockhash bh.
func stepTx(t *Treasury, st *TableStep, bh solana.Hash) (*solana.Transaction, error) {
	var ix solana.Instruction
	switch st.Kind {
	case "create":
		i, table, err := lookuptable.Create(t.Authority, t.Authority, st.RecentSlot)
		if err != nil {
			return nil, err
		}
		if table.String() != st.Table {
			return nil, fmt.Errorf("%w: table step creates %s at slot %d, the authority's table of that slot is %s", errNotPayout, st.Table, st.RecentSlot, table)
		}
		ix = i
	case "extend":
		table, err := solana.PublicKeyFromBase58(st.Table)
		if err != nil {
			return nil, fmt.Errorf("%w: table step: table %q: %v", errNotPayout, st.Table, err)
		}
		addrs := make([]solana.PublicKey, len(st.Addresses))
		for i, a := range st.Addresses {
			if addrs[i], err = solana.PublicKeyFromBase58(a); err != nil {
				return nil, fmt.Errorf("%w: table step: address %q: %v", errNotPayout, a, err)
			}
		}
		if ix, err = lookuptable.Extend(table, t.Authority, t.Authority, addrs); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: table step of kind %q (want create or extend)", errNotPayout, st.Kind)
	}
	tx, err := solana.NewTransaction([]solana.Instruction{ix}, bh, solana.TransactionPayer(t.Authority))
	if err != nil {
		return nil, err
	}
	tx.Signatures = make([]solana.Signature, tx.Message.Header.NumRequiredSignatures)
	return tx, nil
}

// checkStep verifies that tx is exactly the manifest's table step st: the
// message rebuilt from the step's fields, byte for byte, and its hash.
func (m *Manifest) checkStep(tx *solana.Transaction, st *TableStep, t *Treasury) error {
	bh, err := solana.HashFromBase58(m.Blockhash)
	if err != nil {
		return fmt.Errorf("settlement: manifest blockhash: %w", err)
	}
	want, err := stepTx(t, st, bh)
	if err != nil {
		return fmt.Errorf("%s: %w", st.File, err)
	}
	a, err1 := tx.Message.MarshalBinary()
	b, err2 := want.Message.MarshalBinary()
	if err1 != nil || err2 != nil {
		return fmt.Errorf("settlement: %s: %v %v", st.File, err1, err2)
	}
	h := sha256.Sum256(a)
	if string(a) != string(b) || hex.EncodeToString(h[:]) != st.MessageSHA256 {
		return fmt.Errorf("%w: %s is not the table step the manifest describes (%s of table %s)", errNotPayout, st.File, st.Kind, st.Table)
	}
	return nil
}

// tables returns the manifest's tables as its payouts load them.
func (m *Manifest) tables() (Tables, error) {
	out := Tables{}
	for _, mt := range m.Tables {
		k, err := solana.PublicKeyFromBase58(mt.Table)
		if err != nil {
			return nil, fmt.Errorf("settlement: manifest lookup table %q: %w", mt.Table, err)
		}
		as := make(solana.PublicKeySlice, len(mt.Addresses))
		for i, a := range mt.Addresses {
			if as[i], err = solana.PublicKeyFromBase58(a); err != nil {
				return nil, fmt.Errorf("settlement: manifest lookup table %s: address %q: %w", mt.Table, a, err)
			}
		}
		out[k] = as
	}
	return out, nil
}

// importTableSteps records and sends a v0 export's signed table steps, in
// order, each like submit's (recorded before it is sent, then awaited
// until finalized), skipping those an earlier import recorded; then it
// checks that the chain's tables hold what the export's payouts load and
// waits until those addresses are active. It returns the tables as the
// chain has them. A step that can no longer land stops the import before
// any payout is recorded: export again.
func (s *Settler) importTableSteps(ctx context.Context, dir string, m *Manifest, t *Treasury) (Tables, error) {
	recs, err := s.readTableRecords(ctx)
	if err != nil {
		return nil, err
	}
	recorded := map[string]bool{}
	for _, ev := range recs {
		switch e := ev.(type) {
		case *domain.LookupTableCreated:
			recorded[e.Signature] = true
		case *domain.LookupTableExtended:
			recorded[e.Signature] = true
		}
	}
	bh, err := solana.HashFromBase58(m.Blockhash)
	if err != nil {
		return nil, fmt.Errorf("settlement: manifest blockhash: %w", err)
	}
	for i := range m.TableSteps {
		st := &m.TableSteps[i]
		tx, err := readSigned(dir, st.File, st.SignedFile, m.Authority)
		if err != nil {
			return nil, err
		}
		if err := m.checkStep(tx, st, t); err != nil {
			return nil, err
		}
		sig := tx.Signatures[0]
		raw, err := tx.MarshalBinary()
		if err != nil {
			return nil, err
		}
		was := recorded[sig.String()]
		if !was {
			if h, err := s.chain.BlockHeight(ctx); err != nil {
				return nil, err
			} else if h > m.LastValidBlockHeight {
				return nil, fmt.Errorf("settlement: the export's blockhash expired (block height %d > last valid %d) before its table step %s was recorded; nothing more was recorded: export again and sign faster", h, m.LastValidBlockHeight, st.File)
			}
			var ev domain.Event
			if st.Kind == "create" {
				ev = &domain.LookupTableCreated{Authority: m.Authority, Table: st.Table, RecentSlot: st.RecentSlot, Signature: sig.String(),
					Blockhash: m.Blockhash, LastValidBlockHeight: m.LastValidBlockHeight, Transaction: base64.StdEncoding.EncodeToString(raw)}
			} else {
				ev = &domain.LookupTableExtended{Authority: m.Authority, Table: st.Table, Addresses: st.Addresses, Signature: sig.String(),
					Blockhash: m.Blockhash, LastValidBlockHeight: m.LastValidBlockHeight, Transaction: base64.StdEncoding.EncodeToString(raw)}
			}
			if err := s.recordTable(ctx, ev); err != nil {
				return nil, err
			}
			s.report.TableTransactions++
			s.cfg.Log.Info("sending an exported lookup-table step", "kind", st.Kind, "table", st.Table, "addresses", len(st.Addresses), "signature", sig)
		}
		landed, err := s.awaitRaw(ctx, sig, raw, bh, was)
		if err != nil {
			return nil, err
		}
		if !landed {
			return nil, fmt.Errorf("%w: the export's table step %s (%s of %s) expired without landing; no payout of the export was recorded: export again", ErrTables, st.File, st.Kind, st.Table)
		}
	}
	keys := make([]solana.PublicKey, len(m.Tables))
	for i, mt := range m.Tables {
		if keys[i], err = solana.PublicKeyFromBase58(mt.Table); err != nil {
			return nil, fmt.Errorf("settlement: manifest lookup table %q: %w", mt.Table, err)
		}
	}
	onChain, err := s.readTables(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := Tables{}
	for _, ct := range onChain {
		out[ct.addr] = ct.addresses
	}
	for i, mt := range m.Tables {
		as := out[keys[i]]
		if len(as) < len(mt.Addresses) {
			return nil, fmt.Errorf("%w: table %s holds %d addresses on chain, the export's payouts load %d; no payout was recorded", ErrTables, mt.Table, len(as), len(mt.Addresses))
		}
		for k, a := range mt.Addresses {
			if as[k].String() != a {
				return nil, fmt.Errorf("%w: table %s holds %s at index %d on chain, the export's payouts load %s there; no payout was recorded: export again", ErrTables, mt.Table, as[k], k, a)
			}
		}
	}
	if err := s.awaitActive(ctx, onChain); err != nil {
		return nil, err
	}
	return out, nil
}
