package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/projections"
)

// queryCmd parses the common flags of a read-only query and folds the log.
// validate checks the arguments before the log is opened (usage errors
// come first).
// fast, when set, may answer from the open store without a fold (it
// returns done).
func queryCmd(ctx context.Context, e *env, name, argsUsage, about string, args []string, extra func(*flagSetT), validate func(pos []string) error, fast ...func(context.Context, *storeFlags, eventstore.Store) (bool, error)) (*projections.Ledger, *storeFlags, []string, error) {
	var sf storeFlags
	fs := newFlagSet(e, name, argsUsage, about)
	sf.register(fs, e)
	if extra != nil {
		extra(fs)
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, nil, nil, err
	}
	if validate == nil {
		validate = noArgs(name)
	}
	if err := validate(pos); err != nil {
		return nil, nil, nil, err
	}
	s, err := openStore(ctx, &sf, true)
	if err != nil {
		return nil, nil, nil, err
	}
	defer s.Close()
	for _, f := range fast {
		if done, err := f(ctx, &sf, s); done || err != nil {
			return nil, &sf, pos, err
		}
	}
	l, err := loadLedger(ctx, e, s, &sf, false, name == "replay")
	if err != nil {
		return nil, nil, nil, err
	}
	if sf.store == "" {
		// Keep the epoch archive current; a cache: failing to save it
		// costs only time.
		_ = projections.CacheOf(sf.data).KeepArchive(ctx, l, s)
	}
	return l, &sf, pos, nil
}

func runReplay(ctx context.Context, e *env, args []string) error {
	var epoch uint64
	l, sf, _, err := queryCmd(ctx, e, "replay", "[--epoch N]", `
Rebuild every projection from position 1 of the log (a progress bar shows
on a terminal) and print a summary per epoch: work, emission, allocation,
burns, settlement. Two replays of the same log print the same bytes.`, args, func(fs *flagSetT) {
		fs.Uint64Var(&epoch, "epoch", 0, "print only this epoch")
	}, nil)
	if err != nil {
		return err
	}

	sums := l.Summaries()
	if epoch != 0 {
		ep := l.Epoch(epoch)
		if ep == nil {
			return &projections.ErrNoEpoch{Epoch: epoch, Open: l.Open().N}
		}
		sums = []projections.EpochSummary{l.Summary(ep)}
	}
	if sf.json {
		return writeJSON(e.stdout, struct {
			Position  uint64                     `json:"position"`
			Events    uint64                     `json:"events"`
			Anomalies []projections.Anomaly      `json:"anomalies,omitempty"`
			Epochs    []projections.EpochSummary `json:"epochs"`
		}{l.Position, l.Events, l.Anomalies, sums})
	}
	fmt.Fprintf(e.stdout, "replayed %d events (log position %d)\n\n", l.Events, l.Position)
	t := newTable(e.stdout, "EPOCH", "STATUS", "OPERATORS", "FRAMES", "TASKS", "WORK_OBH", "WORK_USD", "EMISSION", "UNALLOCATED", "BURNED", "SETTLEMENT")
	for _, s := range sums {
		t.row(strconv.FormatUint(s.Epoch, 10), s.Status, strconv.Itoa(s.Operators), strconv.FormatUint(s.Frames, 10), strconv.FormatUint(s.Tasks, 10),
			s.TotalWorkOBh, s.TotalWorkUSD, s.Emission, s.Unallocated, s.Burned, s.SettlementState)
	}
	if err := t.flush(); err != nil {
		return err
	}
	printSummaryChannels(e, sums)
	if l.AnomalyCount > 0 {
		fmt.Fprintf(e.stderr, "warning: %d stored events could not be folded (first at position %d: %s)\n", l.AnomalyCount, l.Anomalies[0].Position, l.Anomalies[0].Error)
	}
	return nil
}

func runShares(ctx context.Context, e *env, args []string) error {
	var epoch uint64
	var operator string
	l, sf, _, err := queryCmd(ctx, e, "shares", "--epoch N [--operator ID]", `
Print each operator's completed work in epoch N (exact OctaneBench-hours and
its USD value, rounded half-even to 9 places for display) and the base units
of the epoch's emission allocated to them (exact integers; largest remainder,
ties by operator id). --json prints the document of DESIGN.md. On a log
with reward channels (an EmissionScheduleSet, or an EpochClosed with
channels) it lists each channel's emission, allocated and unallocated, and
per operator the amount of each channel and its availability points (an
operator with availability but no job work is listed too). For the epoch
still open the allocation is provisional (under the schedule in force, else
the default emission) and a note says so on standard error.`, args, func(fs *flagSetT) {
		fs.Uint64Var(&epoch, "epoch", 0, "epoch number (required)")
		fs.StringVar(&operator, "operator", "", "only this operator")
	}, func(pos []string) error {
		return epochArgs("shares", pos, epoch)
	}, func(ctx context.Context, sf *storeFlags, s eventstore.Store) (bool, error) {
		// A closed epoch is answered from the epoch archive, without a fold.
		if sf.store != "" {
			return false, nil
		}
		a, err := projections.CacheOf(sf.data).Archive()
		if err != nil {
			return false, nil
		}
		doc, ok := a.Shares(ctx, s, epoch)
		if !ok || (operator != "" && !hasOperator(doc, operator)) {
			return false, nil
		}
		return true, printShares(e, sf, doc, operator, false)
	})
	if err != nil || l == nil {
		return err
	}
	doc, provisional, err := l.Shares(epoch)
	if err != nil {
		return err
	}
	if operator != "" && !hasOperator(doc, operator) && l.Operators[operator] == nil {
		return fmt.Errorf("shares: operator %q is unknown to the log", operator)
	}
	return printShares(e, sf, doc, operator, provisional)
}

func hasOperator(doc *projections.SharesDoc, id string) bool {
	for _, o := range doc.Operators {
		if o.OperatorID == id {
			return true
		}
	}
	return false
}

// printShares prints a shares document, narrowed to one operator when asked
// (an operator without work in the epoch gets a line of zeros).
func printShares(e *env, sf *storeFlags, doc *projections.SharesDoc, operator string, provisional bool) error {
	if operator != "" {
		var keep []projections.OperatorShare
		for _, o := range doc.Operators {
			if o.OperatorID == operator {
				keep = append(keep, o)
			}
		}
		if keep == nil {
			zero := projections.OperatorShare{OperatorID: operator, WorkOBh: "0", WorkUSD: "0", Allocated: "0"}
			if doc.Channels != nil {
				zero.Channels, zero.AvailabilityPoints = projections.ChannelAmounts{}, "0"
				for name := range doc.Channels {
					zero.Channels[name] = "0"
				}
			}
			keep = []projections.OperatorShare{zero}
		}
		doc.Operators = keep
	}
	if provisional {
		fmt.Fprintf(e.stderr, "note: epoch %d is still open; allocations are provisional (emission %s base units if it closed now)\n", doc.Epoch, doc.Emission)
	}
	if sf.json {
		return writeJSON(e.stdout, doc)
	}
	fmt.Fprintf(e.stdout, "epoch %d: emission %s base units, total work %s OBh worth $%s\n\n", doc.Epoch, doc.Emission, doc.TotalWorkOBh, doc.TotalWorkUSD)
	if _, job := doc.Channels[domain.ChannelJob]; len(doc.Channels) > 1 || (len(doc.Channels) == 1 && !job) {
		return printChannelShares(e, doc)
	}
	t := newTable(e.stdout, "OPERATOR", "WORK_OBH", "WORK_USD", "ALLOCATED", "RENDER")
	for _, o := range doc.Operators {
		t.row(o.OperatorID, o.WorkOBh, o.WorkUSD, o.Allocated, renderText(o.Allocated))
	}
	return t.flush()
}

func runBalances(ctx context.Context, e *env, args []string) error {
	var operator string
	l, sf, _, err := queryCmd(ctx, e, "balances", "[--operator ID]", `
Print each operator's RENDER in base units: allocated by closed epochs,
paid (confirmed on chain), in flight (submitted, not final), planned (in a
settlement plan, not sent) and owed (allocated − paid − in flight).
Operators without a Solana wallet accrue (carried forward) until they set one.`, args, func(fs *flagSetT) {
		fs.StringVar(&operator, "operator", "", "only this operator")
	}, nil)
	if err != nil {
		return err
	}

	rows := l.Balances()
	if operator != "" {
		o := l.Operators[operator]
		if o == nil {
			return fmt.Errorf("balances: operator %q is unknown to the log", operator)
		}
		rows = []projections.Balance{l.Balance(o)}
	}
	if sf.json {
		return writeJSON(e.stdout, struct {
			Position  uint64                `json:"position"`
			Operators []projections.Balance `json:"operators"`
		}{l.Position, rows})
	}
	if l.UsesChannels() {
		return printChannelBalances(e, rows)
	}
	t := newTable(e.stdout, "OPERATOR", "WALLET", "ALLOCATED", "PAID", "IN_FLIGHT", "PLANNED", "OWED", "NOTE")
	for _, b := range rows {
		note := ""
		if b.CarriedForward {
			note = "no wallet: carried forward"
		}
		wallet := b.Wallet
		if wallet == "" {
			wallet = "-"
		}
		t.row(b.OperatorID, wallet, b.Allocated, b.Paid, b.InFlight, b.Planned, b.Owed, note)
	}
	return t.flush()
}

func runSupply(ctx context.Context, e *env, args []string) error {
	l, sf, _, err := queryCmd(ctx, e, "supply", "", `
Print the Burn-Mint-Equilibrium view of the log: RENDER minted to operators
by closed epochs, burned by jobs, the net, emissions left unallocated (epochs
without work), and RNDR → RENDER bridge conversions with their dust.`, args, nil, nil)
	if err != nil {
		return err
	}

	s := l.Supply()
	if sf.json {
		return writeJSON(e.stdout, s)
	}
	t := newTable(e.stdout, "", "BASE_UNITS", "RENDER")
	t.row("minted", s.Minted, s.MintedRender)
	t.row("burned", s.Burned, s.BurnedRender)
	t.row("net", s.Net, s.NetRender)
	t.row("unallocated", s.Unallocated, renderText(s.Unallocated))
	t.row("bridged", "", s.BridgedRender)
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\n%d closed epochs, log position %d; %d bridge conversions (%s RNDR wei, dust %s wei)\n", s.ClosedEpochs, s.Position, s.BridgeCount, s.BridgedWei, s.BridgeDustWei)
	return nil
}

func runJob(ctx context.Context, e *env, args []string) error {
	l, sf, pos, err := queryCmd(ctx, e, "job", "JOB_ID", `
Print a job's status (open, rendered, completed), its frames and which node's
result was accepted for each, its burn, and its Proof-of-Render provenance
root (the Merkle root of the accepted frames' output hashes in frame order).`, args, nil, func(pos []string) error {
		if len(pos) != 1 {
			return usagef("job: want exactly one JOB_ID")
		}
		return nil
	})
	if err != nil {
		return err
	}
	d := l.JobDoc(pos[0])
	if d == nil {
		return fmt.Errorf("job: no job %q in the log", pos[0])
	}
	if sf.json {
		return writeJSON(e.stdout, d)
	}
	fmt.Fprintf(e.stdout, "job %s by %s: %s, %d/%d frames accepted, %d rejected, $%s per OBh\nscene %s\n", d.JobID, d.Artist, d.Status, d.Accepted, d.Frames, d.Rejected, d.USDPerOBh, d.SceneHash)
	if d.ProvenanceRoot != "" {
		fmt.Fprintf(e.stdout, "provenance root %s\n", d.ProvenanceRoot)
	}
	if b := d.Burn; b != nil {
		fmt.Fprintf(e.stdout, "burned %s base units for $%s at $%s/RENDER in epoch %d (tx %s)\n", b.Burned, b.USD, b.RenderUSDPrice, b.Epoch, b.TxSignature)
	}
	fmt.Fprintln(e.stdout)
	t := newTable(e.stdout, "FRAME", "STATE", "NODE", "DURATION_MS", "OUTPUT_HASH")
	for _, f := range d.FrameStates {
		dur := ""
		if f.DurationMS > 0 {
			dur = strconv.FormatUint(f.DurationMS, 10)
		}
		t.row(strconv.FormatUint(uint64(f.Frame), 10), f.State, f.Node, dur, f.OutputHash)
	}
	return t.flush()
}

// epochArgs refuses positional arguments and a missing --epoch N.
func epochArgs(name string, pos []string, epoch uint64) error {
	if err := noArgs(name)(pos); err != nil {
		return err
	}
	if epoch == 0 {
		return usagef("%s: --epoch N is required (epochs count from 1)", name)
	}
	return nil
}

// noArgs refuses positional arguments.
func noArgs(name string) func([]string) error {
	return func(pos []string) error {
		if len(pos) != 0 {
			return usagef("%s: unexpected argument %q", name, pos[0])
		}
		return nil
	}
}

// renderText formats base units as RENDER.
func renderText(baseUnits string) string {
	v, err := strconv.ParseUint(baseUnits, 10, 64)
	if err != nil {
		return ""
	}
	return fmtRender(v)
}
