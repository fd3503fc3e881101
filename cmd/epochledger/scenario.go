package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/epochledger/epochledger/scenarios"
)

func runScenario(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "run" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(e.stdout, "Usage: epochledger scenario run FILE [--data DIR] [--json]")
			return nil
		}
		return usagef("scenario: want 'scenario run FILE' (see 'epochledger scenario run --help')")
	}
	fs := newFlagSet(e, "scenario run", "FILE [--data DIR] [--json]", `
Play a scripted network week (see scenarios/demo-week.json and the package
documentation of scenarios for the format): start a coordinator on a fresh
embedded log in --data, register the operators' nodes, spawn one real
worker process per node (this binary, 'worker'), submit the jobs, inject
the faults (SIGKILL mid-frame, a cheater, duplicate reports, a late
report), close the epoch, then verify the log, replay it and print each
operator's work share and allocation — what settlement pays.

Then, by default, it settles the closed epoch on chain: it starts a local
Solana VM (LiteSVM; needs Node.js ≥ 20, state in DIR/scenario/localnet),
plans, submits (printing the signatures), reconciles the plan against the
chain and verifies one operator's proof on chain — from a GPU frame to a
verified payout in one command. Without Node.js it says why and skips the
step; --settle=false skips it.

--data must not exist, be empty or hold an earlier scenario run (which is
replaced). Keys, worker logs and a copy of the scenario go to
DIR/scenario/. Exit status 1 when a fault did not have its effect or the
log does not verify and replay identically.`)
	data := fs.String("data", "./data-demo", "directory of the run's event log")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	settle := fs.Bool("settle", true, "settle the closed epochs on an embedded local Solana VM after the week (skipped with a reason when Node.js is missing)")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("scenario run: want exactly one FILE")
	}
	sc, err := scenarios.Load(pos[0])
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var progress io.Writer
	if !*asJSON {
		progress = e.stderr
	}
	rep, err := scenarios.Run(ctx, sc, scenarios.Options{Exe: exe, DataDir: *data, Progress: progress})
	if err != nil {
		return err
	}
	st := &scenarioSettlement{Skipped: "--settle=false"}
	if *settle && rep.OK() {
		st = settleScenario(ctx, *data, progress)
	} else if *settle {
		st.Skipped = "the week's checks failed"
	}
	if *asJSON {
		if err := writeJSON(e.stdout, struct {
			*scenarios.Report
			Settlement *scenarioSettlement `json:"settlement"`
		}{rep, st}); err != nil {
			return err
		}
	} else {
		printScenario(e.stdout, sc, rep)
		printScenarioSettlement(e.stdout, *data, st)
	}
	if st.Skipped == "" && !st.OK {
		if !*asJSON {
			fmt.Fprintln(e.stderr, "epochledger: scenario: settling on the local VM failed (see above)")
		}
		return &silentError{code: 1}
	}
	if !rep.OK() {
		if !*asJSON {
			fmt.Fprintln(e.stderr, "epochledger: scenario checks failed (see above)")
		}
		return &silentError{code: 1}
	}
	return nil
}

func printScenario(w io.Writer, sc *scenarios.Scenario, rep *scenarios.Report) {
	frames := uint32(0)
	for _, j := range sc.Jobs {
		frames += j.Frames
	}
	fmt.Fprintf(w, "\nscenario %s: %d operators, %d nodes (one worker process each), %d jobs of %d frames, in %.1f s\n",
		rep.Scenario, len(sc.Operators), len(sc.Nodes), len(sc.Jobs), frames, rep.ElapsedSeconds)
	check := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "FAILED"
	}
	fmt.Fprintf(w, "log %s: %d events, verify %s (head hash %.16s…), replay gives identical shares: %s\n",
		rep.DataDir, rep.Events, check(rep.LogVerified), rep.HeadHash, check(rep.ReplayIdentical))
	if len(rep.Faults) > 0 {
		fmt.Fprintln(w, "\nfaults")
		t := newTable(w, "FAULT", "NODE", "CHECK", "WHAT HAPPENED")
		for _, f := range rep.Faults {
			t.row(f.Type, f.Node, check(f.OK), f.Detail)
		}
		_ = t.flush()
	}
	fmt.Fprintln(w, "\njobs")
	t := newTable(w, "JOB", "FRAMES", "ACCEPTED", "REJECTED", "BURNED_RENDER", "EPOCH", "PROVENANCE_ROOT")
	for _, j := range rep.Jobs {
		t.row(j.JobID, fmt.Sprint(j.Frames), fmt.Sprint(j.Accepted), fmt.Sprint(j.Rejected), renderText(j.Burned), fmt.Sprint(j.BurnEpoch), j.ProvenanceRoot)
	}
	_ = t.flush()
	for _, d := range rep.Epochs {
		fmt.Fprintln(w)
		_ = printShares(&env{stdout: w, stderr: io.Discard}, &storeFlags{}, d, "", false)
	}
	if d := rep.OpenEpoch; d != nil {
		fmt.Fprintf(w, "\nepoch %d is open: results reported after epoch %d closed count here (allocation if it closed now)\n", d.Epoch, d.Epoch-1)
		_ = printShares(&env{stdout: w, stderr: io.Discard}, &storeFlags{}, d, "", false)
	}
	if len(rep.Availability) > 0 {
		fmt.Fprintln(w, "\nnode availability (online from signed heartbeats, busy from leases held; idle online time earns the availability channel)")
		t := newTable(w, "EPOCH", "NODE", "OPERATOR", "WINDOW_MS", "ONLINE_MS", "BUSY_MS", "IDLE_%", "POINTS", "RANK")
		for _, a := range rep.Availability {
			idle := "0"
			if a.WindowMS > 0 {
				idle = fmt.Sprintf("%.1f", 100*float64(a.OnlineMS-a.BusyMS)/float64(a.WindowMS))
			}
			rank := "-"
			if a.Rank > 0 {
				rank = fmt.Sprint(a.Rank)
			}
			t.row(fmt.Sprint(a.Epoch), a.NodeID, a.OperatorID, fmt.Sprint(a.WindowMS), fmt.Sprint(a.OnlineMS), fmt.Sprint(a.BusyMS), idle, a.Points, rank)
		}
		_ = t.flush()
	}
	fmt.Fprintln(w, "\nbalances (RENDER base units; an operator without a wallet is carried forward until it sets one)")
	t = newTable(w, "OPERATOR", "WALLET", "ALLOCATED", "OWED", "RENDER", "NOTE")
	for _, b := range rep.Balances {
		note, wallet := "", b.Wallet
		if wallet == "" {
			wallet = "-"
		}
		if b.CarriedForward {
			note = "no wallet: carried forward"
		}
		t.row(b.OperatorID, wallet, b.Allocated, b.Owed, renderText(b.Owed), note)
	}
	_ = t.flush()
	fmt.Fprintf(w, "\naudit it: epochledger verify --data %[1]s; epochledger shares --epoch 1 --data %[1]s\n", rep.DataDir)
}
