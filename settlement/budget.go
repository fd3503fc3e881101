package settlement

import (
	"context"
	"fmt"
	"slices"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/settlement/lookuptable"
)

// Compute budget of v0 payout transactions: SetComputeUnitLimit from a
// simulation of the very transaction plus a margin (a limit too low fails
// the transaction, one too high makes the priority fee dearer, since it is
// price × limit); SetComputeUnitPrice from the recent prioritization fees
// of the accounts it writes (a percentile, or fixed), lowered when a cap
// on the round's priority fees would be exceeded.

// cuMargin is added to the simulated units: 10 % plus a constant.
func cuMargin(units uint64) uint64 { return units/10 + 1_000 }

// priorityPrice returns the round's compute-unit price.
func (s *Settler) priorityPrice(ctx context.Context) (uint64, error) {
	if s.cfg.TxVersion != TxV0 {
		return 0, nil
	}
	if s.cfg.FixedPriorityFee {
		s.feeLeft = s.cfg.MaxFeeLamports
		return s.cfg.PriorityFee, nil
	}
	cctx, cancel := s.chain.call(ctx, s.chain.CallTimeout)
	fees, err := s.chain.rpc.GetRecentPrioritizationFees(cctx, solana.PublicKeySlice{s.treasury.Authority, s.treasury.Source})
	cancel()
	if err != nil {
		return 0, s.chain.wrap("getRecentPrioritizationFees", err)
	}
	vals := make([]uint64, len(fees))
	for i, f := range fees {
		vals[i] = f.PrioritizationFee
	}
	s.feeLeft = s.cfg.MaxFeeLamports
	return Percentile(vals, s.cfg.FeePercentile), nil
}

// Percentile is the p-th percentile (nearest rank, 1 ≤ p ≤ 100) of vals;
// 0 for none.
func Percentile(vals []uint64, p int) uint64 {
	if len(vals) == 0 {
		return 0
	}
	v := slices.Clone(vals)
	slices.Sort(v)
	rank := (p*len(v) + 99) / 100 // ceil(p/100 × n)
	return v[max(rank, 1)-1]
}

// buildV0 builds one v0 payout transaction with its compute budget:
// simulated at the maximum limit, then built again with the units it used
// plus the margin. remaining is how many transactions of the round are
// still to be built (this one included), to share a fee cap among them.
func (s *Settler) buildV0(ctx context.Context, g []Transfer, memo string, bh solana.Hash, tables Tables, price *uint64, remaining int) (*solana.Transaction, error) {
	tx, err := BuildTxV0(&s.treasury, g, memo, bh, tables, Budget{Units: MaxComputeUnits, Price: *price})
	if err != nil {
		return nil, err
	}
	sim, err := s.chain.Simulate(ctx, tx, false)
	if err != nil {
		return nil, err
	}
	if sim.Err != nil {
		return nil, fmt.Errorf("settlement: the payout transaction of %d transfers fails in simulation (%v); nothing of it was recorded or sent: %v", len(g), sim.Err, sim.Logs)
	}
	if sim.UnitsConsumed == nil {
		return nil, fmt.Errorf("settlement: simulateTransaction did not report the units consumed")
	}
	b := s.budgetFor(*sim.UnitsConsumed, *price, remaining)
	s.report.ComputeUnits += uint64(b.Units)
	s.report.PriorityLamports += b.PriorityLamports()
	return BuildTxV0(&s.treasury, g, memo, bh, tables, b)
}

// v0Cost adds to c what v0 costs on top of the payouts, as an upper
// bound, before anything is recorded: the table transactions still to
// send (one per new table, one per 30 addresses) and the rent of the
// space they add, and the priority fees at the round's price over the
// most units a transaction may ask for (or the cap, when lower).
func (s *Settler) v0Cost(ctx context.Context, transfers []Transfer, c *Cost) error {
	recs, err := s.readTableRecords(ctx)
	if err != nil {
		return err
	}
	var created []solana.PublicKey
	for _, ev := range recs {
		if e, ok := ev.(*domain.LookupTableCreated); ok {
			if k, err := solana.PublicKeyFromBase58(e.Table); err == nil {
				created = append(created, k)
			}
		}
	}
	tables, err := s.readTables(ctx, created)
	if err != nil {
		return err
	}
	have := map[solana.PublicKey]bool{}
	room := 0
	for _, t := range tables {
		for _, a := range t.addresses {
			have[a] = true
		}
		room += lookuptable.MaxAddresses - len(t.addresses)
	}
	missing := 0
	for _, a := range tableAddresses(&s.treasury, transfers) {
		if !have[a] {
			missing++
		}
	}
	if missing > 0 {
		newTables := (max(missing-room, 0) + lookuptable.MaxAddresses - 1) / lookuptable.MaxAddresses
		txs := newTables + (missing+lookuptable.MaxExtendPerTx-1)/lookuptable.MaxExtendPerTx + len(tables) // a partial chunk per table
		cctx, cancel := s.chain.call(ctx, s.chain.CallTimeout)
		rent, err := s.chain.rpc.GetMinimumBalanceForRentExemption(cctx, uint64(lookuptable.MetaSize*newTables+32*missing), rpc.CommitmentFinalized)
		cancel()
		if err != nil {
			return s.chain.wrap("getMinimumBalanceForRentExemption", err)
		}
		c.SignatureLamports += uint64(txs) * SignatureFee
		c.RentLamports += rent
	}
	price := s.cfg.PriorityFee
	if !s.cfg.FixedPriorityFee {
		if price, err = s.priorityPrice(ctx); err != nil {
			return err
		}
	}
	priority := (price*MaxComputeUnits + 999_999) / 1_000_000 * uint64(c.Transactions)
	if s.cfg.MaxFeeLamports > 0 {
		priority = min(priority, s.cfg.MaxFeeLamports)
	}
	c.PriorityLamports += priority
	c.TotalLamports = c.SignatureLamports + c.PriorityLamports + c.RentLamports
	return nil
}
