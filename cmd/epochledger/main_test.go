package main

import (
	"strings"
	"testing"
)

// helpText is what `epochledger --help` prints, byte for byte: the command
// table of main.go in its order. A command added, renamed or reworded
// changes the contract and this text with it.
const helpText = `epochledger — event-sourced ledger and weekly BME settlement for a GPU rendering network

Usage: epochledger <command> [flags] [args]

Commands:
  balances   allocated, paid, in flight and owed RENDER per operator
  bench      benchmarks with same-run baselines: bench store|replay|settle
  export     print the log as JSON Lines (what import reads)
  import     validate a JSON Lines file of events and append it atomically
  job        a job's status, frames, burn and Proof-of-Render provenance root
  keygen     create a node key (Solana CLI keypair JSON) and print its public key
  localnet   run a local Solana VM (LiteSVM) with an 8-decimal mint and a funded treasury
  migrate    copy the embedded log into EventStoreDB or PostgreSQL idempotently and verify the copy
  proof      Merkle inclusion proof of a payout; proof verify checks one against a root
  reconcile  every planned payout of an epoch against the chain; exit 1 on any difference
  replay     rebuild all projections from position 1 and print epoch summaries
  scenario   play a scripted network week with real worker processes: scenario run FILE
  serve      the coordinator: HTTP API for workers, artists and admin, and the epoch clock
  settle     settlement batch on Solana: settle plan|submit|status|import-signed|sign
  shares     work per operator in an epoch (OBh, USD value) and allocated base units
  supply     BME supply: minted vs burned, bridge conversions
  verify     check framing, CRCs and the hash chain of the whole log
  worker     a GPU worker process: lease, render, sign, report (worker register: register its node)

Every command takes --data DIR (embedded store, default ./data; env EPOCHLEDGER_DATA)
or --store URL (esdb://… or postgres://…; env EPOCHLEDGER_STORE), and --json for machine-readable output.
Exit status: 0 success, 1 refused input or failed check, 2 usage error.
Run 'epochledger <command> --help' for a command's flags.
`

// TestHelpCommandList pins the top-level usage and its exit codes: 0 for
// --help, -h and help; 2 with no arguments (usage on stdout) and for an
// unknown command (usage on stderr after the complaint).
func TestHelpCommandList(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		code, out, errOut := cli(t, "", args...)
		if code != 0 || out != helpText || errOut != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout:\n%s", args, code, errOut, out)
		}
	}
	if code, out, _ := cli(t, ""); code != 2 || out != helpText {
		t.Errorf("no arguments: exit %d, stdout:\n%s", code, out)
	}
	code, out, errOut := cli(t, "", "nosuch")
	if want := "epochledger: unknown command \"nosuch\"\n\n" + helpText; code != 2 || out != "" || errOut != want {
		t.Errorf("unknown command: exit %d, stdout %q, stderr:\n%s", code, out, errOut)
	}
}

// TestEveryCommandHelp runs each command of the table with --help, and as
// `help NAME`: exit 0 and its own usage line, the same text both ways.
func TestEveryCommandHelp(t *testing.T) {
	cmds := commands()
	if len(cmds) != strings.Count(helpText, "\n  ") {
		t.Fatalf("%d commands in the table, %d in the pinned --help", len(cmds), strings.Count(helpText, "\n  "))
	}
	for _, c := range cmds {
		code, out, errOut := cli(t, "", c.name, "--help")
		if code != 0 || !strings.HasPrefix(out, "Usage: epochledger "+c.name+" ") {
			t.Errorf("%s --help: exit %d, stderr %q, stdout %.80q", c.name, code, errOut, out)
		}
		if code2, out2, _ := cli(t, "", "help", c.name); code2 != code || out2 != out {
			t.Errorf("help %s differs from %s --help (exit %d, %.80q)", c.name, c.name, code2, out2)
		}
	}
}
