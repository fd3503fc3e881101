package settlement

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gagliardetto/solana-go"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/projections"
)

// The results of a reconciliation line. Everything but ResultMatched is a
// difference.
const (
	ResultMatched    = "matched"          // the log says paid and the chain moved exactly the planned amount
	ResultMissing    = "missing"          // the log says paid; the chain moved nothing to the operator
	ResultDifferent  = "different_amount" // the log says paid; the chain moved another amount
	ResultUnpaid     = "unpaid"           // the log does not say paid yet (unsent or in flight)
	ResultUnexpected = "unexpected"       // the chain moved treasury tokens under the plan's memo that the log does not account for
)

// ReconcileLine is one planned payout (or one unexpected transfer) held
// against the chain.
type ReconcileLine struct {
	OperatorID   string `json:"operator_id"` // "" for a transfer to an account of no planned operator
	Wallet       string `json:"wallet"`
	TokenAccount string `json:"token_account"`
	Planned      string `json:"planned"`  // base units
	OnChain      string `json:"on_chain"` // base units the chain moved to the token account (in the log's confirmed transactions; for unexpected, in that transaction)
	// LogState is what the log says: unsent, in_flight, confirmed ("" for unexpected).
	LogState   string   `json:"log_state"`
	Result     string   `json:"result"`
	Signatures []string `json:"signatures"`
	Detail     string   `json:"detail,omitempty"`
}

// Reconciliation is `reconcile --json`.
type Reconciliation struct {
	Epoch        uint64          `json:"epoch"`
	Root         string          `json:"root"`
	Memo         string          `json:"memo"`
	Mint         string          `json:"mint"`
	TokenAccount string          `json:"treasury_token_account"`
	Lines        []ReconcileLine `json:"lines"`
	Matched      int             `json:"matched"`
	Differences  int             `json:"differences"`
	// HistoryComplete is false when the treasury token account's history
	// was longer than what was read for unexpected transfers.
	HistoryComplete bool `json:"history_complete"`
}

// treasuryHistoryPages bounds the treasury history reconcile reads.
const treasuryHistoryPages = 50

// Reconcile holds every planned payout of epoch n against the chain: for
// each operator, what the log's confirmed transactions moved to its token
// account of mint according to the chain (getTransaction, balances and
// memo), and every transfer from the treasury token account source under
// the plan's memo that the log does not account for.
func Reconcile(ctx context.Context, c *Chain, l *projections.Ledger, n uint64, mint, source solana.PublicKey) (*Reconciliation, error) {
	ep, err := ClosedEpoch(l, n)
	if err != nil {
		return nil, err
	}
	st := ep.Settlement
	if st == nil {
		return nil, fmt.Errorf("%w: epoch %d has no settlement plan", ErrNotPlanned, n)
	}
	memo := domain.Memo(n, st.Root)
	out := &Reconciliation{Epoch: n, Root: st.Root, Memo: memo, Mint: mint.String(), TokenAccount: source.String(), Lines: []ReconcileLine{}}
	read := map[string]*ChainTx{}
	readTx := func(sig string) (*ChainTx, error) {
		if t, ok := read[sig]; ok {
			return t, nil
		}
		s, err := solana.SignatureFromBase58(sig)
		if err != nil {
			return nil, err
		}
		t, err := c.ReadTx(ctx, s)
		if err == nil {
			read[sig] = t
		}
		return t, err
	}
	// paidBy says whether chain tx t is a payout of this plan from source.
	paidBy := func(t *ChainTx) bool {
		if !t.Finalized() || !slices.ContainsFunc(t.Memos, func(m string) bool { return domain.MemoOfPlan(m, n, st.Root) }) {
			return false
		}
		m := t.Moves[source]
		return m.Mint == mint && m.Pre > m.Post
	}
	byATA := map[solana.PublicKey]*domain.Payout{}
	accounted := map[string]map[solana.PublicKey]bool{} // confirmed signature → token accounts it pays per the log
	for i := range st.Payouts {
		p := &st.Payouts[i]
		ps := st.Operator(p.OperatorID)
		t, err := NewTransfer(domain.Recipient{OperatorID: p.OperatorID, Wallet: p.Wallet, Amount: p.Amount}, mint)
		if err != nil {
			return nil, err
		}
		byATA[t.ATA] = p
		line := ReconcileLine{OperatorID: p.OperatorID, Wallet: p.Wallet, TokenAccount: t.ATA.String(), Planned: p.Amount.String(), Signatures: []string{}}
		switch {
		case ps.Confirmed == p.Amount:
			line.LogState = "confirmed"
		case ps.InFlight > 0:
			line.LogState = "in_flight"
		default:
			line.LogState = "unsent"
		}
		var received uint64
		var notes []string
		for _, sig := range ps.Signatures {
			tx := st.Tx(sig)
			if tx == nil || tx.State != "confirmed" {
				continue
			}
			line.Signatures = append(line.Signatures, sig)
			if accounted[sig] == nil {
				accounted[sig] = map[solana.PublicKey]bool{}
			}
			accounted[sig][t.ATA] = true
			ct, err := readTx(sig)
			if err != nil {
				return nil, err
			}
			switch {
			case ct.Status == "":
				notes = append(notes, sig+": the chain does not know it")
			case !ct.Finalized():
				notes = append(notes, fmt.Sprintf("%s: %s, error %v", sig, ct.Status, ct.Err))
			case !paidBy(ct):
				notes = append(notes, sig+": not a transfer from the treasury under the plan's memo")
			default:
				if m := ct.Moves[t.ATA]; m.Mint == mint {
					received += m.Received()
				}
			}
		}
		line.OnChain = fmt.Sprint(received)
		line.Detail = strings.Join(notes, "; ")
		switch {
		case line.LogState != "confirmed":
			line.Result = ResultUnpaid
		case received == uint64(p.Amount):
			line.Result = ResultMatched
		case received == 0:
			line.Result = ResultMissing
		default:
			line.Result = ResultDifferent
		}
		out.Lines = append(out.Lines, line)
	}
	// Transfers from the treasury under this plan's memo that the log does
	// not account for: in a transaction the log does not hold confirmed, or
	// to an account the log's transaction does not pay.
	hist, complete, err := c.SignaturesFor(ctx, source, treasuryHistoryPages)
	if err != nil {
		return nil, err
	}
	out.HistoryComplete = complete
	var unexpected []ReconcileLine
	for _, h := range hist {
		if h.Err != nil || h.Memo == nil || !strings.Contains(*h.Memo, memo) {
			continue
		}
		sig := h.Signature.String()
		ct, err := readTx(sig)
		if err != nil {
			return nil, err
		}
		if !paidBy(ct) {
			continue
		}
		for acct, m := range ct.Moves {
			if acct == source || m.Mint != mint || m.Received() == 0 || accounted[sig][acct] {
				continue
			}
			line := ReconcileLine{Wallet: m.Owner.String(), TokenAccount: acct.String(), Planned: "0", OnChain: fmt.Sprint(m.Received()), Result: ResultUnexpected, Signatures: []string{sig}}
			if p := byATA[acct]; p != nil {
				line.OperatorID, line.Planned = p.OperatorID, p.Amount.String()
			}
			if tx := st.Tx(sig); tx != nil {
				line.Detail = fmt.Sprintf("the log records this transaction as %s and not paying this account", tx.State)
			} else {
				line.Detail = "the log does not record this transaction"
			}
			unexpected = append(unexpected, line)
		}
	}
	slices.SortFunc(unexpected, func(a, b ReconcileLine) int {
		return strings.Compare(a.Signatures[0]+a.TokenAccount, b.Signatures[0]+b.TokenAccount)
	})
	out.Lines = append(out.Lines, unexpected...)
	for _, line := range out.Lines {
		if line.Result == ResultMatched {
			out.Matched++
		} else {
			out.Differences++
		}
	}
	return out, nil
}
