package settlement

import (
	"context"
	"fmt"
	"strconv"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
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
