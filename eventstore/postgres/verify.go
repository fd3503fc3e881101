package postgres

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/epochledger/epochledger/eventstore"
)

// VerifyReport is what Verify found.
type VerifyReport struct {
	Events   uint64   `json:"events"`    // rows checked
	Head     uint64   `json:"head"`      // position of the last one
	HeadHash string   `json:"head_hash"` // its chain hash (hex), as recomputed
	Problem  *Problem `json:"-"`         // nil when OK
}

// OK reports whether the log is intact.
func (r *VerifyReport) OK() bool { return r.Problem == nil }

// Problem is the first row that fails a check.
type Problem struct {
	Position uint64 `json:"position"` // the row's position (for a gap: the first missing one)
	Stream   string `json:"stream,omitempty"`
	Revision uint64 `json:"revision"`
	ID       string `json:"id,omitempty"`
	Reason   string `json:"reason"`
}

// Verify reads the whole log in position order and checks every row:
// positions gap-free from 1 (a deleted row leaves a hole), revisions
// consecutive per stream from 0, and the stored chain hash equal to the
// one recomputed from the row's content and the row before it (an altered
// row, or rows reordered or deleted and renumbered, break it at the first
// such row). It stops at the first problem. The head's hash is what to
// record: a later rewrite of the log up to there that recomputes every
// stored hash still changes it. progress, when not nil, gets (rows
// checked, head) now and then.
func (s *Store) Verify(ctx context.Context, progress func(done, total uint64)) (VerifyReport, error) {
	var rep VerifyReport
	head, err := s.Head(ctx)
	if err != nil {
		return rep, err
	}
	var h [32]byte
	nextRev := map[string]uint64{}
	errStop := errors.New("stop")
	q := "SELECT position, revision, stream, id, type, time, data, chain FROM " + s.t.events + " WHERE position >= $1 AND position <= $2 ORDER BY position LIMIT $3"
	next := uint64(1)
	for next <= head && rep.Problem == nil {
		var page []row
		err := s.retry(ctx, "verify", func(ctx context.Context) error {
			page = page[:0]
			rows, err := s.pool.Query(ctx, q, next, head, s.opts.ReadPage)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.e.Position, &r.e.Revision, &r.e.Stream, &r.e.ID, &r.e.Type, &r.e.Time, &r.e.Data, &r.chain); err != nil {
					return err
				}
				page = append(page, r)
			}
			return rows.Err()
		})
		if err != nil {
			return rep, err
		}
		if len(page) == 0 {
			rep.Problem = &Problem{Position: next, Reason: fmt.Sprintf("positions %d..%d are missing (rows deleted)", next, head)}
			break
		}
		err = func() error {
			for i := range page {
				r := &page[i]
				e := &r.e
				bad := func(format string, a ...any) error {
					rep.Problem = &Problem{Position: e.Position, Stream: e.Stream, Revision: e.Revision, ID: e.ID, Reason: fmt.Sprintf(format, a...)}
					return errStop
				}
				if e.Position != next {
					rep.Problem = &Problem{Position: next, Reason: fmt.Sprintf("position %d is missing (the next row is at %d): a row was deleted", next, e.Position)}
					return errStop
				}
				if want := nextRev[e.Stream]; e.Revision != want {
					return bad("stream %q revision %d where %d comes next: a row was deleted, moved or altered", e.Stream, e.Revision, want)
				}
				h = eventstore.ChainHash(h, e)
				if !bytes.Equal(r.chain, h[:]) {
					return bad("stored chain hash %x differs from the recomputed %x: this row was altered, or rows before it reordered", r.chain, h[:])
				}
				nextRev[e.Stream]++
				next++
				rep.Events++
				rep.Head = e.Position
				if progress != nil && rep.Events%4096 == 0 {
					progress(rep.Events, head)
				}
			}
			return nil
		}()
		if err != nil && err != errStop {
			return rep, err
		}
	}
	rep.HeadHash = hex.EncodeToString(h[:])
	if progress != nil {
		progress(rep.Events, head)
	}
	return rep, nil
}

type row struct {
	e     eventstore.RecordedEvent
	chain []byte
}

// HeadHash returns the head's position and its stored chain hash (zero for
// an empty log), what a settlement memo or an auditor records.
func (s *Store) HeadHash(ctx context.Context) (uint64, [32]byte, error) {
	var pos uint64
	var chain []byte
	var h [32]byte
	err := s.retry(ctx, "read the head hash", func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, "SELECT coalesce(max(position), 0), coalesce((SELECT chain FROM "+s.t.events+" ORDER BY position DESC LIMIT 1), '') FROM "+s.t.events).Scan(&pos, &chain)
	})
	if err != nil {
		return 0, h, err
	}
	copy(h[:], chain)
	return pos, h, nil
}
