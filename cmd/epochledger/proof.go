package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gagliardetto/solana-go"

	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/settlement"
)

func runProof(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "verify" {
		return runProofVerify(ctx, e, args[1:])
	}
	var sf storeFlags
	fs := newFlagSet(e, "proof", "--epoch N --operator ID [--json] | proof verify [FILE] --root HEX", `
Print the Merkle inclusion proof of an operator's payout in epoch N's
settlement plan: the leaf sha256(0x00 || epoch u64 BE || operator_id || 0x00
|| wallet || amount u64 BE), its index among the plan's leaves (sorted by
operator_id), the sibling hashes up to the root, and the root — which every
payout transaction of the epoch carries in its memo epochledger:<N>:<root>.
With --json it prints the document 'proof verify' reads.

'proof verify [FILE|-] --root HEX' (what an operator runs) reads such a
document and checks it against a root taken from the chain: exit 0 when
valid, 1 when not.`)
	sf.register(fs, e)
	epoch := fs.Uint64("epoch", 0, "epoch (required)")
	operator := fs.String("operator", "", "operator id (required)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("proof: unexpected argument %q", pos[0])
	}
	if *epoch == 0 || *operator == "" {
		return usagef("proof: --epoch N and --operator ID are required")
	}
	l, err := readLedger(ctx, e, &sf)
	if err != nil {
		return err
	}
	ep, err := settlement.ClosedEpoch(l, *epoch)
	if err != nil {
		return fmt.Errorf("proof: %w", err)
	}
	if ep.Settlement == nil {
		return fmt.Errorf("proof: %w: epoch %d has no settlement plan yet", settlement.ErrNotPlanned, *epoch)
	}
	p, err := projections.BuildProof(ep.Settlement, *operator)
	if err != nil {
		return fmt.Errorf("proof: %w", err)
	}
	if sf.json {
		return writeJSON(e.stdout, p)
	}
	paid := "not yet confirmed"
	if len(p.Signatures) > 0 {
		paid = "confirmed in " + strings.Join(p.Signatures, ", ")
	}
	fmt.Fprintf(e.stdout, "epoch      %d\noperator   %s\nwallet     %s\namount     %s base units (%s RENDER)\nleaf       %s (index %d of %d)\nroot       %s\nmemo       %s\npaid       %s\nproof\n",
		p.Epoch, p.OperatorID, p.Wallet, p.Amount, p.Amount.RenderString(), p.Leaf, p.LeafIndex, p.LeafCount, p.Root, p.Memo, paid)
	for i, h := range p.Proof {
		fmt.Fprintf(e.stdout, "  %2d  %s\n", i, h)
	}
	return nil
}

func runProofVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "proof verify", "[FILE|-] (--root HEX | --rpc URL [--mint ADDR])", `
Check an inclusion proof (the JSON of 'proof --json', from FILE or standard
input) against --root, the 64-hex root read from the memo of a payout
transaction on chain. The leaf is recomputed from the epoch, operator,
wallet and amount in the document. Exit 0 when the proof is valid, 1 when
it is not.

With --rpc URL it also checks on chain that the money moved: each payout
transaction the proof names (its signatures) must be finalized without
error, its memo must carry the proof's root (epochledger:<epoch>:<root>),
and together they must move exactly the proven amount into the wallet's
associated token account (of --mint when given); exit 1 naming what
differs. --root is then optional (the proof's own root, which the chain's
memo must carry).`)
	root := fs.String("root", "", "Merkle root to check against, 64 lowercase hex (required without --rpc)")
	rpcURL := fs.String("rpc", "", "Solana JSON-RPC URL: check the payout on chain")
	mintFlag := fs.String("mint", "", "with --rpc: the RENDER mint the payout must be of (default: any)")
	asJSON := fs.Bool("json", false, "print {\"valid\":…} as JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("proof verify: at most one FILE")
	}
	if *root == "" && *rpcURL == "" {
		return usagef("proof verify: --root HEX is required (take it from the payout transaction's memo), or --rpc URL to check on chain")
	}
	var mint solana.PublicKey
	if *mintFlag != "" {
		var err error
		if mint, err = solana.PublicKeyFromBase58(*mintFlag); err != nil {
			return usagef("proof verify: --mint %q: %v", *mintFlag, err)
		}
	}
	var r io.Reader = e.stdin
	name := "standard input"
	if len(pos) == 1 && pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return fmt.Errorf("proof verify: %w", err)
		}
		defer f.Close()
		r, name = f, pos[0]
	}
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return fmt.Errorf("proof verify: read %s: %w", name, err)
	}
	var p projections.Proof
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("proof verify: %s is not a proof document: %w", name, err)
	}
	want := strings.ToLower(strings.TrimSpace(*root))
	if want == "" {
		want = p.Root
	}
	verr := p.Verify(want)
	if verr == nil && *rpcURL != "" {
		if want != p.Root {
			verr = fmt.Errorf("%w: the proof is of root %s, not %s", projections.ErrBadProof, p.Root, want)
		} else {
			chain := settlement.Dial(*rpcURL)
			defer chain.Close()
			verr = settlement.VerifyOnChain(ctx, chain, &p, mint)
		}
	}
	if *asJSON {
		out := struct {
			Valid  bool   `json:"valid"`
			Reason string `json:"reason,omitempty"`
		}{Valid: verr == nil}
		if verr != nil {
			out.Reason = verr.Error()
		}
		if err := writeJSON(e.stdout, out); err != nil {
			return err
		}
		if verr != nil {
			return &silentError{code: 1}
		}
		return nil
	}
	if verr != nil {
		if errors.Is(verr, projections.ErrBadProof) || errors.Is(verr, settlement.ErrNotPaidOnChain) {
			fmt.Fprintf(e.stdout, "INVALID: %v\n", verr)
			return &silentError{code: 1}
		}
		return fmt.Errorf("proof verify: %w", verr)
	}
	if *rpcURL != "" {
		fmt.Fprintf(e.stdout, "valid on chain: %s was paid %s base units (%s RENDER) to %s in epoch %d's settlement with root %s, by finalized transaction(s) %s\n",
			p.OperatorID, p.Amount, p.Amount.RenderString(), p.Wallet, p.Epoch, want, strings.Join(p.Signatures, ", "))
		return nil
	}
	fmt.Fprintf(e.stdout, "valid: %s is paid %s base units (%s RENDER) in epoch %d's settlement with root %s\n", p.OperatorID, p.Amount, p.Amount.RenderString(), p.Epoch, want)
	return nil
}
