// Command epochledger is the event-sourced ledger and weekly epoch
// settlement engine of a GPU rendering network running
// Burn-Mint-Equilibrium on Solana.
//
// Exit codes: 0 success, 1 refused input or failed check (the message names
// the line, event, field and rule), 2 usage errors.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand: its flags and printing live in its own file.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// commands is every subcommand, in the order --help lists them. It is a
// function, not a variable, because commands that run others (scenario)
// reach run, which reads this table.
func commands() []command {
	return []command{
		{"balances", "allocated, paid, in flight and owed RENDER per operator", runBalances},
		{"bench", "benchmarks with same-run baselines: bench store|replay|settle", runBench},
		{"export", "print the log as JSON Lines (what import reads)", runExport},
		{"import", "validate a JSON Lines file of events and append it atomically", runImport},
		{"job", "a job's status, frames, burn and Proof-of-Render provenance root", runJob},
		{"keygen", "create a node key (Solana CLI keypair JSON) and print its public key", runKeygen},
		{"localnet", "run a local Solana VM (LiteSVM) with an 8-decimal mint and a funded treasury", runLocalnet},
		{"migrate", "copy the embedded log into EventStoreDB or PostgreSQL idempotently and verify the copy", runMigrate},
		{"proof", "Merkle inclusion proof of a payout; proof verify checks one against a root", runProof},
		{"reconcile", "every planned payout of an epoch against the chain; exit 1 on any difference", runReconcile},
		{"replay", "rebuild all projections from position 1 and print epoch summaries", runReplay},
		{"scenario", "play a scripted network week with real worker processes: scenario run FILE", runScenario},
		{"serve", "the coordinator: HTTP API for workers, artists and admin, and the epoch clock", runServe},
		{"settle", "settlement batch on Solana: settle plan|submit|status|import-signed|sign", runSettle},
		{"shares", "work per operator in an epoch (OBh, USD value) and allocated base units", runShares},
		{"supply", "BME supply: minted vs burned, bridge conversions", runSupply},
		{"verify", "check framing, CRCs and the hash chain of the whole log", runVerify},
		{"worker", "a GPU worker process: lease, render, sign, report (worker register: register its node)", runWorker},
	}
}

// lookup returns the command called name, or nil.
func lookup(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return &c
		}
	}
	return nil
}

// env is what every command gets: its streams and the environment.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// usageError is a misuse of the command line: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// silentError carries an exit code for a failure already reported.
type silentError struct{ code int }

func (e *silentError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				return exitCode(e, c.run(ctx, e, []string{"--help"}))
			}
		}
		printUsage(e.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "version" {
		fmt.Fprintln(e.stdout, "epochledger", version)
		return 0
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(e.stderr, "epochledger: unknown command %q\n\n", args[0])
		printUsage(e.stderr)
		return 2
	}
	return exitCode(e, c.run(ctx, e, args[1:]))
}

const version = "0.1.0"

func exitCode(e *env, err error) int {
	if err == nil {
		return 0
	}
	var se *silentError
	if errors.As(err, &se) {
		return se.code
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(e.stderr, "epochledger:", ue.msg)
		return 2
	}
	if errors.Is(err, errHelp) {
		return 0
	}
	fmt.Fprintln(e.stderr, "epochledger:", err)
	return 1
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `epochledger — event-sourced ledger and weekly BME settlement for a GPU rendering network

Usage: epochledger <command> [flags] [args]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Every command takes --data DIR (embedded store, default ./data; env EPOCHLEDGER_DATA)
or --store URL (esdb://… or postgres://…; env EPOCHLEDGER_STORE), and --json for machine-readable output.
Exit status: 0 success, 1 refused input or failed check, 2 usage error.
Run 'epochledger <command> --help' for a command's flags.
`)
}
