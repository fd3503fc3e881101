package settlement

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"
)

// Chain is the Solana JSON-RPC endpoint settlement talks to, polled over
// HTTP (no WebSocket). Every call has its own timeout, so a node that
// accepts a request and never answers costs one timeout, not the run.
type Chain struct {
	URL         string
	rpc         *rpc.Client
	CallTimeout time.Duration // reads
	SendTimeout time.Duration // sendTransaction
}

// Dial returns a client of url; it does not connect (see Chain.Ping).
func Dial(url string) *Chain {
	return &Chain{URL: url, rpc: rpc.New(url), CallTimeout: 10 * time.Second, SendTimeout: 10 * time.Second}
}

// Close releases idle connections.
func (c *Chain) Close() error { return c.rpc.Close() }

// RPC returns the underlying solana-go client.
func (c *Chain) RPC() *rpc.Client { return c.rpc }

func (c *Chain) call(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// ErrRPC wraps failures to reach or use the RPC endpoint.
var ErrRPC = errors.New("settlement: RPC")

func (c *Chain) wrap(method string, err error) error {
	return fmt.Errorf("%w %s: %s: %w", ErrRPC, c.URL, method, err)
}

// Ping checks that the endpoint answers (getLatestBlockhash, which every
// node serves, rather than getHealth, which some proxies hide).
func (c *Chain) Ping(ctx context.Context) error {
	_, _, err := c.LatestBlockhash(ctx)
	return err
}

// LatestBlockhash returns the newest finalized blockhash and the last block
// height at which a transaction using it can land.
func (c *Chain) LatestBlockhash(ctx context.Context) (solana.Hash, uint64, error) {
	cctx, cancel := c.call(ctx, c.CallTimeout)
	defer cancel()
	res, err := c.rpc.GetLatestBlockhash(cctx, rpc.CommitmentFinalized)
	if err != nil {
		return solana.Hash{}, 0, c.wrap("getLatestBlockhash", err)
	}
	if res == nil || res.Value == nil {
		return solana.Hash{}, 0, c.wrap("getLatestBlockhash", errors.New("empty answer"))
	}
	return res.Value.Blockhash, res.Value.LastValidBlockHeight, nil
}

// BlockHeight returns the finalized block height.
func (c *Chain) BlockHeight(ctx context.Context) (uint64, error) {
	cctx, cancel := c.call(ctx, c.CallTimeout)
	defer cancel()
	h, err := c.rpc.GetBlockHeight(cctx, rpc.CommitmentFinalized)
	if err != nil {
		return 0, c.wrap("getBlockHeight", err)
	}
	return h, nil
}

// Accounts returns the raw data of accounts (nil for those that do not
// exist), asking 100 at a time.
func (c *Chain) Accounts(ctx context.Context, keys []solana.PublicKey) ([]*rpc.Account, error) {
	out := make([]*rpc.Account, 0, len(keys))
	for i := 0; i < len(keys); i += 100 {
		chunk := keys[i:min(i+100, len(keys))]
		cctx, cancel := c.call(ctx, c.CallTimeout)
		res, err := c.rpc.GetMultipleAccountsWithOpts(cctx, chunk, &rpc.GetMultipleAccountsOpts{Encoding: solana.EncodingBase64, Commitment: rpc.CommitmentFinalized})
		cancel()
		if err != nil {
			return nil, c.wrap("getMultipleAccounts", err)
		}
		if len(res.Value) != len(chunk) {
			return nil, c.wrap("getMultipleAccounts", fmt.Errorf("%d accounts answered for %d asked", len(res.Value), len(chunk)))
		}
		out = append(out, res.Value...)
	}
	return out, nil
}

// Account returns one account's data, nil when it does not exist.
func (c *Chain) Account(ctx context.Context, key solana.PublicKey) (*rpc.Account, error) {
	a, err := c.Accounts(ctx, []solana.PublicKey{key})
	if err != nil {
		return nil, err
	}
	return a[0], nil
}

// Lamports returns an account's SOL balance (0 when it does not exist).
func (c *Chain) Lamports(ctx context.Context, key solana.PublicKey) (uint64, error) {
	a, err := c.Account(ctx, key)
	if err != nil || a == nil {
		return 0, err
	}
	return a.Lamports, nil
}

// Statuses returns the status of each signature, searching the whole
// transaction history (a status is nil when the signature is unknown), 256
// per request.
func (c *Chain) Statuses(ctx context.Context, sigs []solana.Signature) ([]*rpc.SignatureStatusesResult, error) {
	out := make([]*rpc.SignatureStatusesResult, 0, len(sigs))
	for i := 0; i < len(sigs); i += 256 {
		chunk := sigs[i:min(i+256, len(sigs))]
		cctx, cancel := c.call(ctx, c.CallTimeout)
		res, err := c.rpc.GetSignatureStatuses(cctx, true, chunk...)
		cancel()
		if err != nil {
			return nil, c.wrap("getSignatureStatuses", err)
		}
		if len(res.Value) != len(chunk) {
			return nil, c.wrap("getSignatureStatuses", fmt.Errorf("%d statuses answered for %d asked", len(res.Value), len(chunk)))
		}
		out = append(out, res.Value...)
	}
	return out, nil
}

// sendOutcome classifies the answer to one sendTransaction.
type sendOutcome int

const (
	sendAccepted  sendOutcome = iota // the node took it
	sendUnknown                      // no answer (timeout, connection): it may have landed
	sendRefused                      // the node refused it without executing (unhealthy, overloaded…)
	sendProcessed                    // "already processed": it landed earlier
	sendFailed                       // preflight ran it and it fails: it cannot land as things stand
	sendExpired                      // preflight does not know the blockhash
	sendInvalid                      // malformed or oversize: a bug; it never lands
)

func (o sendOutcome) String() string {
	return [...]string{"accepted", "no answer", "refused", "already processed", "fails in preflight", "blockhash not found", "invalid"}[o]
}

// Send submits a signed transaction in wire form with preflight at
// finalized commitment and classifies the answer. The error carries the
// node's words.
func (c *Chain) Send(ctx context.Context, raw []byte) (sendOutcome, error) {
	cctx, cancel := c.call(ctx, c.SendTimeout)
	defer cancel()
	_, err := c.rpc.SendRawTransactionWithOpts(cctx, raw, rpc.TransactionOpts{PreflightCommitment: rpc.CommitmentFinalized})
	if err == nil {
		return sendAccepted, nil
	}
	var re *jsonrpc.RPCError
	if !errors.As(err, &re) {
		return sendUnknown, c.wrap("sendTransaction", err)
	}
	werr := c.wrap("sendTransaction", fmt.Errorf("%d %s", re.Code, re.Message))
	switch re.Code {
	case -32002: // Transaction simulation failed: …
		switch {
		case strings.Contains(re.Message, "already been processed") || errName(re.Data) == "AlreadyProcessed":
			return sendProcessed, nil
		case strings.Contains(re.Message, "Blockhash not found") || errName(re.Data) == "BlockhashNotFound":
			return sendExpired, werr
		}
		return sendFailed, werr
	case -32602, -32003: // invalid params (size, encoding); signature verification failure
		return sendInvalid, werr
	}
	return sendRefused, werr
}

// errName returns the TransactionError name in an RPC error's data
// ({"err":"BlockhashNotFound",…}), or "".
func errName(data any) string {
	m, ok := data.(map[string]any)
	if !ok {
		return ""
	}
	s, _ := m["err"].(string)
	return s
}

// Simulate runs a transaction through simulateTransaction without sending it.
func (c *Chain) Simulate(ctx context.Context, tx *solana.Transaction, sigVerify bool) (*rpc.SimulateTransactionResult, error) {
	cctx, cancel := c.call(ctx, c.CallTimeout)
	defer cancel()
	res, err := c.rpc.SimulateTransactionWithOpts(cctx, tx, &rpc.SimulateTransactionOpts{SigVerify: sigVerify, Commitment: rpc.CommitmentFinalized})
	if err != nil {
		return nil, c.wrap("simulateTransaction", err)
	}
	if res == nil || res.Value == nil {
		return nil, c.wrap("simulateTransaction", errors.New("empty answer"))
	}
	return res.Value, nil
}

// Token program account layouts (spl-token state.rs).
const (
	mintLen         = 82
	mintDecimalsOff = 44
	mintInitOff     = 45

	tokenAccountLen = 165
	tokenStateOff   = 108 // 0 uninitialized, 1 initialized, 2 frozen
)

// MintInfo reads a mint account: it must belong to the SPL Token program
// and be initialized.
func (c *Chain) MintInfo(ctx context.Context, mint solana.PublicKey) (decimals uint8, err error) {
	a, err := c.Account(ctx, mint)
	if err != nil {
		return 0, err
	}
	if a == nil {
		return 0, fmt.Errorf("mint %s does not exist on %s", mint, c.URL)
	}
	d := a.Data.GetBinary()
	if a.Owner != solana.TokenProgramID || len(d) != mintLen || d[mintInitOff] != 1 {
		return 0, fmt.Errorf("%s is not an SPL Token mint (owner %s, %d bytes)", mint, a.Owner, len(d))
	}
	return d[mintDecimalsOff], nil
}

// TokenAccount is the state of an SPL token account.
type TokenAccount struct {
	Mint, Owner solana.PublicKey
	Amount      uint64
	Frozen      bool
}

// TokenAccountInfo reads a token account; nil when it does not exist.
func (c *Chain) TokenAccountInfo(ctx context.Context, key solana.PublicKey) (*TokenAccount, error) {
	a, err := c.Account(ctx, key)
	if err != nil || a == nil {
		return nil, err
	}
	d := a.Data.GetBinary()
	if a.Owner != solana.TokenProgramID || len(d) != tokenAccountLen || d[tokenStateOff] == 0 {
		return nil, fmt.Errorf("%s is not an SPL token account (owner %s, %d bytes)", key, a.Owner, len(d))
	}
	return &TokenAccount{
		Mint:   solana.PublicKeyFromBytes(d[0:32]),
		Owner:  solana.PublicKeyFromBytes(d[32:64]),
		Amount: binary.LittleEndian.Uint64(d[64:72]),
		Frozen: d[tokenStateOff] == 2,
	}, nil
}

// Transaction returns a finalized transaction with its meta, nil when the
// chain does not have it (or not finalized yet). Version-0 transactions
// are accepted.
func (c *Chain) Transaction(ctx context.Context, sig solana.Signature) (*rpc.GetTransactionResult, error) {
	cctx, cancel := c.call(ctx, c.CallTimeout)
	defer cancel()
	v := uint64(0)
	res, err := c.rpc.GetTransaction(cctx, sig, &rpc.GetTransactionOpts{Encoding: solana.EncodingBase64, Commitment: rpc.CommitmentFinalized, MaxSupportedTransactionVersion: &v})
	if errors.Is(err, rpc.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, c.wrap("getTransaction", err)
	}
	return res, nil
}

// BlockhashValid reports whether a transaction using blockhash can still
// land: the node knows it (at processed commitment, the newest view) and it
// is not past its last valid height.
func (c *Chain) BlockhashValid(ctx context.Context, blockhash solana.Hash) (bool, error) {
	cctx, cancel := c.call(ctx, c.CallTimeout)
	defer cancel()
	res, err := c.rpc.IsBlockhashValid(cctx, blockhash, rpc.CommitmentProcessed)
	if err != nil {
		return false, c.wrap("isBlockhashValid", err)
	}
	return res.Value, nil
}

// SignaturesFor returns the signatures of transactions that touched
// address, newest first, reading at most pages pages of 1,000; complete is
// false when there were more.
func (c *Chain) SignaturesFor(ctx context.Context, address solana.PublicKey, pages int) (out []*rpc.TransactionSignature, complete bool, err error) {
	var before solana.Signature
	for range pages {
		cctx, cancel := c.call(ctx, c.CallTimeout)
		limit := 1000
		opts := &rpc.GetSignaturesForAddressOpts{Limit: &limit, Commitment: rpc.CommitmentFinalized, Before: before}
		page, err := c.rpc.GetSignaturesForAddressWithOpts(cctx, address, opts)
		cancel()
		if err != nil {
			return nil, false, c.wrap("getSignaturesForAddress", err)
		}
		out = append(out, page...)
		if len(page) < limit {
			return out, true, nil
		}
		before = page[len(page)-1].Signature
	}
	return out, false, nil
}
