package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/settlement"
	"github.com/epochledger/epochledger/settlement/localnet"
)

// scenarioSettlement is what `scenario run` did on chain after the week:
// the closed epochs settled on an embedded local VM, reconciled, and one
// operator's proof verified on chain.
type scenarioSettlement struct {
	// Skipped says why the step did not run (no Node.js, --settle=false…).
	Skipped string                 `json:"skipped,omitempty"`
	RPC     string                 `json:"rpc,omitempty"`
	Epochs  []scenarioSettledEpoch `json:"epochs,omitempty"`
	OK      bool                   `json:"ok"`
}

type scenarioSettledEpoch struct {
	Epoch         uint64   `json:"epoch"`
	Root          string   `json:"root"`
	Payouts       int      `json:"payouts"`
	Paid          string   `json:"paid"` // base units
	Signatures    []string `json:"signatures"`
	Reconciled    bool     `json:"reconciled"` // reconcile: every line matched
	ProofOperator string   `json:"proof_operator,omitempty"`
	ProofOnChain  bool     `json:"proof_verified_on_chain"`
	Error         string   `json:"error,omitempty"`
}

// settleScenario settles every closed, unplanned epoch of the log in data
// on a local VM started for the purpose (state in data/scenario/localnet):
// plan, submit, reconcile, and proof verify on chain for the epoch's first
// payee. A local VM that cannot start (no Node.js, no litesvm package) is a
// skip with its reason, not a failure; anything after it that fails is.
func settleScenario(ctx context.Context, data string, progress io.Writer) *scenarioSettlement {
	out := &scenarioSettlement{}
	say := func(format string, a ...any) {
		if progress != nil {
			fmt.Fprintf(progress, "settle: "+format+"\n", a...)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	ln, err := localnet.Start(sctx, localnet.Options{StateDir: filepath.Join(data, "scenario", "localnet"), NodeBin: scenarioNodeBin})
	if err != nil {
		out.Skipped = fmt.Sprintf("no local Solana VM: %v", err)
		if errors.Is(err, localnet.ErrNodeNotFound) {
			out.Skipped = "Node.js (≥ 20) is not installed, so the local Solana VM cannot run; install it, or pass --settle=false"
		}
		say("skipped: %s", out.Skipped)
		return out
	}
	defer ln.Close()
	out.RPC = ln.RPC
	say("local Solana VM on %s", ln.RPC)
	s, err := filestore.Open(data, nil)
	if err != nil {
		out.Epochs = append(out.Epochs, scenarioSettledEpoch{Error: err.Error()})
		return out
	}
	defer s.Close()
	l, err := projections.Build(sctx, s, projections.Config{}, nil)
	if err != nil {
		out.Epochs = append(out.Epochs, scenarioSettledEpoch{Error: err.Error()})
		return out
	}
	j := settlement.NewJournal(s, l)
	chain := settlement.Dial(ln.RPC)
	defer chain.Close()
	out.OK = true
	for n := uint64(1); n <= l.ClosedEpochs(); n++ {
		if l.Epoch(n).Settlement != nil {
			continue
		}
		r := scenarioSettledEpoch{Epoch: n, Signatures: []string{}}
		if err := settleEpoch(sctx, j, chain, ln, &r); err != nil {
			r.Error = err.Error()
			out.OK = false
		}
		say("epoch %d: %d payouts in %d transactions, reconcile %s, proof of %s on chain %s", n, r.Payouts, len(r.Signatures), okText(r.Reconciled), r.ProofOperator, okText(r.ProofOnChain))
		out.Epochs = append(out.Epochs, r)
	}
	return out
}

func settleEpoch(ctx context.Context, j *settlement.Journal, chain *settlement.Chain, ln *localnet.Localnet, r *scenarioSettledEpoch) error {
	p, err := settlement.Derive(j.Ledger(), r.Epoch)
	if err != nil {
		return err
	}
	if _, err := settlement.Record(ctx, j, p); err != nil {
		return err
	}
	r.Root, r.Payouts = p.RootHex(), len(p.Payouts)
	if len(p.Payouts) == 0 {
		r.Reconciled, r.ProofOnChain = true, true
		return nil
	}
	rep, err := settlement.NewSettler(chain, j, settlement.Config{Epoch: r.Epoch, Mint: ln.Mint, Signer: ln.Treasury, Poll: 5 * time.Millisecond, MaxWait: time.Minute}).Submit(ctx)
	if err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	r.Paid, r.Signatures = rep.Paid.String(), rep.Signatures
	rec, err := settlement.Reconcile(ctx, chain, j.Ledger(), r.Epoch, ln.Mint, ln.TreasuryTokenAccount)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	r.Reconciled = rec.Differences == 0
	if !r.Reconciled {
		return fmt.Errorf("reconcile: %d of %d lines differ from the chain", rec.Differences, len(rec.Lines))
	}
	r.ProofOperator = p.Payouts[0].OperatorID
	proof, err := projections.BuildProof(j.Ledger().Epoch(r.Epoch).Settlement, r.ProofOperator)
	if err != nil {
		return err
	}
	if err := settlement.VerifyOnChain(ctx, chain, proof, ln.Mint); err != nil {
		return fmt.Errorf("proof verify --rpc: %w", err)
	}
	r.ProofOnChain = true
	return nil
}

func okText(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAILED"
}

// printScenarioSettlement prints the settle step of `scenario run`.
func printScenarioSettlement(w io.Writer, data string, st *scenarioSettlement) {
	if st.Skipped != "" {
		fmt.Fprintf(w, "\nsettlement on chain: skipped (%s)\n", st.Skipped)
		return
	}
	fmt.Fprintf(w, "\nsettlement on a local Solana VM (%s; it stopped with this run)\n", st.RPC)
	for _, r := range st.Epochs {
		fmt.Fprintf(w, "epoch %d: %d payouts, %s RENDER in %d transactions, root %s\n", r.Epoch, r.Payouts, renderText(r.Paid), len(r.Signatures), r.Root)
		for _, sig := range r.Signatures {
			fmt.Fprintf(w, "  %s\n", sig)
		}
		fmt.Fprintf(w, "  reconcile = %s; proof verify --rpc of %s = %s\n", okText(r.Reconciled), r.ProofOperator, okText(r.ProofOnChain))
		if r.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", r.Error)
		}
	}
	fmt.Fprintf(w, "settle status: epochledger settle status --epoch 1 --data %s\n", data)
}

// scenarioNodeBin is the Node.js binary of the settle step ("" finds node
// on PATH); tests point it at a missing one.
var scenarioNodeBin = ""
