package settlement

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/projections"
)

// ErrLogDisagrees means the log records a chain fact the chain does not
// confirm in a way submit cannot correct by itself (see Settler.audit):
// nothing is sent until it is looked into.
var ErrLogDisagrees = errors.New("settlement: the log disagrees with the chain")

// historyPages bounds the history read per recipient token account when
// looking for a payment the log does not record (1,000 signatures a page).
const historyPages = 10

// audit holds the log's record of the epoch against the chain before
// anything is paid on its word. Settlement events can be imported (auditors
// round-trip logs), so a PayoutConfirmed or PayoutExpired in the log may be
// forged or damaged; money moves only on what the chain says:
//
//   - A confirmed transaction must be finalized without error on chain and
//     carry exactly its recorded transfers and the plan's memo. If not, and
//     it can never land (it failed, it carries other transfers, or its
//     blockhash is no longer valid and a status query made after that
//     still does not know it), a correcting PayoutExpired is recorded and
//     its recipients are paid again.
//   - An expired transaction whose recipients are about to be re-planned
//     must be unknown to the chain and unable to land (same rule). If the
//     chain has it finalized with its transfers, a correcting
//     PayoutConfirmed is recorded instead: it is never paid twice.
//   - Before re-planning a recipient of an expired transaction, the
//     history of its token account must not show a finalized transfer
//     from the treasury under this plan's memo that the log does not
//     record: its balance moved without the log knowing, so it is not
//     paid again.
//
// Anything it cannot settle (a transaction still able to land, a payment
// the log does not know) is ErrLogDisagrees or ErrStillInFlight, with
// nothing sent. It returns how many corrections it recorded.
func (s *Settler) audit(ctx context.Context, st *projections.Settlement) (int, error) {
	var check []*projections.PayoutTx
	for _, tx := range st.Txs {
		if tx.State == "confirmed" || (tx.State == "expired" && s.replans(st, tx)) {
			check = append(check, tx)
		}
	}
	if len(check) == 0 {
		return 0, nil
	}
	sigs := make([]solana.Signature, len(check))
	for i, tx := range check {
		sig, err := solana.SignatureFromBase58(tx.Signature)
		if err != nil {
			return 0, fmt.Errorf("settlement: recorded signature %q: %w", tx.Signature, err)
		}
		sigs[i] = sig
	}
	statuses, err := s.chain.Statuses(ctx, sigs)
	if err != nil {
		return 0, err
	}
	// What each landed transaction carries, fetched a few at a time (a
	// settled epoch of 10,000 payees has about 550 transactions).
	landed, whys := make([]bool, len(check)), make([]string, len(check))
	transfers := make([][]Transfer, len(check))
	for i, tx := range check {
		if transfers[i], err = s.transfers(tx.Recipients); err != nil {
			return 0, err
		}
	}
	if err := parallel(len(check), auditReaders, func(i int) error {
		var err error
		landed[i], whys[i], err = s.landedWithTransfers(ctx, sigs[i], statuses[i], transfers[i])
		return err
	}); err != nil {
		return 0, err
	}
	var recorded map[string]string // signature → recorded wire bytes (base64), read once when needed
	var evs []domain.Event
	for i, tx := range check {
		landed, why := landed[i], whys[i]
		switch {
		case tx.State == "confirmed" && landed:
			continue // the chain confirms the record
		case tx.State == "expired" && landed:
			for _, r := range tx.Recipients {
				if p := st.Operator(r.OperatorID); p == nil || p.Reserved < r.Amount {
					return 0, fmt.Errorf("%w: transaction %s is recorded expired but the chain has it finalized, paying %s, whose amount was sent again since; nothing more is sent: compare the log with the chain (reconcile)", ErrLogDisagrees, tx.Signature, r.OperatorID)
				}
			}
			s.cfg.Log.Warn("the log records a landed payout transaction as expired; recording what the chain says, so its recipients are not paid again", "signature", tx.Signature, "slot", statuses[i].Slot)
			evs = append(evs, &domain.PayoutConfirmed{Epoch: s.cfg.Epoch, Signature: tx.Signature, Slot: statuses[i].Slot})
			continue
		}
		// Not landed with its transfers. It must be unable to ever land
		// before its recipients can be paid by another transaction.
		if st := statuses[i]; st != nil && st.Err == nil && why == "" {
			return 0, fmt.Errorf("%w: transaction %s is on chain but not finalized yet (%s); run settle submit again in a minute", ErrStillInFlight, tx.Signature, st.ConfirmationStatus)
		}
		if statuses[i] == nil {
			if recorded == nil {
				if recorded, err = s.recordedBytes(ctx); err != nil {
					return 0, err
				}
			}
			never, err := s.neverLands(ctx, sigs[i], tx, recorded[tx.Signature])
			if err != nil {
				return 0, err
			}
			if !never {
				return 0, fmt.Errorf("%w: transaction %s is recorded %s, the chain does not know it, and its blockhash is still valid, so it may still land; run settle submit again once it has expired (about a minute)", ErrStillInFlight, tx.Signature, tx.State)
			}
			why = "the chain does not know its signature and it can no longer land"
		}
		if tx.State == "confirmed" {
			s.cfg.Log.Warn("the log records a payout transaction as confirmed that the chain does not confirm; its recipients are planned again", "signature", tx.Signature, "why", why)
			evs = append(evs, &domain.PayoutExpired{Epoch: s.cfg.Epoch, Signature: tx.Signature})
		}
	}
	if len(evs) > 0 {
		if _, err := s.j.Append(ctx, Stream(s.cfg.Epoch), evs); err != nil {
			return 0, fmt.Errorf("settlement: record %d corrections from the chain: %w; nothing was sent", len(evs), err)
		}
		// A stored event with the same id (a forged one can take it) leaves
		// the ledger as it was: check that every correction took effect.
		for _, ev := range evs {
			var sig, want string
			switch e := ev.(type) {
			case *domain.PayoutConfirmed:
				sig, want = e.Signature, "confirmed"
			case *domain.PayoutExpired:
				sig, want = e.Signature, "expired"
			}
			if tx := st.Tx(sig); tx == nil || tx.State != want {
				return 0, fmt.Errorf("%w: recording transaction %s as %s did not take effect (an event with its id is already stored); nothing was sent", ErrLogDisagrees, sig, want)
			}
		}
	}
	return len(evs), s.paidElsewhere(ctx, st)
}

// replans reports whether some recipient of an expired transaction still
// has its amount reserved: the next round would pay it again.
func (s *Settler) replans(st *projections.Settlement, tx *projections.PayoutTx) bool {
	for _, r := range tx.Recipients {
		if p := st.Operator(r.OperatorID); p != nil && p.Reserved > 0 {
			return true
		}
	}
	return false
}

// landedWithTransfers reports whether the chain has sig finalized without
// error, carrying exactly recipients' transfers from the treasury and the
// plan's memo. When not, why says what differs ("" while the status is
// not final yet or unknown).
func (s *Settler) landedWithTransfers(ctx context.Context, sig solana.Signature, status *rpc.SignatureStatusesResult, transfers []Transfer) (bool, string, error) {
	switch {
	case status == nil:
		return false, "", nil
	case status.Err != nil:
		return false, fmt.Sprintf("it landed and failed (%v), moving nothing", status.Err), nil
	case status.ConfirmationStatus != rpc.ConfirmationStatusFinalized:
		return false, "", nil
	}
	why, err := s.carriesTransfers(ctx, sig, transfers)
	return why == "", why, err
}

// auditReaders is how many getTransaction calls the audit has in flight.
const auditReaders = 8

// parallel runs fn(0..n-1) on up to workers goroutines and returns the
// first error; no new call starts once one failed.
func parallel(n, workers int, fn func(i int) error) error {
	var (
		mu    sync.Mutex
		first error
		next  int
		wg    sync.WaitGroup
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if first != nil || next >= n {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// transfers resolves recipients' token accounts (cached per wallet).
func (s *Settler) transfers(recipients []domain.Recipient) ([]Transfer, error) {
	out := make([]Transfer, len(recipients))
	for i, r := range recipients {
		var err error
		if out[i], err = s.transfer(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// carries fetches a finalized transaction and says what keeps it from
// being the payout of recipients ("" when it is that payout).
func (s *Settler) carries(ctx context.Context, sig solana.Signature, recipients []domain.Recipient) (string, error) {
	transfers, err := s.transfers(recipients)
	if err != nil {
		return "", err
	}
	return s.carriesTransfers(ctx, sig, transfers)
}

// carriesTransfers is carries with the recipients' token accounts
// resolved; it is safe for concurrent use.
func (s *Settler) carriesTransfers(ctx context.Context, sig solana.Signature, transfers []Transfer) (string, error) {
	res, err := s.chain.Transaction(ctx, sig)
	if err != nil {
		return "", err
	}
	if res == nil || res.Transaction == nil {
		return "getTransaction does not return it", nil
	}
	if res.Meta == nil || res.Meta.Err != nil {
		return "it failed on chain", nil
	}
	tx, err := res.Transaction.GetTransaction()
	if err != nil {
		return "", s.chain.wrap("getTransaction", fmt.Errorf("decode %s: %w", sig, err))
	}
	if len(tx.Signatures) == 0 || tx.Signatures[0] != sig {
		return "the chain's transaction has another first signature", nil
	}
	loaded := &domain.LoadedAddresses{}
	for _, k := range res.Meta.LoadedAddresses.Writable {
		loaded.Writable = append(loaded.Writable, k.String())
	}
	for _, k := range res.Meta.LoadedAddresses.ReadOnly {
		loaded.Readonly = append(loaded.Readonly, k.String())
	}
	if err := VerifyPayoutTxAny(tx, loaded, &s.treasury, transfers, s.memo); err != nil {
		return fmt.Sprintf("it does not carry the recorded transfers: %v", err), nil
	}
	return "", nil
}

// neverLands reports whether a transaction the chain does not know can
// never land: the blockhash it was signed with (from its recorded bytes
// when they are the transaction of sig, else the recorded blockhash) is no
// longer valid, and a status query made after that observation still does
// not know the signature.
func (s *Settler) neverLands(ctx context.Context, sig solana.Signature, tx *projections.PayoutTx, raw string) (bool, error) {
	bh, err := solana.HashFromBase58(tx.Blockhash)
	if raw != "" {
		if b, derr := base64.StdEncoding.DecodeString(raw); derr == nil {
			if t, derr := solana.TransactionFromBytes(b); derr == nil && len(t.Signatures) > 0 && t.Signatures[0] == sig {
				bh, err = t.Message.RecentBlockhash, nil
			}
		}
	}
	if err == nil {
		valid, err := s.chain.BlockhashValid(ctx, bh)
		if err != nil || valid {
			return false, err
		}
	} // a recorded blockhash that is not one can validate nothing
	st, err := s.chain.Statuses(ctx, []solana.Signature{sig})
	if err != nil {
		return false, err
	}
	return st[0] == nil, nil
}

// recordedBytes reads the epoch's stream for the signed bytes of every
// PayoutSubmitted (the fold keeps them only while in flight).
func (s *Settler) recordedBytes(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	err := s.j.store.ReadStream(ctx, Stream(s.cfg.Epoch), 0, func(e *eventstore.RecordedEvent) error {
		if e.Type != domain.TypePayoutSubmitted {
			return nil
		}
		ev, err := domain.DecodeEvent(e.Type, e.Data)
		if err != nil {
			return fmt.Errorf("settlement: position %d: %w", e.Position, err)
		}
		ps := ev.(*domain.PayoutSubmitted)
		if ps.Transaction != "" {
			out[ps.Signature] = ps.Transaction
		}
		return nil
	})
	if err != nil && !errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil, fmt.Errorf("settlement: read %s: %w", Stream(s.cfg.Epoch), err)
	}
	return out, nil
}

// paidElsewhere refuses to re-plan a recipient of an expired transaction
// whose token account received, under this plan's memo, a finalized
// transfer from the treasury that the log does not record as confirmed or
// in flight: the money moved, whatever the log says.
func (s *Settler) paidElsewhere(ctx context.Context, st *projections.Settlement) error {
	accounted := map[string]bool{}
	var ops []string
	seen := map[string]bool{}
	for _, tx := range st.Txs {
		if tx.State != "expired" {
			accounted[tx.Signature] = true
			continue
		}
		for _, r := range tx.Recipients {
			if p := st.Operator(r.OperatorID); p != nil && p.Reserved > 0 && !seen[r.OperatorID] {
				seen[r.OperatorID] = true
				ops = append(ops, r.OperatorID)
			}
		}
	}
	for _, op := range ops {
		p := st.Operator(op)
		t, err := s.transfer(domain.Recipient{OperatorID: op, Wallet: p.Payout.Wallet, Amount: p.Reserved})
		if err != nil {
			return err
		}
		hist, complete, err := s.chain.SignaturesFor(ctx, t.ATA, historyPages)
		if err != nil {
			return err
		}
		if !complete {
			return fmt.Errorf("%w: operator %s's token account %s has more than %d transactions; submit cannot prove the treasury did not already pay it, so it is not paid again: check with reconcile", ErrLogDisagrees, op, t.ATA, historyPages*1000)
		}
		for _, h := range hist {
			if h.Err != nil || h.Memo == nil || !strings.Contains(*h.Memo, s.memo) || accounted[h.Signature.String()] {
				continue
			}
			moved, err := s.received(ctx, h.Signature, t.ATA)
			if err != nil {
				return err
			}
			if moved > 0 {
				return fmt.Errorf("%w: operator %s's token account %s received %s base units in transaction %s (slot %d) under this plan's memo, which the log does not record as paid; it is not paid again: compare the log with the chain (reconcile)", ErrLogDisagrees, op, t.ATA, strconv.FormatUint(moved, 10), h.Signature, h.Slot)
			}
		}
	}
	return nil
}

// received is how many base units of the mint a finalized transaction
// moved from the treasury's token account into account.
func (s *Settler) received(ctx context.Context, sig solana.Signature, account solana.PublicKey) (uint64, error) {
	res, err := s.chain.Transaction(ctx, sig)
	if err != nil || res == nil || res.Meta == nil || res.Meta.Err != nil {
		return 0, err
	}
	tx, err := res.Transaction.GetTransaction()
	if err != nil {
		return 0, s.chain.wrap("getTransaction", fmt.Errorf("decode %s: %w", sig, err))
	}
	keys := append(append(append([]solana.PublicKey{}, tx.Message.AccountKeys...), res.Meta.LoadedAddresses.Writable...), res.Meta.LoadedAddresses.ReadOnly...)
	balance := func(list []rpc.TokenBalance, want solana.PublicKey) uint64 {
		for _, b := range list {
			if int(b.AccountIndex) < len(keys) && keys[b.AccountIndex] == want && b.Mint == s.cfg.Mint && b.UiTokenAmount != nil {
				n, _ := strconv.ParseUint(b.UiTokenAmount.Amount, 10, 64)
				return n
			}
		}
		return 0
	}
	pre, post := balance(res.Meta.PreTokenBalances, account), balance(res.Meta.PostTokenBalances, account)
	if post <= pre || balance(res.Meta.PreTokenBalances, s.treasury.Source) <= balance(res.Meta.PostTokenBalances, s.treasury.Source) {
		return 0, nil // not a transfer from the treasury into account
	}
	return post - pre, nil
}

// recordedExpired reports, for a flight recorded by another run, whether
// it can never land by its own blockhash (see neverLands); an RPC failure
// counts as "not yet".
func (s *Settler) recordedExpired(ctx context.Context, f *flight) bool {
	raw := ""
	if f.raw != nil {
		raw = base64.StdEncoding.EncodeToString(f.raw)
	}
	never, err := s.neverLands(ctx, f.sig, f.recorded, raw)
	if err != nil {
		s.cfg.Log.Warn("cannot tell yet whether a recorded transaction can still land", "signature", f.sig, "error", err)
	}
	return never && err == nil
}
