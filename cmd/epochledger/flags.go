package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/filestore"
)

var errHelp = errors.New("help shown")

// storeFlags are the flags every command that touches the log takes.
type storeFlags struct {
	data  string
	store string
	json  bool
	warn  io.Writer // where openStore reports a torn tail (standard error)
}

func (s *storeFlags) register(fs *flag.FlagSet, e *env) {
	def := e.getenv("EPOCHLEDGER_DATA")
	if def == "" {
		def = "./data"
	}
	fs.StringVar(&s.data, "data", def, "data directory of the embedded store (env EPOCHLEDGER_DATA)")
	fs.StringVar(&s.store, "store", e.getenv("EPOCHLEDGER_STORE"), "event store URL, e.g. esdb://host:2113?tls=false or postgres://user@host:5432/db?sslmode=disable; overrides --data (env EPOCHLEDGER_STORE)")
	fs.BoolVar(&s.json, "json", false, "machine-readable JSON output")
	s.warn = e.stderr
}

// newFlagSet returns a flag set whose usage text names the command.
func newFlagSet(e *env, name, args, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stdout, "Usage: epochledger %s %s\n\n%s\n\nFlags:\n", name, args, strings.TrimSpace(about))
		fs.SetOutput(e.stdout)
		fs.PrintDefaults()
		fs.SetOutput(e.stderr)
	}
	return fs
}

// parseArgs parses flags anywhere among the arguments (auditors write
// `import FILE --data DIR` as often as `import --data DIR FILE`) and
// returns the positional arguments. "--" ends flag parsing.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, &usageError{err.Error()}
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// openStore opens the log the flags name. readOnly opens the embedded
// store beside a live writer (queries, export, verify) without its lock.
func openStore(ctx context.Context, f *storeFlags, readOnly bool) (eventstore.Store, error) {
	if f.store != "" {
		switch {
		case isESDBURL(f.store):
			return openESDB(ctx, f.store)
		case isPostgresURL(f.store):
			return openPostgres(ctx, f.store, f.warn)
		case strings.HasPrefix(f.store, "file://"):
			f.data = strings.TrimPrefix(f.store, "file://")
		default:
			return nil, usagef("--store %q: want esdb://host:port…, postgres://user@host:port/db… or file:///path", f.store)
		}
	}
	if readOnly {
		if _, err := os.Stat(f.data); err != nil {
			return nil, fmt.Errorf("no event log at %s (%v); import events first or pass --data", f.data, errors.Unwrap(err))
		}
	}
	s, err := filestore.Open(f.data, &filestore.Options{ReadOnly: readOnly})
	if err != nil {
		return nil, err
	}
	// Damage is never skipped silently: a read-only open leaves a torn
	// tail alone and reads up to the last committed event; a writer has
	// cut it and kept the bytes in DATA/torn/.
	if s.Repaired != "" && f.warn != nil {
		if readOnly {
			head, _ := s.Head(ctx)
			fmt.Fprintf(f.warn, "warning: %s; reading up to position %d (run 'epochledger verify')\n", s.Repaired, head)
		} else {
			fmt.Fprintf(f.warn, "note: %s\n", s.Repaired)
		}
	}
	return s, nil
}

// isESDBURL reports whether --store names an EventStoreDB / KurrentDB server.
func isESDBURL(u string) bool {
	for _, p := range []string{"esdb://", "esdb+discover://", "kurrentdb://", "kurrentdb+discover://"} {
		if strings.HasPrefix(u, p) {
			return true
		}
	}
	return false
}

// isTerminal reports whether w is a terminal (progress bars go only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressBar draws "label [#####     ] 42%" on a terminal; elsewhere it
// prints nothing.
type progressBar struct {
	w     io.Writer
	label string
	on    bool
	last  int
}

func newProgress(e *env, label string, quiet bool) *progressBar {
	return &progressBar{w: e.stderr, label: label, on: !quiet && isTerminal(e.stderr), last: -1}
}

func (p *progressBar) update(done, total int64) {
	if !p.on || total <= 0 {
		return
	}
	pct := int(done * 100 / total)
	if pct == p.last {
		return
	}
	p.last = pct
	n := pct / 4
	fmt.Fprintf(p.w, "\r%s [%s%s] %3d%%", p.label, strings.Repeat("#", n), strings.Repeat(" ", 25-n), pct)
}

func (p *progressBar) done() {
	if p.on && p.last >= 0 {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
