package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/projections"
)

// importLine is one parsed line of an import file.
type importLine struct {
	n   int
	env *domain.Envelope
	ev  domain.Event
}

// lineError is a refusal naming the line, the event and the rule.
type lineError struct {
	file string
	line int
	id   string
	err  error
}

func (e *lineError) Error() string {
	where := fmt.Sprintf("%s line %d", e.file, e.line)
	if e.id != "" {
		where += " (id " + e.id + ")"
	}
	return where + ": " + e.err.Error()
}

func (e *lineError) Unwrap() error { return e.err }

func runImport(ctx context.Context, e *env, args []string) error {
	var sf storeFlags
	fs := newFlagSet(e, "import", "[flags] FILE.jsonl", `
Validate every line of FILE (JSON Lines, one event envelope per line, as
'export' prints; "-" reads standard input), then append them. Each event is
checked on its own (formats, units, keys, hashes) and against the log and
the lines before it (live assignments, signatures, unique ids, signing
keys, epochs in order, the total-supply cap, burns of accepted work,
compute work attested by registered clients within their caps, idempotent
bridge conversions; docs/events.md). The first refused line
stops the import with exit status 1, naming the line, the event, the field
and the rule, and nothing is appended. Without --batch the whole file is
one atomic append. Lines whose id is already stored with the same content
are skipped, so re-running an import is safe.`)
	sf.register(fs, e)
	batch := fs.Int("batch", 0, "append in atomic batches of N lines instead of one (the whole file is still validated first)")
	supplyCap := fs.String("supply-cap", domain.MaxSupply.RenderString(), "total-supply cap in RENDER: the emissions of all epochs together may not exceed it")
	dryRun := fs.Bool("dry-run", false, "validate only; append nothing")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("import: want exactly one FILE (got %d arguments); see 'epochledger import --help'", len(pos))
	}
	if *batch < 0 {
		return usagef("import: --batch must be positive")
	}
	capUnits, err := domain.ParseRender(*supplyCap)
	if err != nil || capUnits == 0 {
		return usagef("import: --supply-cap %q: want a positive RENDER amount", *supplyCap)
	}
	name := pos[0]
	var r io.Reader = e.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		r = f
	}
	lines, err := parseImport(r, name)
	if err != nil {
		return err
	}

	var store eventstore.Store
	if !*dryRun || sf.store != "" || dirExists(sf.data) {
		if store, err = openStore(ctx, &sf, *dryRun); err != nil {
			return err
		}
	}
	if store != nil {
		defer store.Close()
	}
	ledger := projections.New(projections.Config{})
	stored := map[string]uint64{}
	if store != nil {
		if ledger, err = loadLedger(ctx, e, store, &sf, true, false); err != nil {
			return err
		}
		stored = ledger.IDs
	}
	ledger.SetSupplyCap(capUnits)
	// Stateful checks, each line seeing the log and the lines before it
	// (a speculative fold: the ledger is not used once they are appended).
	pending := ledger.Speculate()
	var fresh []importLine
	skipped, unattested := 0, 0
	for _, l := range lines {
		if p, ok := stored[l.env.ID]; ok {
			if err := sameAsStored(ctx, store, p, l.env); err != nil {
				return &lineError{file: name, line: l.n, id: l.env.ID, err: err}
			}
			skipped++
			continue
		}
		if err := pending.Add(l.env.Time, l.ev); err != nil {
			return fmt.Errorf("%w; nothing was appended", &lineError{file: name, line: l.n, id: l.env.ID, err: err})
		}
		fresh = append(fresh, l)
		if c, ok := l.ev.(*domain.ComputeWorkCompleted); ok && c.ClientSignature == "" {
			unattested++
		}
	}
	if unattested > 0 {
		// Accepted only because the log registers no compute client (the
		// old form, kept importable for old logs): say so.
		fmt.Fprintf(e.stderr, "note: %d ComputeWorkCompleted without a compute client's signature taken in the old form: the log registers no compute client (see docs/events.md)\n", unattested)
	}
	res := importResult{File: name, Lines: len(lines), AlreadyStored: skipped}
	if !*dryRun && len(fresh) > 0 {
		size := len(fresh)
		if *batch > 0 {
			size = *batch
		}
		for i := 0; i < len(fresh); i += size {
			end := min(i+size, len(fresh))
			first, last, err := appendLines(ctx, store, fresh[i:end])
			if err != nil {
				if _, atomic := store.(eventstore.MultiAppender); !atomic {
					// Stores without multi-stream appends (EventStoreDB) are
					// atomic per run of same-stream lines only.
					return fmt.Errorf("import: append of lines %d..%d failed: %w; this store appends one stream run at a time, so some of them may be stored (re-run the import: stored lines are skipped)", fresh[i].n, fresh[end-1].n, err)
				}
				if i == 0 {
					return fmt.Errorf("import: append refused by the store: %w; nothing was appended", err)
				}
				return fmt.Errorf("import: append of lines %d..%d failed: %w; lines before %d are stored (re-run the import: stored lines are skipped)", fresh[i].n, fresh[end-1].n, err, fresh[i].n)
			}
			if res.FirstPosition == 0 {
				res.FirstPosition = first
			}
			res.LastPosition = last
			res.Appended += end - i
		}
	}
	res.DryRun = *dryRun
	if sf.json {
		return writeJSON(e.stdout, res)
	}
	switch {
	case *dryRun:
		fmt.Fprintf(e.stdout, "%s: %d lines valid (%d already stored); nothing appended (--dry-run)\n", name, len(lines), skipped)
	case res.Appended == 0:
		fmt.Fprintf(e.stdout, "%s: nothing new: all %d events are already stored\n", name, len(lines))
	default:
		fmt.Fprintf(e.stdout, "%s: imported %d events at positions %d..%d (%d already stored)\n", name, res.Appended, res.FirstPosition, res.LastPosition, skipped)
	}
	return nil
}

type importResult struct {
	File          string `json:"file"`
	Lines         int    `json:"lines"`
	Appended      int    `json:"appended"`
	AlreadyStored int    `json:"already_stored"`
	FirstPosition uint64 `json:"first_position,omitempty"`
	LastPosition  uint64 `json:"last_position,omitempty"`
	DryRun        bool   `json:"dry_run,omitempty"`
}

// maxImportLine bounds one line of an import file: an event's data (at
// most domain.MaxDataLen) and the envelope's other members, which take a
// few hundred bytes. A longer line cannot hold a valid event.
const maxImportLine = domain.MaxDataLen + 64<<10

// importReadSize is the read buffer of an import: what a line costs beyond
// its own bytes, whatever its length.
const importReadSize = 64 << 10

// readLine returns the next line, its '\n' included, holding at most
// limit+1 bytes of it: a longer line is refused (tooLong) as soon as the
// limit is passed, never buffered whole (a 300 MB line once cost 600 MB
// before the check). The line is a fresh slice: envelopes keep it.
func readLine(br *bufio.Reader, limit int) (line []byte, tooLong bool, err error) {
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > limit+1 {
			return nil, true, nil
		}
		line = append(line, frag...)
		if err != bufio.ErrBufferFull {
			return line, false, err
		}
	}
}

// parseImport reads and statelessly validates every line.
func parseImport(r io.Reader, name string) ([]importLine, error) {
	br := bufio.NewReaderSize(r, importReadSize)
	var out []importLine
	ids := map[string]int{}
	for n := 1; ; n++ {
		raw, tooLong, err := readLine(br, maxImportLine)
		if tooLong {
			return nil, fmt.Errorf("%w; nothing was appended", &lineError{file: name, line: n,
				err: fmt.Errorf("line is longer than %d bytes: an event's data is at most %d bytes (the rest of the file was not read)", maxImportLine, domain.MaxDataLen)})
		}
		if len(raw) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("import: read %s: %w", name, err)
		}
		line := bytes.TrimRight(raw, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			if err == io.EOF {
				break
			}
			continue
		}
		env, perr := domain.ParseEnvelope(line)
		if perr != nil {
			return nil, fmt.Errorf("%w; nothing was appended", &lineError{file: name, line: n, err: perr})
		}
		ev, perr := env.Event()
		if perr != nil {
			return nil, fmt.Errorf("%w; nothing was appended", &lineError{file: name, line: n, id: env.ID, err: perr})
		}
		if prev, dup := ids[env.ID]; dup {
			return nil, fmt.Errorf("%w; nothing was appended", &lineError{file: name, line: n, id: env.ID, err: fmt.Errorf("%s: id repeats line %d; every event needs its own id", env.Type, prev)})
		}
		ids[env.ID] = n
		out = append(out, importLine{n: n, env: env, ev: ev})
		if err == io.EOF {
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("import: %s holds no events", name)
	}
	return out, nil
}

// sameAsStored checks that a line whose id is stored repeats the stored event.
func sameAsStored(ctx context.Context, s eventstore.Store, pos uint64, env *domain.Envelope) error {
	var diff error
	err := s.ReadAll(ctx, pos, func(r *eventstore.RecordedEvent) error {
		if r.Type != env.Type || r.Stream != env.Stream || r.Time != env.Time || !bytes.Equal(r.Data, env.Data) {
			diff = fmt.Errorf("%s: id is already stored at position %d with different content; a new event needs a new id", env.Type, pos)
		}
		return errStopRead
	})
	if err != nil && !errors.Is(err, errStopRead) {
		return err
	}
	return diff
}

var errStopRead = errors.New("stop reading")

// appendLines appends lines in order: one atomic append on stores that can
// span streams, else one append per run of same-stream lines.
func appendLines(ctx context.Context, s eventstore.Store, lines []importLine) (first, last uint64, err error) {
	evs := make([]eventstore.StreamEvent, len(lines))
	for i, l := range lines {
		evs[i] = eventstore.StreamEvent{Stream: l.env.Stream, Event: eventstore.EventData{ID: l.env.ID, Type: l.env.Type, Time: l.env.Time, Data: l.env.Data}}
	}
	results, _, err := eventstore.AppendInOrder(ctx, s, evs)
	if err != nil {
		return 0, 0, err
	}
	for _, r := range results {
		if first == 0 || r.FirstPosition < first {
			first = r.FirstPosition
		}
		last = max(last, r.LastPosition)
	}
	return first, last, nil
}
