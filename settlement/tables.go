package settlement

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/gagliardetto/solana-go"
	addresslookuptable "github.com/gagliardetto/solana-go/programs/address-lookup-table"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/settlement/lookuptable"
)

// The treasury's lookup tables. One table per treasury authority, created
// on first use and extended as recipients' token accounts appear, reused
// by every epoch (stream lookuptable-<authority>); another table once one
// holds 256 addresses.
//
// Like a payout, each creation and extension is signed, recorded with its
// bytes (LookupTableCreated, LookupTableExtended) and only then sent. No
// money moves in these transactions, so the rule is simpler than a
// payout's: the chain's table account is the truth about what a table
// holds. A recorded transaction that may still land (its blockhash valid)
// is re-sent, the same bytes, and waited for before anything else is
// built, so no two extensions of a table are ever in flight; one that can
// no longer land is left behind and what it would have added is added by
// a new extension. A payout transaction uses only addresses that are
// active: extended in an earlier slot than the current one.

// ErrTables is a lookup-table step that could not complete.
var ErrTables = errors.New("settlement: lookup table")

// chainTable is a table as the chain has it.
type chainTable struct {
	addr      solana.PublicKey
	addresses []solana.PublicKey
	// lastExtended and startIndex: addresses from startIndex on were added
	// in slot lastExtended and are usable only in a later slot.
	lastExtended uint64
	startIndex   int
}

// readTableRecords returns the authority's recorded table transactions in order.
func (s *Settler) readTableRecords(ctx context.Context) ([]domain.Event, error) {
	var out []domain.Event
	err := s.j.store.ReadStream(ctx, domain.LookupTableStream(s.treasury.Authority.String()), 0, func(re *eventstore.RecordedEvent) error {
		ev, err := domain.DecodeEvent(re.Type, re.Data)
		if err != nil {
			return fmt.Errorf("%w: record at position %d: %v", ErrTables, re.Position, err)
		}
		out = append(out, ev)
		return nil
	})
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil, nil
	}
	return out, err
}

// awaitRaw re-sends a recorded table transaction while it may land and
// waits until it is finalized (true) or can never land (false).
func (s *Settler) awaitRaw(ctx context.Context, sig solana.Signature, raw []byte, blockhash solana.Hash, sent bool) (bool, error) {
	var last time.Time
	deadline := time.Now().Add(s.cfg.MaxWait)
	for {
		sts, err := s.chain.Statuses(ctx, []solana.Signature{sig})
		if err != nil {
			return false, err
		}
		if st := sts[0]; st != nil && st.ConfirmationStatus == rpc.ConfirmationStatusFinalized {
			if st.Err != nil {
				s.cfg.Log.Warn("lookup table transaction failed on chain", "signature", sig, "error", st.Err)
			}
			return true, nil
		}
		valid, err := s.chain.BlockhashValid(ctx, blockhash)
		if err != nil {
			return false, err
		}
		if !valid {
			// The blockhash is gone: a status query made after that
			// observation that still does not know the signature means it
			// can never land.
			sts, err := s.chain.Statuses(ctx, []solana.Signature{sig})
			if err != nil {
				return false, err
			}
			if sts[0] == nil {
				return false, nil
			}
			continue
		}
		if time.Since(last) >= s.cfg.Rebroadcast {
			if sent {
				s.report.Resent++
			}
			out, err := s.chain.Send(ctx, raw)
			if out == sendInvalid {
				return false, fmt.Errorf("%w: transaction %s refused as invalid: %v", ErrTables, sig, err)
			}
			last, sent = time.Now(), true
			s.hook("table-after-send")
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("%w: transaction %s neither finalized nor expired after %s; it stays recorded: run settle submit again", ErrStillInFlight, sig, s.cfg.MaxWait)
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(s.cfg.Poll):
		}
	}
}

// resolveTableRecords waits for every recorded table transaction that may
// still land (after a crash) and returns the tables created by the records.
func (s *Settler) resolveTableRecords(ctx context.Context) ([]solana.PublicKey, error) {
	recs, err := s.readTableRecords(ctx)
	if err != nil {
		return nil, err
	}
	var tables []solana.PublicKey
	for _, ev := range recs {
		var sigS, bhS, rawS string
		switch e := ev.(type) {
		case *domain.LookupTableCreated:
			if e.Authority != s.treasury.Authority.String() {
				continue
			}
			want, _, err := lookuptable.Derive(s.treasury.Authority, e.RecentSlot)
			if err != nil || want.String() != e.Table {
				s.cfg.Log.Warn("ignoring a LookupTableCreated whose table is not the authority's program address", "table", e.Table)
				continue
			}
			tables = append(tables, want)
			sigS, bhS, rawS = e.Signature, e.Blockhash, e.Transaction
		case *domain.LookupTableExtended:
			sigS, bhS, rawS = e.Signature, e.Blockhash, e.Transaction
		default:
			continue
		}
		sig, err1 := solana.SignatureFromBase58(sigS)
		bh, err2 := solana.HashFromBase58(bhS)
		raw, err3 := base64.StdEncoding.DecodeString(rawS)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("%w: record of %s: %v", ErrTables, sigS, err)
		}
		if _, err := s.awaitRaw(ctx, sig, raw, bh, true); err != nil {
			return nil, err
		}
	}
	return tables, nil
}

// readTables returns the tables that exist on chain, owned by the program
// and by this authority, in record order.
func (s *Settler) readTables(ctx context.Context, addrs []solana.PublicKey) ([]*chainTable, error) {
	if len(addrs) == 0 {
		return nil, nil
	}
	accs, err := s.chain.Accounts(ctx, addrs)
	if err != nil {
		return nil, err
	}
	var out []*chainTable
	for i, a := range accs {
		if a == nil || a.Owner != lookuptable.ProgramID {
			continue
		}
		st, err := addresslookuptable.DecodeAddressLookupTableState(a.Data.GetBinary())
		if err != nil {
			return nil, fmt.Errorf("%w: table %s: %v", ErrTables, addrs[i], err)
		}
		if st.Authority == nil || *st.Authority != s.treasury.Authority || st.DeactivationSlot != ^uint64(0) {
			continue // frozen, deactivated or another authority's: not extendable, not used
		}
		out = append(out, &chainTable{addr: addrs[i], addresses: st.Addresses, lastExtended: st.LastExtendedSlot, startIndex: int(st.LastExtendedSlotStartIndex)})
	}
	return out, nil
}

// signOne builds and signs a one-instruction legacy transaction of the authority.
func (s *Settler) signOne(ctx context.Context, ix solana.Instruction) (*solana.Transaction, []byte, solana.Hash, uint64, error) {
	bh, lastValid, err := s.chain.LatestBlockhash(ctx)
	if err != nil {
		return nil, nil, bh, 0, err
	}
	tx, err := solana.NewTransaction([]solana.Instruction{ix}, bh, solana.TransactionPayer(s.treasury.Authority))
	if err != nil {
		return nil, nil, bh, 0, err
	}
	if _, err := tx.Sign(func(k solana.PublicKey) *solana.PrivateKey {
		if k == s.cfg.Signer.PublicKey() {
			return &s.cfg.Signer
		}
		return nil
	}); err != nil {
		return nil, nil, bh, 0, err
	}
	raw, err := tx.MarshalBinary()
	return tx, raw, bh, lastValid, err
}

// recordTable appends a table record (before its transaction is sent).
func (s *Settler) recordTable(ctx context.Context, ev domain.Event) error {
	if _, err := s.j.Append(ctx, domain.LookupTableStream(s.treasury.Authority.String()), []domain.Event{ev}); err != nil {
		return fmt.Errorf("%w: record %s: %v; nothing of it was sent", ErrTables, ev.EventType(), err)
	}
	s.hook("table-after-record")
	return nil
}

// ensureTables makes the treasury's tables hold every address of need,
// active, and returns them as solana-go takes them. After a creation or
// an extension only that table is read again from the chain.
func (s *Settler) ensureTables(ctx context.Context, need []solana.PublicKey) (Tables, error) {
	created, err := s.resolveTableRecords(ctx)
	if err != nil {
		return nil, err
	}
	tables, err := s.readTables(ctx, created)
	if err != nil {
		return nil, err
	}
	have := map[solana.PublicKey]bool{}
	for _, t := range tables {
		for _, a := range t.addresses {
			have[a] = true
		}
	}
	var missing []solana.PublicKey
	for _, a := range need {
		if !have[a] {
			missing = append(missing, a)
		}
	}
	// Each step is a creation or an extension; a step whose transaction
	// expires is repeated, a few times at most.
	limit := len(missing)/lookuptable.MaxExtendPerTx + 2*(len(missing)/lookuptable.MaxAddresses+1) + 2*s.cfg.MaxRounds + 2
	for step := 0; len(missing) > 0; step++ {
		if step > limit {
			return nil, fmt.Errorf("%w: the tables still lack %d addresses after %d steps (their transactions keep expiring); run settle submit again", ErrStillInFlight, len(missing), step)
		}
		// The last table with room, else a new one.
		var target *chainTable
		if n := len(tables); n > 0 && len(tables[n-1].addresses) < lookuptable.MaxAddresses {
			target = tables[n-1]
		}
		if target == nil {
			table, err := s.createTable(ctx)
			if err != nil {
				return nil, err
			}
			if !table.IsZero() {
				got, err := s.readTables(ctx, []solana.PublicKey{table})
				if err != nil {
					return nil, err
				}
				tables = append(tables, got...)
			}
			continue
		}
		room := lookuptable.MaxAddresses - len(target.addresses)
		chunk := missing[:min(len(missing), room, lookuptable.MaxExtendPerTx)]
		if err := s.extendTable(ctx, target.addr, chunk); err != nil {
			return nil, err
		}
		got, err := s.readTables(ctx, []solana.PublicKey{target.addr})
		if err != nil {
			return nil, err
		}
		if len(got) == 1 {
			*target = *got[0]
		}
		for _, a := range target.addresses {
			have[a] = true
		}
		rest := missing[:0]
		for _, a := range missing {
			if !have[a] {
				rest = append(rest, a)
			}
		}
		missing = rest
	}
	if err := s.awaitActive(ctx, tables); err != nil {
		return nil, err
	}
	out := Tables{}
	for _, t := range tables {
		out[t.addr] = t.addresses
	}
	return out, nil
}

// createTable records, sends and waits for one CreateLookupTable. It
// returns the zero key when the transaction expired without landing.
func (s *Settler) createTable(ctx context.Context) (solana.PublicKey, error) {
	cctx, cancel := s.chain.call(ctx, s.chain.CallTimeout)
	slot, err := s.chain.rpc.GetSlot(cctx, rpc.CommitmentFinalized)
	cancel()
	if err != nil {
		return solana.PublicKey{}, s.chain.wrap("getSlot", err)
	}
	ix, table, err := lookuptable.Create(s.treasury.Authority, s.treasury.Authority, slot)
	if err != nil {
		return solana.PublicKey{}, err
	}
	tx, raw, bh, lastValid, err := s.signOne(ctx, ix)
	if err != nil {
		return solana.PublicKey{}, err
	}
	ev := &domain.LookupTableCreated{Authority: s.treasury.Authority.String(), Table: table.String(), RecentSlot: slot,
		Signature: tx.Signatures[0].String(), Blockhash: bh.String(), LastValidBlockHeight: lastValid, Transaction: base64.StdEncoding.EncodeToString(raw)}
	if err := s.recordTable(ctx, ev); err != nil {
		return solana.PublicKey{}, err
	}
	s.report.TableTransactions++
	s.cfg.Log.Info("creating the treasury's lookup table", "table", table, "signature", tx.Signatures[0])
	landed, err := s.awaitRaw(ctx, tx.Signatures[0], raw, bh, false)
	if err != nil || !landed {
		return solana.PublicKey{}, err
	}
	return table, nil
}

// extendTable records, sends and waits for one ExtendLookupTable.
func (s *Settler) extendTable(ctx context.Context, table solana.PublicKey, addrs []solana.PublicKey) error {
	ix, err := lookuptable.Extend(table, s.treasury.Authority, s.treasury.Authority, addrs)
	if err != nil {
		return err
	}
	tx, raw, bh, lastValid, err := s.signOne(ctx, ix)
	if err != nil {
		return err
	}
	as := make([]string, len(addrs))
	for i, a := range addrs {
		as[i] = a.String()
	}
	ev := &domain.LookupTableExtended{Authority: s.treasury.Authority.String(), Table: table.String(), Addresses: as,
		Signature: tx.Signatures[0].String(), Blockhash: bh.String(), LastValidBlockHeight: lastValid, Transaction: base64.StdEncoding.EncodeToString(raw)}
	if err := s.recordTable(ctx, ev); err != nil {
		return err
	}
	s.report.TableTransactions++
	s.cfg.Log.Info("extending the treasury's lookup table", "table", table, "addresses", len(addrs), "signature", tx.Signatures[0])
	_, err = s.awaitRaw(ctx, tx.Signatures[0], raw, bh, false)
	return err
}

// awaitActive waits until the current slot is past every table's last
// extension, so each address of them may be loaded.
func (s *Settler) awaitActive(ctx context.Context, tables []*chainTable) error {
	var newest uint64
	for _, t := range tables {
		if t.startIndex < len(t.addresses) {
			newest = max(newest, t.lastExtended)
		}
	}
	deadline := time.Now().Add(s.cfg.MaxWait)
	for {
		cctx, cancel := s.chain.call(ctx, s.chain.CallTimeout)
		slot, err := s.chain.rpc.GetSlot(cctx, rpc.CommitmentFinalized)
		cancel()
		if err != nil {
			return s.chain.wrap("getSlot", err)
		}
		if slot > newest {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: slot %d is still not past the last table extension's slot %d", ErrStillInFlight, slot, newest)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.cfg.Poll):
		}
	}
}
