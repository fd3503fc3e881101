// The settlement benchmark (`epochledger bench settle`): how many
// transfers a legacy and a v0 payout transaction hold (the limit from the
// bytes, the account locks and the instruction trace, beside what the
// end-to-end runs achieved), how long `settle plan` takes for a million
// operators against a raw write+fsync of the same bytes, and an
// end-to-end settlement of many operators on the local Solana VM, in
// legacy and then v0 transactions in the same run, against pre-signed
// sends with no log. The plans of the end-to-end runs record the log's
// head (log_head), so the first v0 transaction of each batch carries the
// anchored memo, exactly as settle plan and submit do.

package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gagliardetto/solana-go"
	addresslookuptable "github.com/gagliardetto/solana-go/programs/address-lookup-table"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"
	"github.com/mr-tron/base58"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/scenarios/simlog"
	"github.com/epochledger/epochledger/settlement"
	"github.com/epochledger/epochledger/settlement/localnet"
)

// SettleOptions configure RunSettle.
type SettleOptions struct {
	Dir           string // scratch directory (removed after)
	PlanOperators int    // operators of the plan benchmark (0 skips it)
	E2EOperators  int    // operators of the end-to-end benchmark (0 skips it)
	Progress      func(step string)
}

// SettleResult is what `bench settle --json` prints.
type SettleResult struct {
	// Packing: transfers per legacy transaction, the byte-limit maximum
	// (computed by packing) and what the end-to-end run achieved.
	MaxTransfersWithCreate    int     `json:"max_transfers_with_ata_creation"`
	MaxTransfersWithoutCreate int     `json:"max_transfers_without_ata_creation"`
	TxBytesWithCreate         int     `json:"tx_bytes_full_with_ata_creation"`
	TxBytesWithoutCreate      int     `json:"tx_bytes_full_without_ata_creation"`
	AchievedWithCreate        float64 `json:"achieved_transfers_per_tx_new_accounts,omitempty"`
	AchievedWithoutCreate     float64 `json:"achieved_transfers_per_tx_existing_accounts,omitempty"`

	// settle plan for PlanOperators operators allocated in one epoch.
	PlanOperators    int     `json:"plan_operators,omitempty"`
	PlanLedgerSecs   float64 `json:"plan_ledger_build_seconds,omitempty"` // building the ledger (not part of plan)
	PlanDeriveSecs   float64 `json:"plan_derive_seconds,omitempty"`       // payouts, leaves, root
	PlanRecordSecs   float64 `json:"plan_record_seconds,omitempty"`       // Check, encode, durable append, fold
	PlanTotalSecs    float64 `json:"plan_seconds,omitempty"`
	PlanEvents       int     `json:"plan_events,omitempty"`
	PlanBytes        int64   `json:"plan_bytes,omitempty"`
	PlanRawWriteSecs float64 `json:"plan_raw_write_fsync_seconds,omitempty"` // baseline: the same bytes written and fsynced
	PlanTargetSecs   float64 `json:"plan_target_seconds,omitempty"`
	PlanWithinTarget bool    `json:"plan_within_target,omitempty"`

	// End-to-end settlement of E2EOperators operators on the local VM:
	// every operator new (token accounts created), then a second epoch
	// to the same operators (accounts exist).
	E2EOperators      int     `json:"e2e_operators,omitempty"`
	E2EPlanSecs       float64 `json:"e2e_plan_seconds,omitempty"`
	E2ESubmitSecs     float64 `json:"e2e_submit_seconds,omitempty"`
	E2ETransactions   int     `json:"e2e_transactions,omitempty"`
	E2ETxPerSec       float64 `json:"e2e_transactions_per_second,omitempty"`
	E2ESecondSecs     float64 `json:"e2e_second_epoch_submit_seconds,omitempty"`
	E2ESecondTxs      int     `json:"e2e_second_epoch_transactions,omitempty"`
	E2ETargetSecs     float64 `json:"e2e_target_seconds,omitempty"`
	E2EWithinTarget   bool    `json:"e2e_within_target,omitempty"`
	E2EBalancesExact  bool    `json:"e2e_balances_exact,omitempty"`
	E2EBalancesChecks int     `json:"e2e_balances_checked,omitempty"`
	// Same-run baseline: the same kind of transactions (9 transfers with
	// token account creation), pre-signed, sent one after the other and
	// polled until finalized, with no log: what the VM and RPC allow.
	BaselineTxPerSec float64 `json:"baseline_raw_send_transactions_per_second,omitempty"`
	RatioToBaseline  float64 `json:"e2e_ratio_to_baseline,omitempty"`

	// v0 (lookup table, compute budget): the limit from bytes, account
	// locks and the instruction trace, and what the same end-to-end run
	// achieved in v0 on a fresh VM; the lamports each mode's end-to-end
	// run (both epochs) cost the treasury: signatures, priority fees, rent
	// of token accounts and of the lookup tables.
	V0MaxTransfersWithCreate    int `json:"v0_max_transfers_with_ata_creation"`
	V0MaxTransfersWithoutCreate int `json:"v0_max_transfers_without_ata_creation"`
	// The same limits for a batch's first transaction, whose memo also
	// carries the log's anchor (…:1/<n>:<64 hex>), and the bytes of a
	// full v0 transaction without creation and of one with a transfer
	// more (built, not computed: past 1,232 it cannot be sent).
	V0MaxAnchoredWithCreate    int `json:"v0_max_transfers_with_ata_creation_anchored"`
	V0MaxAnchoredWithoutCreate int `json:"v0_max_transfers_without_ata_creation_anchored"`
	V0TxBytesWithoutCreate     int `json:"v0_tx_bytes_full_without_ata_creation"`
	V0TxBytesOneMore           int `json:"v0_tx_bytes_one_more_without_ata_creation"`
	// V0LimitOnVM: on the v0 run's VM, after epoch 2, a v0 transaction of
	// v0_max_transfers_without_ata_creation transfers to existing accounts
	// simulates, and one with a transfer more is refused.
	V0LimitOnVM             string  `json:"v0_limit_checked_on_vm,omitempty"`
	V0AchievedWithCreate    float64 `json:"v0_achieved_transfers_per_tx_new_accounts,omitempty"`
	V0AchievedWithoutCreate float64 `json:"v0_achieved_transfers_per_tx_existing_accounts,omitempty"`
	V0E2ELamports           uint64  `json:"v0_e2e_lamports,omitempty"`
	LegacyE2ELamports       uint64  `json:"legacy_e2e_lamports,omitempty"`
	V0E2ETransactions       int     `json:"v0_e2e_transactions,omitempty"`
	V0E2ESecondTxs          int     `json:"v0_e2e_second_epoch_transactions,omitempty"`
	V0E2ETableTxs           int     `json:"v0_e2e_table_transactions,omitempty"`
	V0E2ESubmitSecs         float64 `json:"v0_e2e_submit_seconds,omitempty"`
	V0E2ESecondSecs         float64 `json:"v0_e2e_second_epoch_submit_seconds,omitempty"`
	V0E2EBalancesExact      bool    `json:"v0_e2e_balances_exact,omitempty"`

	GOMAXPROCS int `json:"gomaxprocs"`
}

// RunSettle runs the settlement benchmark.
func RunSettle(ctx context.Context, o SettleOptions) (*SettleResult, error) {
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(o.Dir)
	say := func(format string, a ...any) {
		if o.Progress != nil {
			o.Progress(fmt.Sprintf(format, a...))
		}
	}
	r := &SettleResult{GOMAXPROCS: runtime.GOMAXPROCS(0)}

	// Packing maxima.
	tr := &settlement.Treasury{Authority: solana.NewWallet().PublicKey(), Mint: solana.NewWallet().PublicKey()}
	tr.Source, _, _ = solana.FindAssociatedTokenAddress(tr.Authority, tr.Mint)
	root := fmt.Sprintf("%064x", 0)
	memo := domain.Memo(1_000, root)
	r.MaxTransfersWithCreate = settlement.MaxTransfers(tr, true, len(memo))
	r.MaxTransfersWithoutCreate = settlement.MaxTransfers(tr, false, len(memo))
	r.TxBytesWithCreate = fullTxBytes(tr, memo, r.MaxTransfersWithCreate, true)
	r.TxBytesWithoutCreate = fullTxBytes(tr, memo, r.MaxTransfersWithoutCreate, false)
	// v0: the memo of a transaction past the first (…:<i>/<n>), and of
	// the first, which also carries the log's anchor (…:1/<n>:<head>), with
	// i/n as wide as a batch of 10,000 operators makes them.
	memoV0 := domain.MemoV0(1_000, root, 213, 213)
	memoAnchor := domain.MemoV0Anchor(1_000, root, 1, 213, strings.Repeat("ab", 32))
	r.V0MaxTransfersWithCreate = settlement.MaxTransfersV0(tr, true, len(memoV0))
	r.V0MaxTransfersWithoutCreate = settlement.MaxTransfersV0(tr, false, len(memoV0))
	r.V0MaxAnchoredWithCreate = settlement.MaxTransfersV0(tr, true, len(memoAnchor))
	r.V0MaxAnchoredWithoutCreate = settlement.MaxTransfersV0(tr, false, len(memoAnchor))
	r.V0TxBytesWithoutCreate = fullTxBytesV0(tr, memoV0, r.V0MaxTransfersWithoutCreate)
	r.V0TxBytesOneMore = fullTxBytesV0(tr, memoV0, r.V0MaxTransfersWithoutCreate+1)

	if o.PlanOperators > 0 {
		say("building a ledger of %d operators…", o.PlanOperators)
		if err := benchPlan(ctx, filepath.Join(o.Dir, "plan"), o.PlanOperators, r); err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
	}
	if o.E2EOperators > 0 {
		say("settling %d operators on the local VM…", o.E2EOperators)
		if err := benchE2E(ctx, filepath.Join(o.Dir, "e2e"), o.E2EOperators, r); err != nil {
			return nil, fmt.Errorf("end to end: %w", err)
		}
	}
	return r, nil
}

// fullTxBytesV0 builds a v0 transaction of n transfers without creation,
// every token account, the treasury's and the mint in one lookup table,
// at full compute budget, and returns its wire size.
func fullTxBytesV0(tr *settlement.Treasury, memo string, n int) int {
	ts := syntheticTransfers(n, false)
	table := solana.PublicKeySlice{tr.Source, tr.Mint}
	for _, t := range ts {
		table = append(table, t.ATA)
	}
	tables := settlement.Tables{solana.PublicKey{9}: table}
	tx, err := settlement.BuildTxV0(tr, ts, memo, solana.Hash{}, tables, settlement.Budget{Units: settlement.MaxComputeUnits, Price: 1})
	if err != nil {
		return 0
	}
	size, _ := settlement.TxSize(tx)
	return size
}

// syntheticTransfers returns n transfers of 1 base unit to distinct
// made-up owners and token accounts, for measuring a transaction's size.
func syntheticTransfers(n int, create bool) []settlement.Transfer {
	ts := make([]settlement.Transfer, n)
	for i := range ts {
		var b [32]byte
		b[0], b[1] = byte(i), 1
		ts[i].Owner = solana.PublicKeyFromBytes(b[:])
		b[1] = 2
		ts[i].ATA = solana.PublicKeyFromBytes(b[:])
		ts[i].Create = create
		ts[i].Amount = 1
	}
	return ts
}

func fullTxBytes(tr *settlement.Treasury, memo string, n int, create bool) int {
	ts := syntheticTransfers(n, create)
	tx, err := settlement.BuildTx(tr, ts, memo, solana.Hash{})
	if err != nil {
		return 0
	}
	size, _ := settlement.TxSize(tx)
	return size
}

// benchPlan builds a ledger of n operators with one epoch allocated (by
// folding events directly, without a store), then times Derive and Record
// into an empty embedded store.
func benchPlan(ctx context.Context, dir string, n int, r *SettleResult) error {
	r.PlanOperators, r.PlanTargetSecs = n, 10
	start := time.Now()
	l := projections.New(projections.Config{})
	pubkey := base58.Encode(make([]byte, 32))
	sig := base58.Encode(make([]byte, 64))
	hash := simlog.Hash("bench")
	usd, _ := domain.ParseUSD("1.5")
	pos := uint64(0)
	apply := func(ev domain.Event) {
		pos++
		l.Apply(pos, ev)
	}
	for i := 0; i < n; i++ {
		op := "op-" + strconv.Itoa(1_000_000+i)
		node := "node-" + strconv.Itoa(1_000_000+i)
		apply(&domain.NodeRegistered{NodeID: node, OperatorID: op, NodePubkey: pubkey, GPU: "RTX 4090", OBScore: 50_000})
		w := sha256.Sum256([]byte(op))
		apply(&domain.OperatorWalletSet{OperatorID: op, Wallet: base58.Encode(w[:])})
		u := usd
		if i%3 == 0 {
			u, _ = domain.ParseUSD("2.25")
		}
		apply(&domain.ComputeWorkCompleted{TaskID: "t-" + op, NodeID: node, Client: "io.net", DurationMS: 60_000, USD: u, OutputHash: hash, Signature: sig})
	}
	apply(&domain.EpochClosed{Epoch: 1, Emission: domain.DefaultEmission})
	r.PlanLedgerSecs = time.Since(start).Seconds()

	store, err := filestore.Open(dir, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	// The store is empty: the ledger's positions are past its head, so
	// the journal's catch-up reads nothing but the plan it appends.
	l.Position = 0
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(400)) // as settle plan does

	t0 := time.Now()
	p, err := settlement.Derive(l, 1)
	if err != nil {
		return err
	}
	r.PlanDeriveSecs = time.Since(t0).Seconds()
	t1 := time.Now()
	if _, err := settlement.Record(ctx, settlement.NewJournal(store, l), p); err != nil {
		return err
	}
	r.PlanRecordSecs = time.Since(t1).Seconds()
	r.PlanTotalSecs = time.Since(t0).Seconds()
	r.PlanWithinTarget = n < 1_000_000 || r.PlanTotalSecs < r.PlanTargetSecs
	if len(p.Payouts) != n {
		return fmt.Errorf("planned %d payouts for %d operators", len(p.Payouts), n)
	}
	r.PlanEvents = len(p.Events())
	_ = store.ReadAll(ctx, 1, func(e *eventstore.RecordedEvent) error {
		r.PlanBytes += int64(len(e.Data))
		return nil
	})
	// Baseline: write and fsync as many bytes to a file on the same disk.
	f, err := os.Create(filepath.Join(dir, "raw"))
	if err != nil {
		return err
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	t2 := time.Now()
	for left := r.PlanBytes; left > 0; left -= int64(len(chunk)) {
		if _, err := f.Write(chunk[:min(int64(len(chunk)), left)]); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	r.PlanRawWriteSecs = time.Since(t2).Seconds()
	return nil
}

// benchE2E settles n operators, twice (two epochs), in legacy
// transactions and then, on a fresh VM and a fresh copy of the log, in
// v0 ones: the same run compares the two.
func benchE2E(ctx context.Context, dir string, n int, r *SettleResult) error {
	r.E2EOperators, r.E2ETargetSecs = n, 60
	b := simlog.New("bench-settle", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	b.FakeSignatures = true // the store does not check; signing 10,000 is not what is measured
	for i := 0; i < n; i++ {
		op, node := fmt.Sprintf("op-%06d", i), fmt.Sprintf("node-%06d", i)
		b.Node(node, op, "600")
		b.SetWallet(op)
		b.Compute("t1-"+op, node, 60_000, strconv.Itoa(1+i%9))
	}
	b.CloseEpoch(1, domain.DefaultEmission)
	for i := 0; i < n; i++ {
		b.Compute("t2-"+strconv.Itoa(i), fmt.Sprintf("node-%06d", i), 60_000, strconv.Itoa(1+i%5))
	}
	b.CloseEpoch(2, domain.DefaultEmission)
	log := b.Drain()
	legacy, err := e2eRun(ctx, filepath.Join(dir, "legacy"), log, settlement.TxLegacy, true)
	if err != nil {
		return fmt.Errorf("legacy: %w", err)
	}
	r.E2EPlanSecs, r.E2ESubmitSecs, r.E2ETransactions = legacy.planSecs[0], legacy.secs[0], legacy.txs[0]
	r.E2ETxPerSec = float64(legacy.txs[0]) / legacy.secs[0]
	r.AchievedWithCreate = float64(legacy.payouts[0]) / float64(legacy.txs[0])
	r.E2EWithinTarget = legacy.secs[0]+legacy.planSecs[0] < r.E2ETargetSecs
	r.E2ESecondSecs, r.E2ESecondTxs = legacy.secs[1], legacy.txs[1]
	r.AchievedWithoutCreate = float64(legacy.payouts[1]) / float64(legacy.txs[1])
	r.E2EBalancesExact, r.E2EBalancesChecks = legacy.exact, legacy.checked
	r.LegacyE2ELamports = legacy.lamports
	r.BaselineTxPerSec, r.RatioToBaseline = legacy.baseline, r.E2ETxPerSec/legacy.baseline

	v0, err := e2eRun(ctx, filepath.Join(dir, "v0"), log, settlement.TxV0, false)
	if err != nil {
		return fmt.Errorf("v0: %w", err)
	}
	r.V0E2ETransactions, r.V0E2ESecondTxs, r.V0E2ETableTxs = v0.txs[0], v0.txs[1], v0.tableTxs
	r.V0E2ESubmitSecs, r.V0E2ESecondSecs = v0.secs[0], v0.secs[1]
	r.V0AchievedWithCreate = float64(v0.payouts[0]) / float64(v0.txs[0])
	r.V0AchievedWithoutCreate = float64(v0.payouts[1]) / float64(v0.txs[1])
	r.V0E2ELamports, r.V0E2EBalancesExact = v0.lamports, v0.exact
	r.V0LimitOnVM = v0.limitOnVM
	return nil
}

// e2eResult is one mode's end-to-end run; [0] is epoch 1, [1] epoch 2.
type e2eResult struct {
	planSecs, secs [2]float64
	txs, payouts   [2]int
	tableTxs       int
	lamports       uint64 // the treasury's SOL spent on both epochs
	exact          bool
	checked        int
	baseline       float64
	limitOnVM      string
}

// e2eRun settles both epochs of log on a fresh VM in one transaction version.
func e2eRun(ctx context.Context, dir string, log []*domain.Envelope, version string, baseline bool) (*e2eResult, error) {
	store, err := filestore.Open(dir, nil)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	if err := simlog.AppendBatch(ctx, store, log); err != nil {
		return nil, err
	}
	l, err := projections.Build(ctx, store, projections.Config{}, nil)
	if err != nil {
		return nil, err
	}
	ln, err := localnet.Start(ctx, localnet.Options{})
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	chain := settlement.Dial(ln.RPC)
	defer chain.Close()
	before, err := chain.Lamports(ctx, ln.Treasury.PublicKey())
	if err != nil {
		return nil, err
	}
	out := &e2eResult{}
	j := settlement.NewJournal(store, l)
	cfg := settlement.Config{Mint: ln.Mint, Signer: ln.Treasury, Batch: 64, Poll: 5 * time.Millisecond, MaxWait: 2 * time.Minute, TxVersion: version}
	for k, epoch := range []uint64{1, 2} {
		t0 := time.Now()
		p, err := settlement.Derive(j.Ledger(), epoch)
		if err != nil {
			return nil, err
		}
		// As settle plan: the plan records the log's head, which the memo
		// of the batch's first v0 transaction anchors.
		_, h, err := store.HeadHash(ctx)
		if err != nil {
			return nil, err
		}
		p.LogHead = hex.EncodeToString(h[:])
		if _, err := settlement.Record(ctx, j, p); err != nil {
			return nil, err
		}
		out.planSecs[k] = time.Since(t0).Seconds()
		cfg.Epoch = epoch
		t1 := time.Now()
		rep, err := settlement.NewSettler(chain, j, cfg).Submit(ctx)
		if err != nil {
			return nil, err
		}
		out.secs[k] = time.Since(t1).Seconds()
		if !rep.Settled {
			return nil, fmt.Errorf("epoch %d not settled: %+v", epoch, rep)
		}
		out.txs[k], out.payouts[k] = rep.Transactions, len(p.Payouts)
		out.tableTxs += rep.TableTransactions
	}
	after, err := chain.Lamports(ctx, ln.Treasury.PublicKey())
	if err != nil {
		return nil, err
	}
	out.lamports = before - after
	// Every wallet holds exactly what the ledger paid it; the treasury fell
	// by the total.
	out.exact = true
	var total uint64
	for _, o := range j.Ledger().Operators {
		var bal struct {
			Amount string `json:"amount"`
		}
		if err := ln.Call(ctx, "localnet_getTokenBalance", map[string]string{"owner": o.Wallet, "mint": ln.Mint.String()}, &bal); err != nil {
			return nil, err
		}
		got, _ := strconv.ParseUint(bal.Amount, 10, 64)
		if got != uint64(o.Paid) || o.Paid != o.Allocated {
			out.exact = false
		}
		total += got
		out.checked++
	}
	tb, err := ln.TokenBalance(ctx, ln.Treasury.PublicKey(), ln.Mint)
	if err != nil {
		return nil, err
	}
	if tb != ln.TreasuryAmount-total {
		out.exact = false
	}
	if version == settlement.TxV0 {
		if out.limitOnVM, err = v0LimitOnVM(ctx, store, ln, j.Ledger()); err != nil {
			return nil, fmt.Errorf("v0 limit on the VM: %w", err)
		}
	}
	if baseline {
		if out.baseline, err = rawSendBaseline(ctx, ln, min(out.txs[0], 140)); err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
	}
	return out, nil
}

// v0LimitOnVM holds the computed v0 limit without creation against the
// VM: transfers of 1 base unit to existing token accounts held in the
// treasury's first lookup table (with the treasury's token account and
// the mint), the memo of a batch's i/n at its widest, the two
// compute-budget instructions. The limit's transaction must simulate; one
// with a transfer more must be refused.
func v0LimitOnVM(ctx context.Context, store eventstore.Store, ln *localnet.Localnet, l *projections.Ledger) (string, error) {
	tr := &settlement.Treasury{Authority: ln.Treasury.PublicKey(), Source: ln.TreasuryTokenAccount, Mint: ln.Mint}
	var first solana.PublicKey
	err := store.ReadStream(ctx, domain.LookupTableStream(tr.Authority.String()), 0, func(re *eventstore.RecordedEvent) error {
		ev, err := domain.DecodeEvent(re.Type, re.Data)
		if c, ok := ev.(*domain.LookupTableCreated); err == nil && ok && first.IsZero() {
			first, err = solana.PublicKeyFromBase58(c.Table)
		}
		return err
	})
	if err != nil {
		return "", err
	}
	chain := settlement.Dial(ln.RPC)
	defer chain.Close()
	acc, err := chain.RPC().GetAccountInfo(ctx, first)
	if err != nil {
		return "", err
	}
	st, err := addresslookuptable.DecodeAddressLookupTableState(acc.GetBinary())
	if err != nil {
		return "", err
	}
	in := map[solana.PublicKey]bool{}
	for _, a := range st.Addresses {
		in[a] = true
	}
	max := settlement.MaxTransfersV0(tr, false, len(domain.MemoV0(2, fmt.Sprintf("%064x", 0), 213, 213)))
	var ts []settlement.Transfer
	for _, o := range l.Operators {
		t, err := settlement.NewTransfer(domain.Recipient{OperatorID: o.ID, Wallet: o.Wallet, Amount: 1}, ln.Mint)
		if err != nil {
			return "", err
		}
		if in[t.ATA] && len(ts) <= max {
			ts = append(ts, t)
		}
	}
	if len(ts) <= max || !in[tr.Source] || !in[tr.Mint] {
		return fmt.Sprintf("not checked: the first table holds %d of the accounts needed", len(ts)), nil
	}
	bh, _, err := chain.LatestBlockhash(ctx)
	if err != nil {
		return "", err
	}
	memo := domain.MemoV0(2, fmt.Sprintf("%064x", 0), 213, 213)
	try := func(n int) (int, error) {
		tx, err := settlement.BuildTxV0(tr, ts[:n], memo, bh, settlement.Tables{first: st.Addresses}, settlement.Budget{Units: 200_000, Price: 1})
		if err != nil {
			return 0, err
		}
		if _, err := tx.Sign(func(solana.PublicKey) *solana.PrivateKey { return &ln.Treasury }); err != nil {
			return 0, err
		}
		size, _ := settlement.TxSize(tx)
		res, err := chain.Simulate(ctx, tx, true)
		if err == nil && res.Err != nil {
			err = fmt.Errorf("%v", res.Err)
		}
		return size, err
	}
	size, err := try(max)
	if err != nil {
		return fmt.Sprintf("failed: %d transfers (%d bytes) do not simulate: %v", max, size, err), nil
	}
	size1, err := try(max + 1)
	if err == nil {
		return fmt.Sprintf("failed: %d transfers (%d bytes) simulate: the limit is higher", max+1, size1), nil
	}
	msg := strings.SplitN(err.Error(), "\n", 2)[0]
	var re *jsonrpc.RPCError
	if errors.As(err, &re) {
		msg = fmt.Sprintf("%d %s", re.Code, re.Message)
	}
	return fmt.Sprintf("ok: %d transfers (%d bytes) simulate; %d (%d bytes) are refused: %s", max, size, max+1, size1, msg), nil
}

// rawSendBaseline sends n pre-signed payout transactions of 9 transfers
// to new wallets (with token account creation) one after the other, then
// polls until all are finalized: the throughput without packing, ATA
// lookups, the log or its fsyncs. They share one blockhash, which the VM
// honours for 150 landed transactions, so n ≤ 140.
func rawSendBaseline(ctx context.Context, ln *localnet.Localnet, n int) (float64, error) {
	chain := settlement.Dial(ln.RPC)
	defer chain.Close()
	bh, _, err := chain.LatestBlockhash(ctx)
	if err != nil {
		return 0, err
	}
	tr := &settlement.Treasury{Authority: ln.Treasury.PublicKey(), Source: ln.TreasuryTokenAccount, Mint: ln.Mint}
	memo := domain.Memo(1, fmt.Sprintf("%064x", 1))
	raws := make([][]byte, n)
	sigs := make([]solana.Signature, n)
	for i := range raws {
		ts := make([]settlement.Transfer, 9)
		for k := range ts {
			w := sha256.Sum256([]byte(fmt.Sprintf("baseline-%d-%d", i, k)))
			t, err := settlement.NewTransfer(domain.Recipient{OperatorID: "b", Wallet: base58.Encode(w[:]), Amount: 1}, ln.Mint)
			if err != nil {
				return 0, err
			}
			t.Create = true
			ts[k] = t
		}
		tx, err := settlement.BuildTx(tr, ts, memo, bh)
		if err != nil {
			return 0, err
		}
		if _, err := tx.Sign(func(solana.PublicKey) *solana.PrivateKey { return &ln.Treasury }); err != nil {
			return 0, err
		}
		raws[i], _ = tx.MarshalBinary()
		sigs[i] = tx.Signatures[0]
	}
	c := chain.RPC()
	start := time.Now()
	for _, raw := range raws {
		if _, err := c.SendRawTransaction(ctx, raw); err != nil {
			return 0, fmt.Errorf("sendTransaction: %v", strings.SplitN(fmt.Sprint(err), "\n", 2)[0])
		}
	}
	for {
		st, err := chain.Statuses(ctx, sigs)
		if err != nil {
			return 0, err
		}
		done := 0
		for _, s := range st {
			if s != nil && s.ConfirmationStatus == "finalized" {
				done++
			}
		}
		if done == n {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
