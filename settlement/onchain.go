package settlement

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/projections"
)

// ChainTx is what the chain says a transaction did: read from
// getTransaction and getSignatureStatuses, never from the log. Lookup-table
// addresses are resolved from the transaction's loadedAddresses.
type ChainTx struct {
	Signature string
	Slot      uint64
	// Status is the confirmation status ("finalized", "confirmed",
	// "processed"), "" when the chain does not know the signature.
	Status string
	Err    any      // the transaction's error; nil when it succeeded
	Memos  []string // the data of its SPL Memo instructions, in order
	// Moves are the token balance changes of the transaction, per account.
	Moves map[solana.PublicKey]TokenMove
}

// TokenMove is one token account's balance change in a transaction.
type TokenMove struct {
	Mint, Owner solana.PublicKey
	Pre, Post   uint64
}

// Received is what the account gained (0 when it lost or kept its balance).
func (m TokenMove) Received() uint64 {
	if m.Post > m.Pre {
		return m.Post - m.Pre
	}
	return 0
}

// Finalized reports whether the transaction is finalized without error.
func (t *ChainTx) Finalized() bool {
	return t != nil && t.Status == string(rpc.ConfirmationStatusFinalized) && t.Err == nil
}

// Payer returns the token account whose balance a finalized transaction
// lowered, and its mint: the treasury a payout came from (a payout has
// one). ok is false when there is none.
func (t *ChainTx) Payer() (mint, source solana.PublicKey, ok bool) {
	if !t.Finalized() {
		return mint, source, false
	}
	for acct, m := range t.Moves {
		if m.Post < m.Pre {
			return m.Mint, acct, true
		}
	}
	return mint, source, false
}

// LandedTreasury reads, from the chain, the mint and the token account that
// the epoch's first landed payout transaction paid from: the treasury that
// paid it, for a check made with no more than an RPC address.
func LandedTreasury(ctx context.Context, c *Chain, l *projections.Ledger, epoch uint64) (mint, source solana.PublicKey, err error) {
	ep := l.Epoch(epoch)
	if ep == nil || ep.Settlement == nil {
		return mint, source, fmt.Errorf("%w: epoch %d has no settlement plan", ErrNotPlanned, epoch)
	}
	for _, tx := range ep.Settlement.Txs {
		sig, perr := solana.SignatureFromBase58(tx.Signature)
		if perr != nil {
			continue
		}
		ct, rerr := c.ReadTx(ctx, sig)
		if rerr != nil {
			return mint, source, rerr
		}
		if m, src, ok := ct.Payer(); ok {
			return m, src, nil
		}
	}
	return mint, source, fmt.Errorf("no payout transaction of epoch %d landed on this chain to learn the treasury from; name it with --mint and --token-account (or --authority, --keypair)", epoch)
}

// ReadTx returns what the chain holds of sig: its status, and once it is
// finalized its memos and token balance changes. A signature the chain
// does not know gives Status "".
func (c *Chain) ReadTx(ctx context.Context, sig solana.Signature) (*ChainTx, error) {
	out := &ChainTx{Signature: sig.String(), Moves: map[solana.PublicKey]TokenMove{}}
	st, err := c.Statuses(ctx, []solana.Signature{sig})
	if err != nil {
		return nil, err
	}
	if st[0] == nil {
		return out, nil
	}
	out.Status, out.Slot, out.Err = string(st[0].ConfirmationStatus), st[0].Slot, st[0].Err
	if st[0].ConfirmationStatus != rpc.ConfirmationStatusFinalized {
		return out, nil
	}
	res, err := c.Transaction(ctx, sig)
	if err != nil {
		return nil, err
	}
	if res == nil || res.Transaction == nil || res.Meta == nil {
		return nil, c.wrap("getTransaction", fmt.Errorf("%s is finalized but getTransaction does not return it", sig))
	}
	out.Err = res.Meta.Err
	tx, err := res.Transaction.GetTransaction()
	if err != nil {
		return nil, c.wrap("getTransaction", fmt.Errorf("decode %s: %w", sig, err))
	}
	keys := append(append(append([]solana.PublicKey{}, tx.Message.AccountKeys...), res.Meta.LoadedAddresses.Writable...), res.Meta.LoadedAddresses.ReadOnly...)
	for _, ix := range tx.Message.Instructions {
		if int(ix.ProgramIDIndex) < len(keys) && keys[ix.ProgramIDIndex] == solana.MemoProgramID {
			out.Memos = append(out.Memos, string(ix.Data))
		}
	}
	add := func(list []rpc.TokenBalance, post bool) {
		for _, b := range list {
			if int(b.AccountIndex) >= len(keys) || b.UiTokenAmount == nil {
				continue
			}
			n, err := strconv.ParseUint(b.UiTokenAmount.Amount, 10, 64)
			if err != nil {
				continue
			}
			k := keys[b.AccountIndex]
			m := out.Moves[k]
			m.Mint = b.Mint
			if b.Owner != nil {
				m.Owner = *b.Owner
			}
			if post {
				m.Post = n
			} else {
				m.Pre = n
			}
			out.Moves[k] = m
		}
	}
	add(res.Meta.PreTokenBalances, false)
	add(res.Meta.PostTokenBalances, true)
	return out, nil
}

// ErrNotPaidOnChain is returned by VerifyOnChain: the chain does not show
// the proven payout.
var ErrNotPaidOnChain = errors.New("settlement: the chain does not show the payout")

// VerifyOnChain checks, from the chain alone, that the proof's payout was
// made: each of its signatures is a transaction finalized without error
// whose memo carries the proof's plan (epochledger:<epoch>:<root>), and
// together they moved exactly the proven amount from a token account of
// mint into the operator's associated token account of it (mint zero:
// the mint the transaction moved). The proof itself is checked with
// Proof.Verify first.
func VerifyOnChain(ctx context.Context, c *Chain, p *projections.Proof, mint solana.PublicKey) error {
	if err := p.Verify(p.Root); err != nil {
		return err
	}
	if len(p.Signatures) == 0 {
		return fmt.Errorf("%w: the proof names no payout transaction (the payout is not confirmed in the log it came from)", ErrNotPaidOnChain)
	}
	owner, err := solana.PublicKeyFromBase58(p.Wallet)
	if err != nil {
		return fmt.Errorf("%w: wallet %q: %v", projections.ErrBadProof, p.Wallet, err)
	}
	memo := domain.Memo(p.Epoch, p.Root)
	var received uint64
	for _, s := range p.Signatures {
		sig, err := solana.SignatureFromBase58(s)
		if err != nil {
			return fmt.Errorf("%w: signature %q: %v", projections.ErrBadProof, s, err)
		}
		t, err := c.ReadTx(ctx, sig)
		if err != nil {
			return err
		}
		switch {
		case t.Status == "":
			return fmt.Errorf("%w: transaction %s is not on chain", ErrNotPaidOnChain, s)
		case t.Status != string(rpc.ConfirmationStatusFinalized):
			return fmt.Errorf("%w: transaction %s is %s, not finalized", ErrNotPaidOnChain, s, t.Status)
		case t.Err != nil:
			return fmt.Errorf("%w: transaction %s failed on chain (%v) and moved nothing", ErrNotPaidOnChain, s, t.Err)
		case !slices.ContainsFunc(t.Memos, func(m string) bool { return domain.MemoOfPlan(m, p.Epoch, p.Root) }):
			return fmt.Errorf("%w: transaction %s's memo %q does not carry the proof's plan %q", ErrNotPaidOnChain, s, t.Memos, memo)
		}
		for acct, m := range t.Moves {
			if m.Owner != owner || m.Received() == 0 || (!mint.IsZero() && m.Mint != mint) {
				continue
			}
			ata, _, err := solana.FindAssociatedTokenAddress(owner, m.Mint)
			if err != nil || ata != acct {
				return fmt.Errorf("%w: transaction %s paid %d base units to %s, a token account of %s that is not its associated token account %s", ErrNotPaidOnChain, s, m.Received(), acct, owner, ata)
			}
			received += m.Received()
		}
	}
	if received != uint64(p.Amount) {
		return fmt.Errorf("%w: transactions %v moved %d base units to %s's token account, the proof says %s", ErrNotPaidOnChain, p.Signatures, received, p.Wallet, p.Amount)
	}
	return nil
}
