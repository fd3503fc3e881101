package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gagliardetto/solana-go"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/settlement"
	"github.com/epochledger/epochledger/settlement/localnet"
)

const settleUsage = `Usage: epochledger settle <plan|submit|status|import-signed|sign> [flags]

  plan --epoch N               derive the payout list and Merkle root of a closed
                               epoch and record SettlementPlanned
       [--replan]              replace the plan (an operator's new wallet) while
                               nothing of it is sent
  submit --epoch N --rpc URL --keypair FILE --mint ADDR
                               pay the plan in SPL-token transfers: each transaction
                               is recorded (PayoutSubmitted) before it is sent, then
                               confirmed or expired; safe to run again after any
                               crash or failure, and a no-op on a settled epoch
         [--dry-run]           build and simulate, record and send nothing
         [--export-unsigned DIR]  write unsigned transactions for an offline or
                               multisig signer; record nothing
  import-signed DIR --rpc URL  record and send the signed transactions of an export
  sign DIR --keypair FILE      sign an export offline with the treasury keypair
  status --epoch N             per operator: planned, unsent, in flight, confirmed

Run 'epochledger settle <sub> --help' for a subcommand's flags.
`

func runSettle(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stdout, settleUsage)
		if len(args) == 0 {
			return &silentError{code: 2}
		}
		return nil
	}
	switch args[0] {
	case "plan":
		return runSettlePlan(ctx, e, args[1:])
	case "submit":
		return runSettleSubmit(ctx, e, args[1:])
	case "status":
		return runSettleStatus(ctx, e, args[1:])
	case "import-signed":
		return runSettleImport(ctx, e, args[1:])
	case "sign":
		return runSettleSign(ctx, e, args[1:])
	}
	return usagef("settle: unknown subcommand %q (plan, submit, status, import-signed, sign)", args[0])
}

// settleStore opens the log for writing and folds it.
func settleStore(ctx context.Context, e *env, sf *storeFlags) (eventstore.Store, *projections.Ledger, error) {
	s, err := openStore(ctx, sf, false)
	if err != nil {
		return nil, nil, err
	}
	l, err := loadLedger(ctx, e, s, sf, false, false)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, l, nil
}

// logHead returns the chain hash of the log's head, the one verify prints
// for the backend (the embedded store's frame chain, PostgreSQL's stored
// content chain), that the plan records as log_head and the memo of its
// first v0 transaction anchors on chain. A backend without such a hash
// (EventStoreDB keeps none per event) gives "": the plan leaves it out.
func logHead(ctx context.Context, s eventstore.Store) (string, error) {
	hs, ok := s.(interface {
		HeadHash(context.Context) (uint64, [32]byte, error)
	})
	if !ok {
		return "", nil
	}
	pos, h, err := hs.HeadHash(ctx)
	if err != nil || pos == 0 {
		return "", err
	}
	return hex.EncodeToString(h[:]), nil
}

// settleError maps settlement refusals to a message for the command line:
// usage-like problems stay exit 1 (a refused input), with the rule named.
func settleError(what string, err error) error {
	return fmt.Errorf("%s: %w", what, err)
}

// planDoc is what `settle plan --json` prints.
type planDoc struct {
	Epoch          uint64          `json:"epoch"`
	Root           string          `json:"root"`
	Memo           string          `json:"memo"`
	Total          string          `json:"total"`
	TotalRender    string          `json:"total_render"`
	Payouts        []domain.Payout `json:"payouts"`
	CarriedForward []string        `json:"carried_forward"`
	PlannedAt      uint64          `json:"planned_at"`
	Events         int             `json:"events,omitempty"`
	AlreadyPlanned bool            `json:"already_planned"`
	// LogHead is the log's chain hash when the plan was made (the plan's
	// log_head), anchored by the memo of the first v0 transaction.
	LogHead string `json:"log_head,omitempty"`
	// Cost is, when a chain is given (--rpc or --localnet), what paying
	// the plan would take now, as settle submit --dry-run builds it;
	// CostError says why it could not be estimated (the plan stands).
	Cost      *planCost `json:"cost,omitempty"`
	CostError string    `json:"cost_error,omitempty"`
}

// planCost is settle plan's estimate of paying the plan: transactions,
// compute units and lamports (signatures, priority fees, rent of new
// token accounts and lookup-table space).
type planCost struct {
	TxVersion         string `json:"tx_version"`
	Transactions      int    `json:"transactions"`
	TableTransactions int    `json:"table_transactions"`
	NewTokenAccounts  int    `json:"new_token_accounts"`
	ComputeUnits      uint64 `json:"compute_units"`
	// ComputeUnitLimit sums the transactions' SetComputeUnitLimit (v0).
	ComputeUnitLimit uint64 `json:"compute_unit_limit"`
	// UnitsEstimated: some transactions' units come from their transfers
	// simulated as legacy (the lookup table lacks their accounts yet).
	UnitsEstimated    bool   `json:"units_estimated,omitempty"`
	PriorityFee       uint64 `json:"priority_fee_micro_lamports"`
	SignatureLamports uint64 `json:"signature_lamports"`
	PriorityLamports  uint64 `json:"priority_lamports"`
	RentLamports      uint64 `json:"rent_lamports"`
	TotalLamports     uint64 `json:"total_lamports"`
	// Shortfall: the treasury lacks this to pay (submit would refuse).
	Shortfall string `json:"shortfall,omitempty"`
}

// estimatePlan is the plan's cost on chain: the dry run of a submit.
func estimatePlan(ctx context.Context, e *env, s eventstore.Store, l *projections.Ledger, cf *chainFlags, cfg settlement.Config) (*planCost, error) {
	if err := cf.resolve(); err != nil {
		return nil, err
	}
	if err := cf.treasury("settle plan", &cfg, true); err != nil {
		return nil, err
	}
	chain := cf.dial()
	defer chain.Close()
	dr, err := settlement.NewSettler(chain, settlement.NewJournal(s, l), cfg).Estimate(ctx)
	if err != nil {
		return nil, err
	}
	c := &planCost{TxVersion: dr.TxVersion, Transactions: len(dr.Transactions), TableTransactions: len(dr.TableSteps), ComputeUnits: dr.ComputeUnits,
		PriorityFee: dr.PriorityFee, Shortfall: dr.Shortfall}
	for _, tx := range dr.Transactions {
		c.ComputeUnitLimit += uint64(tx.ComputeUnitLimit)
		c.UnitsEstimated = c.UnitsEstimated || tx.UnitsEstimated
	}
	if k := dr.Cost; k != nil {
		c.NewTokenAccounts, c.SignatureLamports, c.PriorityLamports, c.RentLamports, c.TotalLamports = k.Creates, k.SignatureLamports, k.PriorityLamports, k.RentLamports, k.TotalLamports
	}
	return c, nil
}

func runSettlePlan(ctx context.Context, e *env, args []string) error {
	var sf storeFlags
	fs := newFlagSet(e, "settle plan", "--epoch N [--json]", `
Derive the payout list of closed epoch N — every operator with a wallet and
an amount allocated through epoch N that is not yet paid, in flight or
planned, sorted by operator_id — and the Merkle root over the leaves
sha256(0x00 || epoch || operator_id || 0x00 || wallet || amount), and record
SettlementPlanned (split into parts appended atomically when it exceeds one
event's 1 MiB). Operators owed but without a wallet are carried forward to
the first plan after they set one. Planning an epoch again prints the
recorded plan; --replan replaces it with one derived from the ledger as it
is now (say an operator set a new wallet), as long as nothing of it was
sent: once a payout transaction is recorded, the plan is fixed.

With a chain (--rpc URL or --localnet DIR, and the treasury: --mint and
--keypair or --authority, which --localnet gives), it also reports what
paying the plan would take now ("cost" in --json): the transactions of
--tx-version and the lookup-table transactions before them, compute units,
and lamports for signatures, priority fees and rent (new token accounts,
table space), as settle submit --dry-run builds and simulates them;
nothing is sent. A treasury too poor is named there (shortfall), and a
chain that cannot be asked is reported (cost_error): the plan stands.`)
	sf.register(fs, e)
	epoch := fs.Uint64("epoch", 0, "closed epoch to plan (required)")
	replan := fs.Bool("replan", false, "replace the epoch's recorded plan with one derived from the ledger as it is now (an operator's new wallet), while nothing of it is sent")
	var cf chainFlags
	fs.StringVar(&cf.rpc, "rpc", e.getenv("EPOCHLEDGER_RPC"), "Solana JSON-RPC URL, to estimate the plan's cost (env EPOCHLEDGER_RPC)")
	fs.StringVar(&cf.localnet, "localnet", e.getenv("EPOCHLEDGER_LOCALNET"), "take --rpc, --mint and --keypair from a localnet state DIR, to estimate the plan's cost (env EPOCHLEDGER_LOCALNET)")
	fs.StringVar(&cf.keypair, "keypair", e.getenv("EPOCHLEDGER_KEYPAIR"), "treasury authority keypair, for the estimate (env EPOCHLEDGER_KEYPAIR)")
	fs.StringVar(&cf.mint, "mint", e.getenv("EPOCHLEDGER_MINT"), "RENDER SPL mint address, for the estimate (env EPOCHLEDGER_MINT)")
	fs.StringVar(&cf.authority, "authority", "", "treasury authority address, for the estimate without the keypair")
	fs.StringVar(&cf.source, "token-account", "", "treasury token account (default: the authority's associated token account of the mint)")
	var bf budgetFlags
	bf.register(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := epochArgs("settle plan", pos, *epoch); err != nil {
		return err
	}
	costCfg := settlement.Config{Epoch: *epoch, Log: settleLogger(e, true)}
	if err := bf.check("settle plan", &costCfg); err != nil {
		return err
	}
	s, l, err := settleStore(ctx, e, &sf)
	if err != nil {
		return err
	}
	defer s.Close()
	doc := planDoc{Epoch: *epoch}
	if ep, err := settlement.ClosedEpoch(l, *epoch); err != nil {
		return settleError("settle plan", err)
	} else if st := ep.Settlement; st != nil && !*replan {
		doc.Root, doc.Total, doc.Payouts, doc.PlannedAt, doc.AlreadyPlanned = st.Root, st.Total.String(), st.Payouts, st.PlannedAt, true
		doc.TotalRender, doc.LogHead = st.Total.RenderString(), st.LogHead
	} else {
		// The heap is the ledger; at the default GOGC a plan of a million
		// payouts (about 600 MB allocated) sets off a collection that
		// re-marks all of it. Planning is bounded and short: collect later.
		defer debug.SetGCPercent(debug.SetGCPercent(400))
		derive := settlement.Derive
		if *replan {
			derive = settlement.Replan
		}
		p, err := derive(l, *epoch)
		if err != nil {
			return settleError("settle plan", err)
		}
		if p.LogHead, err = logHead(ctx, s); err != nil {
			return settleError("settle plan", err)
		}
		j := settlement.NewJournal(s, l)
		at, err := settlement.Record(ctx, j, p)
		if err != nil {
			return settleError("settle plan", err)
		}
		doc.Root, doc.Total, doc.TotalRender, doc.Payouts, doc.CarriedForward, doc.PlannedAt = p.RootHex(), p.Total.String(), p.Total.RenderString(), p.Payouts, p.Carried, at
		doc.Events, doc.LogHead = len(p.Events()), p.LogHead
		settleCrashHook(e)("after-plan", 1)
	}
	doc.Memo = domain.Memo(doc.Epoch, doc.Root)
	if cf.rpc != "" || cf.localnet != "" {
		if doc.Cost, err = estimatePlan(ctx, e, s, l, &cf, costCfg); err != nil {
			doc.CostError = err.Error()
			fmt.Fprintf(e.stderr, "warning: settle plan: the plan is recorded, its cost could not be estimated: %v\n", err)
		}
	}
	if doc.Payouts == nil {
		doc.Payouts = []domain.Payout{}
	}
	if doc.CarriedForward == nil {
		doc.CarriedForward = []string{}
	}
	if sf.json {
		return writeJSON(e.stdout, doc)
	}
	if doc.AlreadyPlanned {
		fmt.Fprintf(e.stdout, "epoch %d was already planned at position %d\n", doc.Epoch, doc.PlannedAt)
	} else {
		fmt.Fprintf(e.stdout, "epoch %d planned at position %d\n", doc.Epoch, doc.PlannedAt)
	}
	fmt.Fprintf(e.stdout, "payouts %d, total %s RENDER (%s base units)\nroot    %s\nmemo    %s\n", len(doc.Payouts), doc.TotalRender, doc.Total, doc.Root, doc.Memo)
	if doc.LogHead != "" {
		fmt.Fprintf(e.stdout, "log head %s (anchored in the memo of the first v0 transaction)\n", doc.LogHead)
	}
	if len(doc.CarriedForward) > 0 {
		fmt.Fprintf(e.stdout, "carried forward (owed, no wallet): %s\n", strings.Join(doc.CarriedForward, ", "))
	}
	if c := doc.Cost; c != nil {
		est := ""
		if c.UnitsEstimated {
			est = " (some from the transfers simulated as legacy: the lookup table lacks their accounts yet)"
		}
		fmt.Fprintf(e.stdout, "cost    %d %s transactions after %d lookup-table transactions; %d compute units%s, limit %d; %d lamports (signatures %d, priority %d at %d micro-lamports per unit, rent of %d new token accounts and table space %d)\n",
			c.Transactions, c.TxVersion, c.TableTransactions, c.ComputeUnits, est, c.ComputeUnitLimit, c.TotalLamports, c.SignatureLamports, c.PriorityLamports, c.PriorityFee, c.NewTokenAccounts, c.RentLamports)
		if c.Shortfall != "" {
			fmt.Fprintf(e.stdout, "warning: %s\n", c.Shortfall)
		}
	}
	const maxRows = 100
	if len(doc.Payouts) == 0 {
		return nil
	}
	fmt.Fprintln(e.stdout)
	t := newTable(e.stdout, "OPERATOR", "WALLET", "AMOUNT", "RENDER", "EPOCHS")
	for i, p := range doc.Payouts {
		if i == maxRows {
			break
		}
		t.row(p.OperatorID, p.Wallet, p.Amount.String(), p.Amount.RenderString(), epochList(p.Epochs))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(doc.Payouts) > maxRows {
		fmt.Fprintf(e.stdout, "… %d more (--json lists all)\n", len(doc.Payouts)-maxRows)
	}
	return nil
}

func epochList(eps []uint64) string {
	if len(eps) == 0 {
		return "-"
	}
	s := make([]string, len(eps))
	for i, n := range eps {
		s[i] = strconv.FormatUint(n, 10)
	}
	return strings.Join(s, ",")
}

// chainFlags are the flags of commands that talk to Solana.
type chainFlags struct {
	rpc       string
	keypair   string
	mint      string
	localnet  string
	authority string
	source    string
	// localnetSource is the treasury token account of --localnet's state,
	// set by resolve (verify --anchors reads the treasury's history there).
	localnetSource string
	batch          int
	poll           time.Duration
	rebroadcast    time.Duration
	sendTimeout    time.Duration
	maxWait        time.Duration
}

func (c *chainFlags) register(fs *flag.FlagSet, e *env, withKey bool) {
	fs.StringVar(&c.rpc, "rpc", e.getenv("EPOCHLEDGER_RPC"), "Solana JSON-RPC URL (env EPOCHLEDGER_RPC)")
	fs.StringVar(&c.localnet, "localnet", e.getenv("EPOCHLEDGER_LOCALNET"), "take --rpc, --mint and --keypair from a localnet state DIR (its localnet.json) where not given (env EPOCHLEDGER_LOCALNET)")
	if withKey {
		fs.StringVar(&c.keypair, "keypair", e.getenv("EPOCHLEDGER_KEYPAIR"), "treasury authority keypair, Solana CLI JSON format (env EPOCHLEDGER_KEYPAIR)")
		fs.StringVar(&c.mint, "mint", e.getenv("EPOCHLEDGER_MINT"), "RENDER SPL mint address, 8 decimals (env EPOCHLEDGER_MINT)")
		fs.StringVar(&c.authority, "authority", "", "treasury authority address, for --export-unsigned without the keypair")
		fs.StringVar(&c.source, "token-account", "", "treasury token account (default: the authority's associated token account of the mint)")
		fs.IntVar(&c.batch, "batch", 32, "transactions recorded in one append and sent before the next")
	}
	fs.DurationVar(&c.poll, "poll", 400*time.Millisecond, "pause between signature status polls")
	fs.DurationVar(&c.rebroadcast, "rebroadcast", 2*time.Second, "re-send a transaction that has not landed this often while its blockhash is valid")
	fs.DurationVar(&c.sendTimeout, "send-timeout", 10*time.Second, "timeout of one sendTransaction (no answer: the transaction may have landed, and is polled)")
	fs.DurationVar(&c.maxWait, "max-wait", 3*time.Minute, "stop waiting for in-flight transactions after this long (they stay recorded for the next run)")
}

func (c *chainFlags) resolve() error {
	if c.localnet != "" {
		s, err := localnet.ReadState(c.localnet)
		if err != nil {
			return fmt.Errorf("--localnet: %w", err)
		}
		if c.rpc == "" {
			c.rpc = s.RPC
		}
		if c.mint == "" {
			c.mint = s.Mint
		}
		if c.keypair == "" {
			c.keypair = s.TreasuryKeypair
		}
		c.localnetSource = s.TreasuryTokenAccount
	}
	if c.rpc == "" {
		return usagef("--rpc URL is required (or --localnet DIR, or EPOCHLEDGER_RPC)")
	}
	return nil
}

// treasury sets cfg's mint, treasury token account and signer from the
// flags; withAuthority accepts --authority ADDR instead of the keypair
// (for what signs nothing).
func (c *chainFlags) treasury(what string, cfg *settlement.Config, withAuthority bool) error {
	var err error
	if c.mint == "" {
		return usagef("%s: --mint ADDR is required (or EPOCHLEDGER_MINT)", what)
	}
	if cfg.Mint, err = solana.PublicKeyFromBase58(c.mint); err != nil {
		return usagef("%s: --mint %q: %v", what, c.mint, err)
	}
	if c.source != "" {
		if cfg.Source, err = solana.PublicKeyFromBase58(c.source); err != nil {
			return usagef("%s: --token-account %q: %v", what, c.source, err)
		}
	}
	switch {
	case c.keypair != "":
		if cfg.Signer, err = settlement.ReadKeypair(c.keypair); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	case withAuthority && c.authority != "":
		if cfg.Authority, err = solana.PublicKeyFromBase58(c.authority); err != nil {
			return usagef("%s: --authority %q: %v", what, c.authority, err)
		}
	case withAuthority && what == "settle submit":
		return usagef("settle submit: --export-unsigned needs --authority ADDR or --keypair FILE")
	case withAuthority:
		return usagef("%s: --authority ADDR or --keypair FILE is required", what)
	default:
		return usagef("%s: --keypair FILE is required (or EPOCHLEDGER_KEYPAIR)", what)
	}
	return nil
}

// budgetFlags are the v0 compute-budget flags of submit and plan.
type budgetFlags struct {
	txVersion     *string
	priorityFee   *int64
	feePercentile *int
	maxFee        *uint64
}

func (b *budgetFlags) register(fs *flag.FlagSet) {
	b.txVersion = fs.String("tx-version", settlement.TxV0, "payout transactions: v0 (the treasury's address lookup table and a compute budget) or legacy (v1's transactions, unchanged); --dry-run and --export-unsigned build the same")
	b.priorityFee = fs.Int64("priority-fee", -1, "compute-unit price in micro-lamports per unit (v0); default: the --fee-percentile of getRecentPrioritizationFees over the treasury's accounts")
	b.feePercentile = fs.Int("fee-percentile", 50, "percentile (1-100) of the recent prioritization fees used as the compute-unit price (v0)")
	b.maxFee = fs.Uint64("max-fee-lamports", 0, "cap on the priority fees of one round of payout transactions, in lamports; the price is lowered to fit (v0; 0: no cap)")
}

// check refuses bad values (exit 2) and sets them in cfg.
func (b *budgetFlags) check(what string, cfg *settlement.Config) error {
	if *b.txVersion != settlement.TxV0 && *b.txVersion != settlement.TxLegacy {
		return usagef("%s: --tx-version %q: want %s or %s", what, *b.txVersion, settlement.TxV0, settlement.TxLegacy)
	}
	if *b.feePercentile < 1 || *b.feePercentile > 100 {
		return usagef("%s: --fee-percentile %d: want 1 to 100", what, *b.feePercentile)
	}
	if *b.priorityFee < -1 {
		return usagef("%s: --priority-fee %d: want a price ≥ 0 (micro-lamports per compute unit)", what, *b.priorityFee)
	}
	cfg.TxVersion, cfg.FeePercentile, cfg.MaxFeeLamports = *b.txVersion, *b.feePercentile, *b.maxFee
	if *b.priorityFee >= 0 {
		cfg.PriorityFee, cfg.FixedPriorityFee = uint64(*b.priorityFee), true
	}
	return nil
}

func (c *chainFlags) dial() *settlement.Chain {
	ch := settlement.Dial(c.rpc)
	ch.SendTimeout = c.sendTimeout
	return ch
}

// settleCrashHook returns the settlement hook of EPOCHLEDGER_SETTLE_CRASH_AT
// (for crash tests): "after-append:2" kills this process with SIGKILL at
// the second append of payout transactions, before they are sent; points
// are after-plan, after-append, after-send, after-confirm, and for v0
// table-after-record and table-after-send; several may be given,
// comma-separated.
func settleCrashHook(e *env) func(point string, n int) {
	spec := e.getenv("EPOCHLEDGER_SETTLE_CRASH_AT")
	if spec == "" {
		return func(string, int) {}
	}
	at := map[string]int{}
	for _, p := range strings.Split(spec, ",") {
		name, num, _ := strings.Cut(strings.TrimSpace(p), ":")
		n, err := strconv.Atoi(num)
		if err != nil {
			n = 1
		}
		at[name] = n
	}
	return func(point string, n int) {
		if at[point] == n {
			// SIGKILL (TerminateProcess on Windows): no deferred work runs.
			if self, err := os.FindProcess(os.Getpid()); err == nil {
				_ = self.Kill()
			}
			select {} // never returns
		}
	}
}

func settleLogger(e *env, quiet bool) *slog.Logger {
	level := slog.LevelInfo
	if quiet {
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
}

func runSettleSubmit(ctx context.Context, e *env, args []string) error {
	var sf storeFlags
	var cf chainFlags
	fs := newFlagSet(e, "settle submit", "--epoch N --rpc URL --keypair FILE --mint ADDR [--dry-run | --export-unsigned DIR]", `
Pay epoch N's plan on Solana. By default (--tx-version v0) transfers are
packed into as few version-0 transactions as fit 1,232 bytes, 64 account
locks and the 64-entry instruction trace (10 recipients when their token
account must be created, 47 otherwise): SetComputeUnitLimit (a simulation's
units plus a margin) and SetComputeUnitPrice (--priority-fee, or the
--fee-percentile of the recent prioritization fees, capped by
--max-fee-lamports), then per recipient an idempotent create-associated-
token-account where needed and SPL TransferChecked (8 decimals) from the
treasury's token account, then the memo epochledger:<epoch>:<root>:<i>/<n>.
Token accounts are loaded from the treasury's address lookup table: one per
treasury, created on first use, extended as new token accounts appear
(another when 256 fill it), reused every week; each creation and extension
is recorded (LookupTableCreated, LookupTableExtended, with the signed bytes)
before it is sent, resumed after a crash, and used only once active.
--tx-version legacy packs v1's legacy transactions (9 with creation, 18
without, memo epochledger:<epoch>:<root>), exactly as before.

--dry-run and --export-unsigned build the same transactions as submit, of
--tx-version. For v0 against the lookup table as it will be once the
token accounts missing from it are added: the dry run lists those table
transactions (table_steps) and counts their signatures and rent in its
cost, with each payout's compute budget and priority fee; a transaction
whose accounts are not in the table yet cannot be simulated as it is, so
its units are those of the same transfers simulated in legacy transactions
(units_estimated). The export writes the table steps, unsigned, with the
payouts; settle sign checks and signs them all, and import-signed records
and sends the steps first (like submit's), then the payouts.

Each transaction is signed and recorded (PayoutSubmitted, with its signed
bytes) before it is sent; it is then polled (getSignatureStatuses) until
finalized (PayoutConfirmed), or until the block height passes its last valid
height without the signature landing (PayoutExpired) — only then are its
recipients packed again. A crash, an RPC failure or a second run never pays
anyone twice: run submit again and it resolves what is in flight first
(re-sending the recorded bytes while their blockhash is valid). On a settled
epoch it sends nothing.

Refused before anything is recorded: an unknown, open or unplanned epoch; a
keypair that does not own the treasury token account; a mint without 8
decimals; an RPC that does not answer; a treasury too poor (the shortfall
in tokens or lamports is named).

Nothing is paid, nor left unpaid, on the log's word alone (settlement
events can be imported): first every recorded confirmation is held against
the chain (finalized, and its transaction carries the recorded transfers),
and every expired transaction about to be re-planned must be unknown to the
chain and unable to land; where they disagree the chain's fact is recorded
(the report's "corrected"). A recipient whose token account received an
unrecorded transfer under the plan's memo is not paid again (exit 1).
An operator whose wallet changed after the plan is warned of: the plan pays
the planned wallet; 'settle plan --replan' replaces a plan nothing of which
is sent.`)
	sf.register(fs, e)
	cf.register(fs, e, true)
	epoch := fs.Uint64("epoch", 0, "epoch to pay (required; planned with settle plan)")
	dryRun := fs.Bool("dry-run", false, "build and simulate the transactions; record and send nothing")
	export := fs.String("export-unsigned", "", "write unsigned transactions and a manifest to `DIR` for an offline or multisig signer; record and send nothing")
	var bf budgetFlags
	bf.register(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := epochArgs("settle submit", pos, *epoch); err != nil {
		return err
	}
	cfg := settlement.Config{Epoch: *epoch, Batch: cf.batch, Poll: cf.poll, Rebroadcast: cf.rebroadcast, MaxWait: cf.maxWait,
		Log: settleLogger(e, sf.json), Hook: settleCrashHook(e)}
	if err := bf.check("settle submit", &cfg); err != nil {
		return err
	}
	if *dryRun && *export != "" {
		return usagef("settle submit: --dry-run and --export-unsigned exclude each other")
	}
	if err := cf.resolve(); err != nil {
		return err
	}
	if err := cf.treasury("settle submit", &cfg, *export != ""); err != nil {
		return err
	}
	s, l, err := settleStore(ctx, e, &sf)
	if err != nil {
		return err
	}
	defer s.Close()
	chain := cf.dial()
	defer chain.Close()
	st := settlement.NewSettler(chain, settlement.NewJournal(s, l), cfg)

	switch {
	case *dryRun:
		dr, err := st.DryRun(ctx)
		if err != nil {
			return settleError("settle submit --dry-run", err)
		}
		if sf.json {
			if err := writeJSON(e.stdout, dr); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(e.stdout, "dry run of epoch %d (nothing recorded or sent): %d recipients, %s RENDER in %d %s transactions; %d recorded earlier still in flight\nmemo %s\n",
				dr.Epoch, dr.Recipients, renderText(dr.Total), len(dr.Transactions), dr.TxVersion, dr.InFlight, dr.Memo)
			if len(dr.LookupTables) > 0 {
				fmt.Fprintf(e.stdout, "lookup table(s) %s; %d lookup-table transactions first; compute-unit price %d micro-lamports\n", strings.Join(dr.LookupTables, ", "), len(dr.TableSteps), dr.PriorityFee)
			}
			if c := dr.Cost; c != nil {
				fmt.Fprintf(e.stdout, "cost %d lamports (signatures %d, priority %d, rent of %d new token accounts and table space %d); %d compute units\n",
					c.TotalLamports, c.SignatureLamports, c.PriorityLamports, c.Creates, c.RentLamports, dr.ComputeUnits)
			}
			fmt.Fprintln(e.stdout)
			t := newTable(e.stdout, "TX", "RECIPIENTS", "NEW_ACCOUNTS", "BYTES", "COMPUTE_UNITS", "CU_LIMIT", "PRIORITY_LAMPORTS", "RESULT")
			for i, tx := range dr.Transactions {
				res := "ok"
				if tx.Err != nil {
					b, _ := json.Marshal(tx.Err)
					res = "fails: " + string(b)
				}
				units := strconv.FormatUint(tx.Units, 10)
				if tx.UnitsEstimated {
					units += "*"
				}
				limit, prio := "-", "-"
				if tx.Version == settlement.TxV0 {
					limit, prio = strconv.FormatUint(uint64(tx.ComputeUnitLimit), 10), strconv.FormatUint(tx.PriorityLamports, 10)
				}
				t.row(strconv.Itoa(i+1), strconv.Itoa(tx.Recipients), strconv.Itoa(tx.Creates), strconv.Itoa(tx.Bytes), units, limit, prio, res)
			}
			if err := t.flush(); err != nil {
				return err
			}
			for _, tx := range dr.Transactions {
				if tx.UnitsEstimated {
					fmt.Fprintln(e.stdout, "* the lookup table does not hold these token accounts yet, so the chain cannot simulate the v0 transaction: its units are the same transfers' simulated in legacy transactions")
					break
				}
			}
		}
		if dr.Failures > 0 {
			fmt.Fprintf(e.stderr, "epochledger: settle submit --dry-run: %d of %d transactions fail in simulation\n", dr.Failures, len(dr.Transactions))
			return &silentError{code: 1}
		}
		return nil
	case *export != "":
		m, err := st.Export(ctx, *export)
		if err != nil {
			return settleError("settle submit --export-unsigned", err)
		}
		if sf.json {
			return writeJSON(e.stdout, m)
		}
		fmt.Fprintf(e.stdout, "exported %d unsigned transactions of epoch %d to %s (nothing recorded or sent)\nsigner %s; blockhash %s valid through block height %d\n",
			len(m.Transactions), m.Epoch, *export, m.Authority, m.Blockhash, m.LastValidBlockHeight)
		if m.TxVersion == settlement.TxV0 {
			fmt.Fprintf(e.stdout, "v0 transactions loading lookup table(s) %s", lookupTableNames(m.Tables))
			if len(m.TableSteps) > 0 {
				fmt.Fprintf(e.stdout, ", after %d lookup-table steps (in the export too: import-signed sends them first)", len(m.TableSteps))
			}
			fmt.Fprintln(e.stdout)
		}
		fmt.Fprintf(e.stdout, "sign them (epochledger settle sign %s --keypair FILE, or any signer writing the signed_file of the manifest), then: epochledger settle import-signed %s --rpc URL\n", *export, *export)
		return nil
	}
	rep, err := st.Submit(ctx)
	return printSettleReport(e, sf.json, "settle submit", rep, err)
}

func lookupTableNames(ts []settlement.ManifestTable) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Table
	}
	return strings.Join(names, ", ")
}

func printSettleReport(e *env, asJSON bool, what string, rep *settlement.Report, err error) error {
	if rep != nil {
		if asJSON {
			if werr := writeJSON(e.stdout, rep); werr != nil {
				return werr
			}
		} else if rep.AlreadySettled {
			fmt.Fprintf(e.stdout, "epoch %d is already settled: every payout is confirmed; nothing sent\n", rep.Epoch)
		} else {
			state := "settled: every payout is confirmed"
			if !rep.Settled {
				state = "not settled yet"
			}
			fmt.Fprintf(e.stdout, "epoch %d: %d new transactions, %d re-sends; %d confirmed (%s RENDER), %d expired; %s\n",
				rep.Epoch, rep.Transactions, rep.Resent, rep.Confirmed, rep.Paid.RenderString(), rep.Expired, state)
			if rep.TxVersion == settlement.TxV0 && rep.Transactions > 0 {
				fmt.Fprintf(e.stdout, "v0 with lookup table(s) %s (%d table transactions this run); %d compute units, %d lamports of priority fees\n",
					strings.Join(rep.LookupTables, ", "), rep.TableTransactions, rep.ComputeUnits, rep.PriorityLamports)
			}
		}
	}
	if err != nil {
		return settleError(what, err)
	}
	return nil
}

func runSettleImport(ctx context.Context, e *env, args []string) error {
	var sf storeFlags
	var cf chainFlags
	fs := newFlagSet(e, "settle import-signed", "DIR --rpc URL", `
Record and send the transactions of an export (settle submit
--export-unsigned DIR) once signed: each signed file must hold exactly the
exported message, signed by the treasury authority, paying exactly the
recipients of the manifest, who must still be planned and unsent. Each is
recorded (PayoutSubmitted) before it is sent, then confirmed or expired like
submit. Running it again only resolves what is in flight. Recipients of
expired transactions need a new export.`)
	sf.register(fs, e)
	cf.register(fs, e, false)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("settle import-signed: want exactly one DIR")
	}
	if err := cf.resolve(); err != nil {
		return err
	}
	s, l, err := settleStore(ctx, e, &sf)
	if err != nil {
		return err
	}
	defer s.Close()
	chain := cf.dial()
	defer chain.Close()
	st := settlement.NewSettler(chain, settlement.NewJournal(s, l), settlement.Config{Poll: cf.poll, Rebroadcast: cf.rebroadcast, MaxWait: cf.maxWait,
		Log: settleLogger(e, sf.json), Hook: settleCrashHook(e)})
	rep, err := st.ImportSigned(ctx, pos[0])
	return printSettleReport(e, sf.json, "settle import-signed", rep, err)
}

func runSettleSign(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "settle sign", "DIR --keypair FILE", `
Sign every transaction of an export with the treasury keypair (offline: no
log, no RPC), after checking each against the manifest: the exported
message, only the plan's transfers and memo. Writes the manifest's signed
files next to the unsigned ones.`)
	keypair := fs.String("keypair", e.getenv("EPOCHLEDGER_KEYPAIR"), "treasury authority keypair, Solana CLI JSON format (env EPOCHLEDGER_KEYPAIR)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *keypair == "" {
		return usagef("settle sign: want DIR and --keypair FILE")
	}
	key, err := settlement.ReadKeypair(*keypair)
	if err != nil {
		return fmt.Errorf("settle sign: %w", err)
	}
	n, err := settlement.SignExport(pos[0], key)
	if err != nil {
		return settleError("settle sign", err)
	}
	m, err := settlement.ReadManifest(pos[0])
	if err != nil {
		return settleError("settle sign", err)
	}
	if steps := len(m.TableSteps); steps > 0 {
		fmt.Fprintf(e.stdout, "signed %d transactions and %d lookup-table steps in %s\n", n-steps, steps, pos[0])
		return nil
	}
	fmt.Fprintf(e.stdout, "signed %d transactions in %s\n", n, pos[0])
	return nil
}

// statusDoc is what `settle status --json` prints.
type statusDoc struct {
	Epoch        uint64           `json:"epoch"`
	Root         string           `json:"root"`
	Memo         string           `json:"memo"`
	State        string           `json:"state"` // planned, in_flight, confirmed
	PlannedAt    uint64           `json:"planned_at"`
	Total        string           `json:"total"`
	Unsent       string           `json:"unsent"`
	InFlight     string           `json:"in_flight"`
	Confirmed    string           `json:"confirmed"`
	Operators    []statusOperator `json:"operators"`
	Transactions []statusTx       `json:"transactions"`
	// WalletChanges: planned operators whose wallet changed since the plan.
	WalletChanges []settlement.WalletChange `json:"wallet_changes,omitempty"`
}

type statusOperator struct {
	OperatorID string   `json:"operator_id"`
	Wallet     string   `json:"wallet"`
	Planned    string   `json:"planned"`
	Unsent     string   `json:"unsent"`
	InFlight   string   `json:"in_flight"`
	Confirmed  string   `json:"confirmed"`
	Signatures []string `json:"signatures"`
}

type statusTx struct {
	Signature            string `json:"signature"`
	State                string `json:"state"`
	Recipients           int    `json:"recipients"`
	Amount               string `json:"amount"`
	LastValidBlockHeight uint64 `json:"last_valid_block_height"`
	Slot                 uint64 `json:"slot,omitempty"`
	Position             uint64 `json:"position"`
}

func runSettleStatus(ctx context.Context, e *env, args []string) error {
	var sf storeFlags
	fs := newFlagSet(e, "settle status", "--epoch N [--operator ID] [--json]", `
Print epoch N's settlement from the log: per operator the planned amount,
what is not yet sent, in flight (recorded, not finalized) and confirmed,
with the transaction signatures; then every transaction and its state.
Reads the log only (no RPC).`)
	sf.register(fs, e)
	epoch := fs.Uint64("epoch", 0, "epoch (required)")
	operator := fs.String("operator", "", "only this operator")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := epochArgs("settle status", pos, *epoch); err != nil {
		return err
	}
	l, err := readLedger(ctx, e, &sf)
	if err != nil {
		return err
	}
	ep, err := settlement.ClosedEpoch(l, *epoch)
	if err != nil {
		return settleError("settle status", err)
	}
	st := ep.Settlement
	if st == nil {
		return settleError("settle status", fmt.Errorf("%w: epoch %d has no settlement plan yet (settle plan --epoch %d)", settlement.ErrNotPlanned, *epoch, *epoch))
	}
	doc := statusDoc{Epoch: st.Epoch, Root: st.Root, Memo: domain.Memo(st.Epoch, st.Root), PlannedAt: st.PlannedAt, Total: st.Total.String(), Operators: []statusOperator{}, Transactions: []statusTx{}}
	var unsent, inflight, confirmed domain.BaseUnits
	for _, p := range st.Payouts {
		ps := st.Operator(p.OperatorID)
		unsent += ps.Reserved
		inflight += ps.InFlight
		confirmed += ps.Confirmed
		if *operator != "" && p.OperatorID != *operator {
			continue
		}
		sigs := ps.Signatures
		if sigs == nil {
			sigs = []string{}
		}
		doc.Operators = append(doc.Operators, statusOperator{OperatorID: p.OperatorID, Wallet: p.Wallet, Planned: p.Amount.String(), Unsent: ps.Reserved.String(),
			InFlight: ps.InFlight.String(), Confirmed: ps.Confirmed.String(), Signatures: sigs})
	}
	if *operator != "" && len(doc.Operators) == 0 {
		return fmt.Errorf("settle status: operator %q is not in epoch %d's plan", *operator, *epoch)
	}
	doc.Unsent, doc.InFlight, doc.Confirmed = unsent.String(), inflight.String(), confirmed.String()
	doc.State = st.State() // the one rule replay and /v1/epochs print too
	doc.WalletChanges = settlement.WalletChanges(l, st)
	for _, c := range doc.WalletChanges {
		fmt.Fprintf(e.stderr, "warning: %s\n", c.Advice)
	}
	for _, tx := range st.Txs {
		if *operator != "" && !containsRecipient(tx.Recipients, *operator) {
			continue
		}
		var amt domain.BaseUnits
		for _, r := range tx.Recipients {
			amt += r.Amount
		}
		doc.Transactions = append(doc.Transactions, statusTx{Signature: tx.Signature, State: tx.State, Recipients: len(tx.Recipients), Amount: amt.String(),
			LastValidBlockHeight: tx.LastValidBlockHeight, Slot: tx.Slot, Position: tx.SubmittedAt})
	}
	if sf.json {
		return writeJSON(e.stdout, doc)
	}
	fmt.Fprintf(e.stdout, "epoch %d settlement: %s (planned at position %d)\nroot %s\ntotal %s, confirmed %s, in flight %s, unsent %s base units\n\n",
		doc.Epoch, doc.State, doc.PlannedAt, doc.Root, doc.Total, doc.Confirmed, doc.InFlight, doc.Unsent)
	t := newTable(e.stdout, "OPERATOR", "PLANNED", "UNSENT", "IN_FLIGHT", "CONFIRMED", "SIGNATURES")
	for _, o := range doc.Operators {
		sigs := strings.Join(o.Signatures, ",")
		if sigs == "" {
			sigs = "-"
		}
		t.row(o.OperatorID, o.Planned, o.Unsent, o.InFlight, o.Confirmed, sigs)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(doc.Transactions) > 0 {
		fmt.Fprintln(e.stdout)
		sort.SliceStable(doc.Transactions, func(i, j int) bool { return doc.Transactions[i].Position < doc.Transactions[j].Position })
		t = newTable(e.stdout, "SIGNATURE", "STATE", "RECIPIENTS", "AMOUNT", "SLOT")
		for _, tx := range doc.Transactions {
			slot := "-"
			if tx.Slot != 0 {
				slot = strconv.FormatUint(tx.Slot, 10)
			}
			t.row(tx.Signature, tx.State, strconv.Itoa(tx.Recipients), tx.Amount, slot)
		}
		return t.flush()
	}
	return nil
}

func containsRecipient(rs []domain.Recipient, id string) bool {
	for _, r := range rs {
		if r.OperatorID == id {
			return true
		}
	}
	return false
}
