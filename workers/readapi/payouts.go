package readapi

import (
	"bytes"
	"net/http"
	"sync"

	"github.com/epochledger/epochledger/projections"
)

// PayoutsCSVContentType is the Content-Type of /v1/operators/{id}/payouts.csv.
const PayoutsCSVContentType = "text/csv; charset=utf-8; header=present"

// closedTimes caches the times of the EpochClosed envelopes by log
// position for payouts.csv: the ledger keeps an epoch's position, not its
// time, and an appended event never changes, so each is read once.
type closedTimes struct {
	mu sync.Mutex
	m  map[uint64]string
}

// getPayoutsCSV serves the rows of `epochledger export payouts --csv
// --operator ID [--from-epoch N] [--to-epoch M]`, byte for byte.
func (a *API) getPayoutsCSV(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e := idParam("operator", id)
	var f projections.PayoutFilter
	if e == nil {
		q, qe := query(r, "from_epoch", "to_epoch")
		e = qe
		if s, ok := q["from_epoch"]; ok && e == nil {
			f.FromEpoch, e = epochParam("query parameter from_epoch", s[0])
		}
		if s, ok := q["to_epoch"]; ok && e == nil {
			f.ToEpoch, e = epochParam("query parameter to_epoch", s[0])
		}
		if e == nil && f.ToEpoch != 0 && f.FromEpoch > f.ToEpoch {
			e = errorf(http.StatusBadRequest, "query parameter from_epoch %d is after to_epoch %d", f.FromEpoch, f.ToEpoch)
		}
	}
	if e == nil && a.opts.Log == nil {
		// Without the log the closed_at column would be empty: refuse
		// rather than answer bytes that differ from the CLI's.
		e = errorf(http.StatusNotImplemented, "payouts.csv needs the event log to read each epoch's EpochClosed time, and this server was started without one")
	}
	if e != nil {
		a.reject(w, e)
		return
	}
	f.Operator = id
	var pos uint64
	var rows []projections.PayoutRow
	var err error
	a.src.View(func(l *projections.Ledger) {
		pos = l.Position
		if _, err = operatorOf(l, id); err == nil {
			// The rows hold strings and a signature slice of their own,
			// nothing the fold changes after the lock is released.
			rows = l.PayoutRows(f)
		}
	})
	if err == nil {
		err = a.fillClosedAt(r, rows)
	}
	var body bytes.Buffer
	if err == nil {
		err = projections.WritePayoutsCSV(&body, rows)
	}
	if err != nil {
		a.fail(w, r, pos, err)
		return
	}
	respondBody(w, r, pos, PayoutsCSVContentType, body.Bytes())
}

// fillClosedAt reads the rows' closed_at from the log outside the ledger's
// lock (positions of closed epochs do not move).
func (a *API) fillClosedAt(r *http.Request, rows []projections.PayoutRow) error {
	c := &a.closed
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[uint64]string{}
	}
	return projections.FillClosedAt(r.Context(), a.opts.Log, rows, c.m)
}
