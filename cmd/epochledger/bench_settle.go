package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/epochledger/epochledger/scenarios/bench"
)

func benchSettle(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "bench settle", "[--plan-operators N] [--e2e-operators N] [--json]", `
Measure settlement: the transfers a legacy transaction can hold (the
byte-limit maximum, computed by packing) and a v0 one (the limit from bytes,
64 account locks and the 64-entry instruction trace) against what the
end-to-end runs achieved; 'settle plan' (derive payouts and Merkle root, check, encode and
durably append SettlementPlanned) for --plan-operators operators allocated in
one epoch (target < 10 s for 1,000,000); and an end-to-end settlement of
--e2e-operators operators against the local Solana VM (target < 60 s for
10,000), whose balances are then checked exactly, first in legacy and then,
on a fresh VM, in v0 transactions (transactions and lamports of each).`)
	planOps := fs.Int("plan-operators", 1_000_000, "operators of the plan benchmark (0 skips it)")
	e2eOps := fs.Int("e2e-operators", 10_000, "operators of the end-to-end benchmark (0 skips it)")
	dir := fs.String("dir", "", "scratch directory (default: a temporary directory under the current one)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		d, err := os.MkdirTemp(".", ".bench-settle-")
		if err != nil {
			return err
		}
		*dir = d
	} else {
		*dir = filepath.Join(*dir, fmt.Sprintf("bench-settle-%d", os.Getpid()))
	}
	r, err := bench.RunSettle(ctx, bench.SettleOptions{Dir: *dir, PlanOperators: *planOps, E2EOperators: *e2eOps, Progress: func(step string) {
		if !*asJSON && isTerminal(e.stderr) {
			fmt.Fprintf(e.stderr, "bench settle: %s\n", step)
		}
	}})
	if err != nil {
		return fmt.Errorf("bench settle: %w", err)
	}
	if *asJSON {
		return writeJSON(e.stdout, r)
	}
	fmt.Fprintf(e.stdout, `transfers per legacy transaction (1,232 bytes)
  byte-limit maximum, new token accounts     %d (%d bytes)
  byte-limit maximum, existing accounts      %d (%d bytes)
`, r.MaxTransfersWithCreate, r.TxBytesWithCreate, r.MaxTransfersWithoutCreate, r.TxBytesWithoutCreate)
	if r.E2EOperators > 0 {
		fmt.Fprintf(e.stdout, "  achieved, new accounts (end to end)       %.2f\n  achieved, existing accounts (end to end)  %.2f\n", r.AchievedWithCreate, r.AchievedWithoutCreate)
	}
	fmt.Fprintf(e.stdout, `transfers per v0 transaction (1,232 bytes, 64 locks, 64-entry instruction trace, memo i/n, 2 compute-budget instructions)
  limit, new token accounts                  %d (first of a batch, memo with the anchor: %d)
  limit, existing accounts                   %d (%d bytes; one more: %d) (first of a batch: %d)
`, r.V0MaxTransfersWithCreate, r.V0MaxAnchoredWithCreate, r.V0MaxTransfersWithoutCreate, r.V0TxBytesWithoutCreate, r.V0TxBytesOneMore, r.V0MaxAnchoredWithoutCreate)
	if r.E2EOperators > 0 {
		fmt.Fprintf(e.stdout, `  achieved, new accounts (end to end)       %.2f
  achieved, existing accounts (end to end)  %.2f
end to end, %d operators, two epochs, same run
  legacy  %d + %d transactions, %d lamports
  v0      %d + %d transactions (+ %d table), %d lamports; balances %s
  v0 limit on the VM: %s
`, r.V0AchievedWithCreate, r.V0AchievedWithoutCreate, r.E2EOperators, r.E2ETransactions, r.E2ESecondTxs, r.LegacyE2ELamports,
			r.V0E2ETransactions, r.V0E2ESecondTxs, r.V0E2ETableTxs, r.V0E2ELamports, map[bool]string{true: "exact", false: "MISMATCH"}[r.V0E2EBalancesExact], r.V0LimitOnVM)
	}
	if r.PlanOperators > 0 {
		fmt.Fprintf(e.stdout, `settle plan, %d operators (GOMAXPROCS %d)
  derive payouts, leaves, root               %.2f s
  check, encode, append (%d events, %.1f MB) %.2f s
  total                                      %.2f s (target %.0f s: %s); ledger build %.1f s, not counted
  baseline: raw write+fsync of the bytes     %.2f s
`, r.PlanOperators, r.GOMAXPROCS, r.PlanDeriveSecs, r.PlanEvents, float64(r.PlanBytes)/1e6, r.PlanRecordSecs, r.PlanTotalSecs, r.PlanTargetSecs, within(r.PlanWithinTarget), r.PlanLedgerSecs, r.PlanRawWriteSecs)
	}
	if r.E2EOperators > 0 {
		fmt.Fprintf(e.stdout, `end-to-end settlement on the local VM, %d operators
  plan                                       %.2f s
  submit, new token accounts                 %.2f s, %d transactions (%.0f tx/s) (target %.0f s: %s)
  submit, second epoch, existing accounts    %.2f s, %d transactions
  balances checked                           %d wallets + treasury: %s
  baseline: pre-signed sends, no log         %.0f tx/s; settlement runs at %.2f of it
`, r.E2EOperators, r.E2EPlanSecs, r.E2ESubmitSecs, r.E2ETransactions, r.E2ETxPerSec, r.E2ETargetSecs, within(r.E2EWithinTarget),
			r.E2ESecondSecs, r.E2ESecondTxs, r.E2EBalancesChecks, map[bool]string{true: "exact", false: "MISMATCH"}[r.E2EBalancesExact],
			r.BaselineTxPerSec, r.RatioToBaseline)
	}
	return nil
}

func within(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
