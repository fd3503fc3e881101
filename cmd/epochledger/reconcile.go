package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"

	"github.com/gagliardetto/solana-go"

	"github.com/epochledger/epochledger/settlement"
)

func runReconcile(ctx context.Context, e *env, args []string) error {
	var sf storeFlags
	var cf chainFlags
	fs := newFlagSet(e, "reconcile", "--epoch N --rpc URL [--mint ADDR] [--keypair FILE | --authority ADDR | --token-account ADDR] [--json|--csv]", `
Hold every planned payout of epoch N against the chain, reading the chain
only (getTransaction, getSignatureStatuses, getSignaturesForAddress), never
the log's word for what landed. Each operator's line is

  matched           the log says paid and the chain moved exactly the
                    planned amount from the treasury to its token account
                    under the plan's memo
  missing           the log says paid; the chain moved nothing to it
  different_amount  the log says paid; the chain moved another amount
  unpaid            the log does not say paid yet (unsent or in flight)
  unexpected        a finalized transfer from the treasury under the plan's
                    memo that the log does not account for

The mint and the treasury's token account are the ones the epoch's first
landed payout transaction moved tokens from, read from the chain; name
them (--mint and --token-account, --authority or --keypair) to hold the
chain against a treasury of your own, or when nothing of the epoch landed
yet. Exit 0 when every line is matched, 1 on any difference. --csv prints RFC
4180 rows (epoch, operator_id, wallet, token_account, planned, on_chain,
log_state, result, signatures, detail).`)
	sf.register(fs, e)
	cf.register(fs, e, true)
	epoch := fs.Uint64("epoch", 0, "epoch (required)")
	asCSV := fs.Bool("csv", false, "print CSV (RFC 4180) instead of a table")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := epochArgs("reconcile", pos, *epoch); err != nil {
		return err
	}
	if sf.json && *asCSV {
		return usagef("reconcile: --json and --csv exclude each other")
	}
	if err := cf.resolve(); err != nil {
		return err
	}
	var mint, source solana.PublicKey
	if cf.mint != "" {
		if mint, err = solana.PublicKeyFromBase58(cf.mint); err != nil {
			return usagef("reconcile: --mint %q: %v", cf.mint, err)
		}
	}
	switch {
	case cf.source != "":
		if source, err = solana.PublicKeyFromBase58(cf.source); err != nil {
			return usagef("reconcile: --token-account %q: %v", cf.source, err)
		}
	case cf.authority != "" || cf.keypair != "":
		if cf.mint == "" {
			return usagef("reconcile: --authority and --keypair name the treasury's token account by its mint: pass --mint too")
		}
		var auth solana.PublicKey
		if cf.authority != "" {
			if auth, err = solana.PublicKeyFromBase58(cf.authority); err != nil {
				return usagef("reconcile: --authority %q: %v", cf.authority, err)
			}
		} else {
			key, err := settlement.ReadKeypair(cf.keypair)
			if err != nil {
				return fmt.Errorf("reconcile: %w", err)
			}
			auth = key.PublicKey()
		}
		if source, _, err = solana.FindAssociatedTokenAddress(auth, mint); err != nil {
			return fmt.Errorf("reconcile: %w", err)
		}
	}
	l, err := readLedger(ctx, e, &sf)
	if err != nil {
		return err
	}
	chain := cf.dial()
	defer chain.Close()
	if mint.IsZero() || source.IsZero() {
		m, src, err := settlement.LandedTreasury(ctx, chain, l, *epoch)
		if err != nil {
			return fmt.Errorf("reconcile: %w", err)
		}
		if !mint.IsZero() && m != mint {
			return fmt.Errorf("reconcile: epoch %d's payouts moved tokens of mint %s, not of --mint %s", *epoch, m, mint)
		}
		if !source.IsZero() && src != source {
			return fmt.Errorf("reconcile: epoch %d's payouts moved tokens from %s, not from the treasury named (%s)", *epoch, src, source)
		}
		mint, source = m, src
	}
	rec, err := settlement.Reconcile(ctx, chain, l, *epoch, mint, source)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	switch {
	case sf.json:
		if err := writeJSON(e.stdout, rec); err != nil {
			return err
		}
	case *asCSV:
		w := csv.NewWriter(e.stdout)
		w.UseCRLF = true // RFC 4180
		_ = w.Write([]string{"epoch", "operator_id", "wallet", "token_account", "planned", "on_chain", "log_state", "result", "signatures", "detail"})
		for _, line := range rec.Lines {
			_ = w.Write([]string{strconv.FormatUint(rec.Epoch, 10), line.OperatorID, line.Wallet, line.TokenAccount, line.Planned, line.OnChain, line.LogState, line.Result, strings.Join(line.Signatures, " "), line.Detail})
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return err
		}
	default:
		fmt.Fprintf(e.stdout, "epoch %d against %s: %d matched, %d differences\nmemo %s\ntreasury token account %s\n\n", rec.Epoch, cf.rpc, rec.Matched, rec.Differences, rec.Memo, rec.TokenAccount)
		t := newTable(e.stdout, "OPERATOR", "PLANNED", "ON_CHAIN", "LOG", "RESULT", "SIGNATURES")
		for _, line := range rec.Lines {
			op := line.OperatorID
			if op == "" {
				op = "(" + line.Wallet + ")"
			}
			sigs := strings.Join(line.Signatures, ",")
			if sigs == "" {
				sigs = "-"
			}
			t.row(op, line.Planned, line.OnChain, orDash(line.LogState), line.Result, sigs)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if !rec.HistoryComplete {
		fmt.Fprintf(e.stderr, "warning: the treasury token account's history is longer than reconcile reads; unexpected transfers older than that are not listed\n")
	}
	if rec.Differences > 0 {
		for _, line := range rec.Lines {
			if line.Result != settlement.ResultMatched && line.Detail != "" {
				fmt.Fprintf(e.stderr, "%s %s: %s\n", line.Result, line.OperatorID, line.Detail)
			}
		}
		fmt.Fprintf(e.stderr, "epochledger: reconcile: epoch %d: %d of %d lines differ from the chain\n", rec.Epoch, rec.Differences, len(rec.Lines))
		return &silentError{code: 1}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
