package main

import (
	"bufio"
	"context"
	"fmt"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
)

func init() {
	register(&command{name: "export", summary: "print the log as JSON Lines (what import reads)", run: runExport})
}

func runExport(ctx context.Context, e *env, args []string) error {
	var sf storeFlags
	fs := newFlagSet(e, "export", "[--from POS] [--to POS]", `
Print stored events as JSON Lines, one envelope per line with its position
and revision, in log order. 'import' reads this back; the data of every
event is printed byte for byte as it was imported. Safe beside a running
'serve' (the embedded store is read without taking its lock).`)
	sf.register(fs, e)
	from := fs.Uint64("from", 1, "first position to print")
	to := fs.Uint64("to", 0, "last position to print (0: the head)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("export: unexpected argument %q", pos[0])
	}
	s, err := openStore(ctx, &sf, true)
	if err != nil {
		return err
	}
	defer s.Close()
	w := bufio.NewWriterSize(e.stdout, 1<<20)
	var line []byte
	err = s.ReadAll(ctx, *from, func(r *eventstore.RecordedEvent) error {
		if *to != 0 && r.Position > *to {
			return errStopRead
		}
		env := domain.Envelope{Position: r.Position, Revision: r.Revision, ID: r.ID, Type: r.Type, Stream: r.Stream, Time: r.Time, Data: r.Data}
		line = append(env.AppendJSON(line[:0]), '\n')
		_, err := w.Write(line)
		return err
	})
	if err != nil && err != errStopRead {
		w.Flush()
		return fmt.Errorf("export: %w", err)
	}
	return w.Flush()
}
