package settlement

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/projections"
)

// More refusals of submit, matched with errors.Is.
var (
	ErrWrongDecimals = errors.New("settlement: mint has the wrong decimals")
	ErrNotTreasury   = errors.New("settlement: keypair is not the treasury authority")
	ErrInsufficient  = errors.New("settlement: treasury balance too low")
	ErrStillInFlight = errors.New("settlement: transactions still in flight")
	ErrFailedOnChain = errors.New("settlement: payout transaction failed")
)

// Config configures a Settler.
type Config struct {
	Epoch uint64
	Mint  solana.PublicKey
	// Signer signs payout transactions. Export needs only Authority.
	Signer solana.PrivateKey
	// Authority owns the treasury token account and pays the fees; it
	// defaults to Signer's public key.
	Authority solana.PublicKey
	// Source is the treasury token account; default the authority's
	// associated token account of Mint.
	Source solana.PublicKey
	// Batch is how many transactions are recorded in one append, then
	// sent, before the next batch (default 32).
	Batch int
	// Poll is the pause between signature status polls (default 400 ms).
	Poll time.Duration
	// Rebroadcast is how often a transaction that has not landed is sent
	// again, the same bytes, while its blockhash is valid (default 2 s).
	Rebroadcast time.Duration
	// MaxWait bounds the wait for in-flight transactions to be finalized
	// or expire (default 3 minutes); what is left stays in flight, recorded,
	// for the next run.
	MaxWait time.Duration
	// MaxRounds bounds how often expired recipients are packed again in
	// one run (default 8).
	MaxRounds int
	Log       *slog.Logger
	// TxVersion is TxV0 (the default: lookup tables and a compute budget)
	// or TxLegacy (v1's transactions, unchanged).
	TxVersion string
	// PriorityFee fixes the compute-unit price (micro-lamports per unit)
	// when FixedPriorityFee is set; otherwise the price is the
	// FeePercentile-th percentile (default 50) of getRecentPrioritizationFees
	// over the treasury's writable accounts.
	PriorityFee      uint64
	FixedPriorityFee bool
	FeePercentile    int
	// MaxFeeLamports caps the priority fees of one round of payout
	// transactions (0: no cap): the price is lowered until they fit.
	MaxFeeLamports uint64
	// Hook, if set, is called at the protocol's crash points with a count
	// per point: "after-plan", "after-append" (a batch of PayoutSubmitted
	// is stored, none of it sent yet), "after-send" (one transaction sent,
	// not yet confirmed), "after-confirm" (confirmations or expirations
	// stored), and for v0 "table-after-record" (a table creation or
	// extension recorded, not sent) and "table-after-send". Tests kill the
	// process there.
	Hook func(point string, n int)
}

func (c *Config) defaults() {
	if c.Batch <= 0 {
		c.Batch = 32
	}
	if c.Poll <= 0 {
		c.Poll = 400 * time.Millisecond
	}
	if c.Rebroadcast <= 0 {
		c.Rebroadcast = 2 * time.Second
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 3 * time.Minute
	}
	if c.MaxRounds <= 0 {
		c.MaxRounds = 8
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.TxVersion == "" {
		c.TxVersion = TxV0
	}
	if c.FeePercentile <= 0 || c.FeePercentile > 100 {
		c.FeePercentile = 50
	}
	if c.Authority.IsZero() && len(c.Signer) == 64 {
		c.Authority = c.Signer.PublicKey()
	}
}

// Settler runs an epoch's settlement against a chain, recording every
// step in the log through a Journal.
//
// The protocol, which makes paying twice impossible:
//
//  1. A transaction is signed, and its PayoutSubmitted (signature,
//     recipients, blockhash, last valid block height, the signed bytes)
//     is appended before the transaction is sent. The ledger refuses a
//     PayoutSubmitted for an amount that is not planned and unsent, so no
//     amount is ever in two live transactions.
//  2. A signature can land at most once, and only while the block height
//     is at most its blockhash's last valid height. So an in-flight
//     transaction is resolved only by the chain: PayoutConfirmed once its
//     status is finalized without error; PayoutExpired once the finalized
//     block height has passed its last valid height and a status query
//     made after that observation (searching the whole history) still
//     does not know the signature — from then on it can never land.
//     Until then the same signed bytes are re-sent now and then (a dropped
//     send costs nothing: a duplicate is refused by the chain).
//  3. Only recipients of expired transactions are packed again, with a
//     new blockhash.
//
// A crash at any point leaves transactions recorded and in flight, or
// not recorded and not sent; the next Submit first resolves every
// in-flight transaction of the epoch by rule 2 (re-sending the recorded
// bytes while their blockhash is valid), then continues.
type Settler struct {
	cfg      Config
	chain    *Chain
	j        *Journal
	treasury Treasury
	memo     string
	logHead  string // the plan's log_head, anchored in the memo of 1/n
	counts   map[string]int
	ataKnown map[solana.PublicKey]bool
	wallets  map[string]Transfer // wallet → owner and ATA
	report   *Report
	feeLeft  uint64 // of MaxFeeLamports, in the current round
	estimate bool   // a dry run for Estimate: a shortfall is reported, not refused
}

// NewSettler returns a settler of cfg.Epoch.
func NewSettler(chain *Chain, j *Journal, cfg Config) *Settler {
	cfg.defaults()
	return &Settler{cfg: cfg, chain: chain, j: j, counts: map[string]int{}, ataKnown: map[solana.PublicKey]bool{}, wallets: map[string]Transfer{}}
}

func (s *Settler) hook(point string) {
	s.counts[point]++
	if s.cfg.Hook != nil {
		s.cfg.Hook(point, s.counts[point])
	}
}

// Report is what one Submit or ImportSigned did.
type Report struct {
	Epoch uint64 `json:"epoch"`
	Root  string `json:"root"`
	// AlreadySettled: every payout was confirmed before this run; nothing
	// was sent.
	AlreadySettled bool `json:"already_settled"`
	// Transactions counts new transactions recorded and sent; Resent the
	// sends of transactions recorded by an earlier run or sent before.
	Transactions int `json:"transactions"`
	Resent       int `json:"resent"`
	// Confirmed and Expired count the transactions this run resolved.
	Confirmed int              `json:"confirmed"`
	Expired   int              `json:"expired"`
	Paid      domain.BaseUnits `json:"paid"` // confirmed by this run
	// Settled: every payout of the plan is confirmed now.
	Settled    bool     `json:"settled"`
	Signatures []string `json:"signatures"` // confirmed by this run
	Failed     []string `json:"failed,omitempty"`
	// Corrected counts the recorded resolutions this run found contradicted
	// by the chain and corrected (see Settler.audit): a forged or damaged
	// PayoutConfirmed or PayoutExpired. 0 for an honest log.
	Corrected int `json:"corrected,omitempty"`
	// TxVersion is the version of the payout transactions this run built.
	TxVersion string `json:"tx_version"`
	// TableTransactions counts the lookup-table creations and extensions
	// this run recorded and sent; LookupTables names the tables used.
	TableTransactions int      `json:"table_transactions"`
	LookupTables      []string `json:"lookup_tables,omitempty"`
	// PriorityLamports and ComputeUnits sum the compute budgets of the
	// transactions this run built; Lamports is their fees (signatures and
	// priority) with the rent of the token accounts they create.
	ComputeUnits     uint64 `json:"compute_units"`
	PriorityLamports uint64 `json:"priority_lamports"`
	// WalletChanges lists planned operators whose wallet changed after the
	// plan: the plan (its root and proofs) pays the planned wallet.
	WalletChanges []WalletChange `json:"wallet_changes,omitempty"`
}

// settlement returns the epoch's plan, or a refusal naming what is missing.
func (s *Settler) settlement() (*projections.Settlement, error) {
	ep, err := ClosedEpoch(s.j.Ledger(), s.cfg.Epoch)
	if err != nil {
		return nil, err
	}
	st := ep.Settlement
	if st == nil {
		return nil, fmt.Errorf("%w: epoch %d has no settlement plan; run 'epochledger settle plan --epoch %d' first", ErrNotPlanned, s.cfg.Epoch, s.cfg.Epoch)
	}
	if st.Incomplete() {
		return nil, fmt.Errorf("%w: epoch %d's plan is incomplete (a part is missing)", ErrNotPlanned, s.cfg.Epoch)
	}
	s.memo = domain.Memo(st.Epoch, st.Root)
	s.logHead = st.LogHead
	return st, nil
}

// prepare checks the chain side before anything is recorded: the RPC
// answers, the mint has 8 decimals, the treasury token account exists,
// holds the mint and is owned by the authority.
func (s *Settler) prepare(ctx context.Context) error {
	if s.cfg.Mint.IsZero() {
		return errors.New("settlement: no mint given")
	}
	if s.cfg.Authority.IsZero() {
		return errors.New("settlement: no treasury keypair or authority given")
	}
	if err := s.chain.Ping(ctx); err != nil {
		return fmt.Errorf("the RPC endpoint does not answer: %w", err)
	}
	dec, err := s.chain.MintInfo(ctx, s.cfg.Mint)
	if err != nil {
		return fmt.Errorf("settlement: mint: %w", err)
	}
	if dec != Decimals {
		return fmt.Errorf("%w: mint %s has %d decimals; RENDER amounts are base units of 10^-8 and need a mint of %d decimals", ErrWrongDecimals, s.cfg.Mint, dec, Decimals)
	}
	src := s.cfg.Source
	if src.IsZero() {
		if src, _, err = solana.FindAssociatedTokenAddress(s.cfg.Authority, s.cfg.Mint); err != nil {
			return err
		}
	}
	ta, err := s.chain.TokenAccountInfo(ctx, src)
	if err != nil {
		return fmt.Errorf("settlement: treasury token account: %w", err)
	}
	switch {
	case ta == nil && s.cfg.Source.IsZero():
		return fmt.Errorf("%w: %s has no token account of mint %s (its associated token account %s does not exist)", ErrNotTreasury, s.cfg.Authority, s.cfg.Mint, src)
	case ta == nil:
		return fmt.Errorf("%w: token account %s does not exist", ErrNotTreasury, src)
	case ta.Mint != s.cfg.Mint:
		return fmt.Errorf("%w: token account %s holds mint %s, not %s", ErrNotTreasury, src, ta.Mint, s.cfg.Mint)
	case ta.Owner != s.cfg.Authority:
		return fmt.Errorf("%w: token account %s is owned by %s, not by %s", ErrNotTreasury, src, ta.Owner, s.cfg.Authority)
	case ta.Frozen:
		return fmt.Errorf("settlement: treasury token account %s is frozen", src)
	}
	s.treasury = Treasury{Authority: s.cfg.Authority, Source: src, Mint: s.cfg.Mint}
	return nil
}

// flight is a recorded transaction not yet resolved.
type flight struct {
	sig        solana.Signature
	raw        []byte // nil when the record has no transaction bytes
	lastValid  uint64
	recipients []domain.Recipient
	lastSend   time.Time
	sent       bool  // sent at least once (by this process, or recorded by an earlier one)
	stuck      error // preflight refuses it: it cannot land as things stand
	// recorded is the log's record of a transaction this process did not
	// build: it may be forged, so it is confirmed only once the chain's
	// transaction carries its transfers, and expired only once its own
	// blockhash is invalid (not on the recorded height's word).
	recorded *projections.PayoutTx
	checked  time.Time // when expiredNow last asked the chain about a recorded flight
}

// expiredNow reports whether a flight the chain does not know can never
// land. For one this process built, its last valid height has passed. For
// one recorded by another run the record's height may be forged (too low
// to pay twice, or too high to block the epoch forever), so its own
// blockhash decides (neverLands), asked once per Rebroadcast interval.
func (s *Settler) expiredNow(ctx context.Context, f *flight, height uint64) bool {
	if f.recorded == nil {
		return height > f.lastValid
	}
	if height <= f.lastValid && time.Since(f.checked) < s.cfg.Rebroadcast {
		return false
	}
	f.checked = time.Now()
	return s.recordedExpired(ctx, f)
}

// inFlight returns the epoch's recorded, unresolved transactions.
func (s *Settler) inFlight(st *projections.Settlement) ([]*flight, error) {
	var out []*flight
	for _, tx := range st.Txs {
		if tx.State != "submitted" {
			continue
		}
		sig, err := solana.SignatureFromBase58(tx.Signature)
		if err != nil {
			return nil, err
		}
		// Recorded by an earlier run, which may or may not have sent it.
		f := &flight{sig: sig, lastValid: tx.LastValidBlockHeight, recipients: tx.Recipients, sent: true, recorded: tx}
		if tx.Transaction != "" {
			if f.raw, err = base64.StdEncoding.DecodeString(tx.Transaction); err != nil {
				return nil, fmt.Errorf("settlement: recorded transaction %s: %w", tx.Signature, err)
			}
		}
		out = append(out, f)
	}
	return out, nil
}

// transfer returns the transfer of a recipient with its ATA (cached).
func (s *Settler) transfer(r domain.Recipient) (Transfer, error) {
	if t, ok := s.wallets[r.Wallet]; ok {
		t.Recipient = r
		t.Create = false
		return t, nil
	}
	t, err := NewTransfer(r, s.cfg.Mint)
	if err != nil {
		return t, err
	}
	s.wallets[r.Wallet] = t
	return t, nil
}

// pendingTransfers returns the planned amounts not in a live transaction,
// in plan order, marking those whose token account must be created.
func (s *Settler) pendingTransfers(ctx context.Context, st *projections.Settlement) ([]Transfer, error) {
	var out []Transfer
	for _, p := range st.Payouts {
		ps := st.Operator(p.OperatorID)
		if ps.Reserved == 0 {
			continue
		}
		t, err := s.transfer(domain.Recipient{OperatorID: p.OperatorID, Wallet: p.Wallet, Amount: ps.Reserved})
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	var ask []solana.PublicKey
	for _, t := range out {
		if !s.ataKnown[t.ATA] {
			ask = append(ask, t.ATA)
		}
	}
	if len(ask) > 0 {
		accs, err := s.chain.Accounts(ctx, ask)
		if err != nil {
			return nil, err
		}
		for i, a := range accs {
			if a != nil {
				s.ataKnown[ask[i]] = true
			}
		}
	}
	for i := range out {
		out[i].Create = !s.ataKnown[out[i].ATA]
	}
	return out, nil
}

// SignatureFee is the base fee of one signature in lamports.
const SignatureFee = 5000

// Cost is what sending a round of payout transactions costs the treasury:
// tokens, and lamports for the signatures and the rent of new token
// accounts (priority fees are 0 without a compute-unit price).
type Cost struct {
	Tokens       domain.BaseUnits `json:"tokens"`
	Transactions int              `json:"transactions"`
	Creates      int              `json:"new_token_accounts"`
	// Lamports
	SignatureLamports uint64 `json:"signature_lamports"`
	PriorityLamports  uint64 `json:"priority_lamports"`
	RentLamports      uint64 `json:"rent_lamports"`
	TotalLamports     uint64 `json:"total_lamports"`
}

// cost computes the Cost of sending transfers in txs transactions.
func (s *Settler) cost(ctx context.Context, transfers []Transfer, txs int) (Cost, error) {
	c := Cost{Transactions: txs, SignatureLamports: uint64(txs) * SignatureFee}
	c.Tokens, c.Creates = sumTransfers(transfers)
	if c.Creates > 0 {
		cctx, cancel := context.WithTimeout(ctx, s.chain.CallTimeout)
		rent, err := s.chain.rpc.GetMinimumBalanceForRentExemption(cctx, tokenAccountLen, rpc.CommitmentFinalized)
		cancel()
		if err != nil {
			return c, s.chain.wrap("getMinimumBalanceForRentExemption", err)
		}
		c.RentLamports = uint64(c.Creates) * rent
	}
	c.TotalLamports = c.SignatureLamports + c.PriorityLamports + c.RentLamports
	return c, nil
}

// checkFunds is the preflight of a round, before anything of it is
// recorded or sent: the treasury's token account must hold the tokens of
// every transfer and the authority the lamports of the fees and the rent
// of new token accounts; otherwise ErrInsufficient names the shortfall.
func (s *Settler) checkFunds(ctx context.Context, transfers []Transfer, txs int) error {
	c, err := s.cost(ctx, transfers, txs)
	if err != nil {
		return err
	}
	if s.cfg.TxVersion == TxV0 && s.report != nil {
		if err := s.v0Cost(ctx, transfers, &c); err != nil {
			return err
		}
	}
	return s.checkCost(ctx, c)
}

// checkCost is checkFunds' test of a computed Cost against the treasury.
func (s *Settler) checkCost(ctx context.Context, c Cost) error {
	ta, err := s.chain.TokenAccountInfo(ctx, s.treasury.Source)
	if err != nil {
		return err
	}
	if ta == nil || ta.Amount < uint64(c.Tokens) {
		have := uint64(0)
		if ta != nil {
			have = ta.Amount
		}
		return fmt.Errorf("%w: treasury token account %s holds %s RENDER, the payouts need %s: short by %s RENDER (%d base units); nothing was recorded or sent", ErrInsufficient, s.treasury.Source,
			domain.BaseUnits(have).RenderString(), c.Tokens.RenderString(), (c.Tokens - domain.BaseUnits(have)).RenderString(), uint64(c.Tokens)-have)
	}
	lamports, err := s.chain.Lamports(ctx, s.treasury.Authority)
	if err != nil {
		return err
	}
	if lamports < c.TotalLamports {
		return fmt.Errorf("%w: %s has %d lamports; %d transactions (%d lamports of signatures, %d of priority fees) and %d new token accounts and lookup-table space (%d lamports of rent) need %d: short by %d lamports; nothing was recorded or sent",
			ErrInsufficient, s.treasury.Authority, lamports, c.Transactions, c.SignatureLamports, c.PriorityLamports, c.Creates, c.RentLamports, c.TotalLamports, c.TotalLamports-lamports)
	}
	return nil
}

// Submit settles the epoch: it resolves what earlier runs left in
// flight, then packs, records, sends and confirms every planned amount
// not yet paid, re-packing the recipients of expired transactions. On a
// settled epoch it sends nothing.
func (s *Settler) Submit(ctx context.Context) (*Report, error) {
	if len(s.cfg.Signer) != 64 {
		return nil, errors.New("settlement: submit needs the treasury keypair")
	}
	st, err := s.settlement()
	if err != nil {
		return nil, err
	}
	s.report = &Report{Epoch: s.cfg.Epoch, Root: st.Root, Signatures: []string{}, TxVersion: s.cfg.TxVersion}
	if s.cfg.TxVersion != TxV0 && s.cfg.TxVersion != TxLegacy {
		return nil, fmt.Errorf("settlement: transaction version %q: want %s or %s", s.cfg.TxVersion, TxV0, TxLegacy)
	}
	if err := s.prepare(ctx); err != nil {
		return nil, err
	}
	s.walletChanges(st)
	// Nothing is paid, nor left unpaid, on the log's word alone.
	if s.report.Corrected, err = s.audit(ctx, st); err != nil {
		return s.report, err
	}
	if st.Done() {
		s.report.AlreadySettled, s.report.Settled = s.report.Corrected == 0, true
		return s.report, nil
	}
	if pending, err := s.inFlight(st); err != nil {
		return s.report, err
	} else if len(pending) > 0 {
		s.cfg.Log.Info("resolving transactions left in flight", "epoch", s.cfg.Epoch, "transactions", len(pending))
		if err := s.resolve(ctx, pending); err != nil {
			return s.report, err
		}
	}
	for round := 1; ; round++ {
		transfers, err := s.pendingTransfers(ctx, st)
		if err != nil {
			return s.report, err
		}
		if len(transfers) == 0 {
			break
		}
		if round > s.cfg.MaxRounds {
			return s.report, fmt.Errorf("%w: %d recipients still unpaid after %d rounds of expired transactions; run settle submit again later", ErrStillInFlight, len(transfers), s.cfg.MaxRounds)
		}
		if round > 1 {
			// Recipients of transactions that expired in this run: their
			// token accounts must show no payment the log does not know.
			if err := s.paidElsewhere(ctx, st); err != nil {
				return s.report, err
			}
		}
		// The preflight counts legacy packing (never fewer transactions
		// than v0) and, for v0, the tables' transactions and rent.
		groups := Pack(&s.treasury, transfers, len(s.memo))
		if err := s.checkFunds(ctx, transfers, len(groups)); err != nil {
			return s.report, err
		}
		var tables Tables
		if s.cfg.TxVersion == TxV0 {
			if tables, err = s.ensureTables(ctx, tableAddresses(&s.treasury, transfers)); err != nil {
				return s.report, err
			}
			for _, k := range tables.sortedKeys() {
				if !slices.Contains(s.report.LookupTables, k.String()) {
					s.report.LookupTables = append(s.report.LookupTables, k.String())
				}
			}
			groups = PackV0(&s.treasury, transfers, s.memo, s.logHead, tables.tableOf())
		}
		s.cfg.Log.Info("sending payouts", "epoch", s.cfg.Epoch, "round", round, "recipients", len(transfers), "transactions", len(groups), "version", s.cfg.TxVersion)
		price, err := s.priorityPrice(ctx)
		if err != nil {
			return s.report, err
		}
		var pending []*flight
		for i := 0; i < len(groups); i += s.cfg.Batch {
			batch, err := s.record(ctx, groups[i:min(i+s.cfg.Batch, len(groups))], i, len(groups), tables, &price)
			if err != nil {
				return s.report, err
			}
			for _, f := range batch {
				s.send(ctx, f)
			}
			pending = append(pending, batch...)
			// Collect what has landed meanwhile, without waiting.
			if pending, err = s.poll(ctx, pending); err != nil && !errors.Is(err, ErrRPC) {
				return s.report, err
			}
		}
		if err := s.resolve(ctx, pending); err != nil {
			return s.report, err
		}
	}
	s.report.Settled = st.Done()
	if len(s.report.Failed) > 0 {
		return s.report, fmt.Errorf("%w on chain: %v; its recipients are planned again: fix the cause and run settle submit again", ErrFailedOnChain, s.report.Failed)
	}
	return s.report, nil
}

// sign builds and signs the transactions of groups with one fresh
// blockhash: legacy ones as v1 did; v0 ones (tables non-nil) numbered
// first+1… of total in their memos, with a compute budget.
func (s *Settler) sign(ctx context.Context, groups [][]Transfer, first, total int, tables Tables, price *uint64) ([]*solana.Transaction, solana.Hash, uint64, error) {
	bh, lastValid, err := s.chain.LatestBlockhash(ctx)
	if err != nil {
		return nil, bh, 0, err
	}
	txs := make([]*solana.Transaction, len(groups))
	for i, g := range groups {
		var tx *solana.Transaction
		if tables != nil {
			tx, err = s.buildV0(ctx, g, domain.MemoV0Anchor(s.cfg.Epoch, s.report.Root, first+i+1, total, s.logHead), bh, tables, price, total-first-i)
		} else {
			tx, err = BuildTx(&s.treasury, g, s.memo, bh)
		}
		if err != nil {
			return nil, bh, 0, err
		}
		if len(s.cfg.Signer) == 64 {
			if _, err := tx.Sign(func(k solana.PublicKey) *solana.PrivateKey {
				if k == s.cfg.Signer.PublicKey() {
					return &s.cfg.Signer
				}
				return nil
			}); err != nil {
				return nil, bh, 0, err
			}
		}
		if n, err := TxSize(tx); err != nil || n > MaxTxSize {
			return nil, bh, 0, fmt.Errorf("settlement: packed transaction of %d bytes exceeds %d (%v)", n, MaxTxSize, err)
		}
		txs[i] = tx
	}
	return txs, bh, lastValid, nil
}

// record signs a batch and appends its PayoutSubmitted events — before
// anything of it is sent.
func (s *Settler) record(ctx context.Context, groups [][]Transfer, first, total int, tables Tables, price *uint64) ([]*flight, error) {
	txs, bh, lastValid, err := s.sign(ctx, groups, first, total, tables, price)
	if err != nil {
		return nil, err
	}
	evs := make([]domain.Event, len(txs))
	flights := make([]*flight, len(txs))
	for i, tx := range txs {
		raw, err := tx.MarshalBinary()
		if err != nil {
			return nil, err
		}
		names, loaded, err := Loaded(tx, tables)
		if err != nil {
			return nil, err
		}
		if err := VerifyPayoutTxAny(tx, loaded, &s.treasury, groups[i], s.memo); err != nil {
			return nil, fmt.Errorf("settlement: built a transaction that fails its own check: %w", err)
		}
		rs := make([]domain.Recipient, len(groups[i]))
		for k, t := range groups[i] {
			rs[k] = t.Recipient
		}
		evs[i] = &domain.PayoutSubmitted{Epoch: s.cfg.Epoch, Signature: tx.Signatures[0].String(), Recipients: rs,
			Blockhash: bh.String(), LastValidBlockHeight: lastValid, Transaction: base64.StdEncoding.EncodeToString(raw),
			LookupTables: names, LoadedAddresses: loaded}
		flights[i] = &flight{sig: tx.Signatures[0], raw: raw, lastValid: lastValid, recipients: rs}
	}
	if _, err := s.j.Append(ctx, Stream(s.cfg.Epoch), evs); err != nil {
		return nil, fmt.Errorf("settlement: record %d payout transactions: %w; nothing of them was sent", len(evs), err)
	}
	s.report.Transactions += len(flights)
	s.hook("after-append")
	return flights, nil
}

// send sends (or re-sends) a recorded transaction's bytes. Whatever the
// answer, the transaction stays in flight until the chain resolves it.
func (s *Settler) send(ctx context.Context, f *flight) {
	if f.raw == nil {
		return
	}
	if f.sent {
		s.report.Resent++
	}
	out, err := s.chain.Send(ctx, f.raw)
	f.lastSend = time.Now()
	switch out {
	case sendAccepted, sendProcessed:
		f.stuck = nil
	case sendFailed, sendInvalid:
		f.stuck = err
		s.cfg.Log.Warn("payout transaction refused by preflight", "signature", f.sig, "error", err)
	default:
		s.cfg.Log.Info("send not acknowledged; the transaction stays in flight", "signature", f.sig, "outcome", out.String(), "error", err)
	}
	f.sent = true
	s.hook("after-send")
}

// poll looks at every pending transaction once: it records the finalized
// (PayoutConfirmed, or PayoutExpired when it failed on chain) and the
// expired (PayoutExpired), re-sends those due, and returns the rest.
func (s *Settler) poll(ctx context.Context, pending []*flight) ([]*flight, error) {
	if len(pending) == 0 {
		return nil, nil
	}
	// The block height is read before the statuses: a signature unknown to
	// a status query made after the height passed its last valid height
	// can never land.
	height, err := s.chain.BlockHeight(ctx)
	if err != nil {
		return pending, err
	}
	sigs := make([]solana.Signature, len(pending))
	for i, f := range pending {
		sigs[i] = f.sig
	}
	statuses, err := s.chain.Statuses(ctx, sigs)
	if err != nil {
		return pending, err
	}
	var rest []*flight
	var evs []domain.Event
	var confirmed []*flight
	for i, f := range pending {
		st := statuses[i]
		switch {
		case st != nil && st.ConfirmationStatus == rpc.ConfirmationStatusFinalized && st.Err == nil && f.recorded != nil:
			// Recorded by another run (or imported): the signature landed,
			// but only the chain's transaction says what it paid.
			why, err := s.carries(ctx, f.sig, f.recipients)
			if err != nil {
				return pending, err
			}
			if why != "" {
				evs = append(evs, &domain.PayoutExpired{Epoch: s.cfg.Epoch, Signature: f.sig.String()})
				s.report.Corrected++
				s.cfg.Log.Warn("a recorded payout transaction landed without its recorded transfers; its recipients are planned again", "signature", f.sig, "why", why)
				break
			}
			evs = append(evs, &domain.PayoutConfirmed{Epoch: s.cfg.Epoch, Signature: f.sig.String(), Slot: st.Slot})
			confirmed = append(confirmed, f)
		case st != nil && st.ConfirmationStatus == rpc.ConfirmationStatusFinalized && st.Err == nil:
			evs = append(evs, &domain.PayoutConfirmed{Epoch: s.cfg.Epoch, Signature: f.sig.String(), Slot: st.Slot})
			confirmed = append(confirmed, f)
		case st != nil && st.ConfirmationStatus == rpc.ConfirmationStatusFinalized:
			// Landed and failed: it moved nothing (a transaction is atomic)
			// and its signature is spent, so it can never pay.
			evs = append(evs, &domain.PayoutExpired{Epoch: s.cfg.Epoch, Signature: f.sig.String()})
			s.report.Failed = append(s.report.Failed, fmt.Sprintf("%s: %v", f.sig, st.Err))
		case st != nil:
			rest = append(rest, f) // landed, not final yet
		case s.expiredNow(ctx, f, height):
			evs = append(evs, &domain.PayoutExpired{Epoch: s.cfg.Epoch, Signature: f.sig.String()})
			s.report.Expired++
			s.cfg.Log.Info("payout transaction expired without landing; its recipients are packed again", "signature", f.sig, "last_valid_block_height", f.lastValid, "block_height", height)
		default:
			if f.raw != nil && f.stuck == nil && time.Since(f.lastSend) >= s.cfg.Rebroadcast {
				s.send(ctx, f)
			}
			rest = append(rest, f)
		}
	}
	if len(evs) > 0 {
		if _, err := s.j.Append(ctx, Stream(s.cfg.Epoch), evs); err != nil {
			return pending, fmt.Errorf("settlement: record %d resolved transactions: %w", len(evs), err)
		}
		for _, f := range confirmed {
			s.report.Confirmed++
			s.report.Signatures = append(s.report.Signatures, f.sig.String())
			for _, r := range f.recipients {
				s.report.Paid += r.Amount
			}
		}
		s.hook("after-confirm")
	}
	return rest, nil
}

// resolve polls until every pending transaction is confirmed or expired,
// or MaxWait passes, or all that is left is refused by preflight.
func (s *Settler) resolve(ctx context.Context, pending []*flight) error {
	deadline := time.Now().Add(s.cfg.MaxWait)
	var lastErr error
	for {
		var err error
		pending, err = s.poll(ctx, pending)
		switch {
		case err != nil && !errors.Is(err, ErrRPC):
			return err
		case err != nil:
			lastErr = err
			s.cfg.Log.Warn("status poll failed; retrying", "error", err)
		}
		if len(pending) == 0 {
			return nil
		}
		stuck := 0
		for _, f := range pending {
			if f.stuck != nil {
				stuck++
			}
		}
		if stuck == len(pending) {
			return fmt.Errorf("%w: %d transactions are refused by the RPC's preflight (first: %s: %v); they stay recorded in flight until their blockhash expires, and the next settle submit resolves them", ErrStillInFlight, stuck, pending[0].sig, pending[0].stuck)
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("%d transactions neither finalized nor expired after %s", len(pending), s.cfg.MaxWait)
			if lastErr != nil {
				msg += fmt.Sprintf(" (last RPC error: %v)", lastErr)
			}
			return fmt.Errorf("%w: %s; they stay recorded; run settle submit again to resolve them", ErrStillInFlight, msg)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.cfg.Poll):
		}
	}
}

// WalletChange is a planned operator whose wallet changed after the plan.
type WalletChange struct {
	OperatorID string `json:"operator_id"`
	Planned    string `json:"planned_wallet"`
	Current    string `json:"current_wallet"`
	Unsent     string `json:"unsent"` // base units the plan still sends to the planned wallet
	// Advice says what happens and how to re-plan.
	Advice string `json:"advice"`
}

// WalletChanges lists every operator of epoch st's plan with an amount
// still to send whose wallet changed since the plan. The plan's root and
// proofs name the planned wallet, so that is where a submit sends it;
// while nothing of the plan is sent, `settle plan --replan` replaces the
// plan with one that pays the current wallets.
func WalletChanges(l *projections.Ledger, st *projections.Settlement) []WalletChange {
	var out []WalletChange
	for _, p := range st.Payouts {
		ps := st.Operator(p.OperatorID)
		o := l.Operators[p.OperatorID]
		if ps == nil || o == nil || o.Wallet == p.Wallet || ps.Reserved+ps.InFlight == 0 {
			continue
		}
		left := ps.Reserved + ps.InFlight
		advice := fmt.Sprintf("operator %s's wallet changed after epoch %d was planned (position %d): the plan sends its %s RENDER to the planned wallet %s, not to %s. ",
			p.OperatorID, st.Epoch, st.PlannedAt, left.RenderString(), p.Wallet, o.Wallet)
		if len(st.Txs) == 0 {
			advice += fmt.Sprintf("Nothing of the plan is sent yet: to pay the new wallet, re-plan first with 'epochledger settle plan --epoch %d --replan', then submit", st.Epoch)
		} else {
			advice += "Part of the plan is sent, so it can no longer be re-planned: this epoch pays the planned wallet; every later plan pays the new one"
		}
		out = append(out, WalletChange{OperatorID: p.OperatorID, Planned: p.Wallet, Current: o.Wallet, Unsent: left.String(), Advice: advice})
	}
	return out
}

// walletChanges puts WalletChanges in the report and warns of each.
func (s *Settler) walletChanges(st *projections.Settlement) {
	s.report.WalletChanges = WalletChanges(s.j.Ledger(), st)
	for _, c := range s.report.WalletChanges {
		s.cfg.Log.Warn(c.Advice, "operator", c.OperatorID, "planned_wallet", c.Planned, "current_wallet", c.Current)
	}
}
