package projections

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
)

// PayoutRow is one line of `export payouts --csv`: an operator's
// allocation of one epoch and channel, and how far it is paid.
type PayoutRow struct {
	Epoch            uint64
	ClosedAt         string // RFC 3339 time of the EpochClosed (FillClosedAt reads it from the log)
	ClosedAtPosition uint64
	OperatorID       string
	Wallet           string // the planned wallet; the operator's current one while unplanned
	Channel          string
	Amount           domain.BaseUnits
	// Status: paid (its payout is confirmed), in_flight, planned (in a plan,
	// not sent), owed (in no plan yet), carried_forward (owed, no wallet).
	Status     string
	Signatures []string // the confirmed payout transactions that paid it
}

// PayoutFilter selects rows; zero values select everything.
type PayoutFilter struct {
	Operator           string
	FromEpoch, ToEpoch uint64
}

// PayoutRows returns one row per operator, closed epoch and channel with
// an allocation, sorted by epoch then operator_id. An epoch's allocation
// is attributed to the plan whose payout lists that epoch (payouts cover
// the oldest epochs first); a plan without that list attributes its
// payout to its own epoch.
func (l *Ledger) PayoutRows(f PayoutFilter) []PayoutRow {
	type cover struct {
		s *Settlement
		p *PayoutState
	}
	covers := map[string]map[uint64]cover{}
	for _, ep := range l.Epochs {
		s := ep.Settlement
		if s == nil {
			continue
		}
		for _, po := range s.Payouts {
			ps := s.byOp[po.OperatorID]
			epochs := po.Epochs
			if len(epochs) == 0 {
				epochs = []uint64{s.Epoch}
			}
			m := covers[po.OperatorID]
			if m == nil {
				m = map[uint64]cover{}
				covers[po.OperatorID] = m
			}
			for _, k := range epochs {
				m[k] = cover{s, ps}
			}
		}
	}
	var rows []PayoutRow
	for _, ep := range l.Epochs {
		if !ep.Closed || (f.FromEpoch != 0 && ep.N < f.FromEpoch) || (f.ToEpoch != 0 && ep.N > f.ToEpoch) {
			continue
		}
		ids := make([]string, 0, len(ep.Allocations))
		for id, a := range ep.Allocations {
			if a > 0 && (f.Operator == "" || f.Operator == id) {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		for _, id := range ids {
			o := l.Operators[id]
			row := PayoutRow{Epoch: ep.N, ClosedAtPosition: ep.ClosedAt, OperatorID: id, Signatures: []string{}}
			if o != nil {
				row.Wallet = o.Wallet
			}
			c, ok := covers[id][ep.N]
			switch {
			case ok:
				row.Wallet = c.p.Payout.Wallet
				switch {
				case c.p.Confirmed == c.p.Payout.Amount:
					row.Status = "paid"
				case c.p.InFlight > 0 || c.p.Confirmed > 0:
					row.Status = "in_flight"
				default:
					row.Status = "planned"
				}
				for _, sig := range c.p.Signatures {
					if tx := c.s.bySig[sig]; tx != nil && tx.State == "confirmed" {
						row.Signatures = append(row.Signatures, sig)
					}
				}
			case row.Wallet == "":
				row.Status = "carried_forward"
			default:
				row.Status = "owed"
			}
			// One row per channel that gave the operator something; a
			// payout covers the epoch whole, so they share its status.
			for _, ch := range epochChannelAllocs(ep) {
				if a := ch.Allocations[id]; a > 0 {
					r := row
					r.Channel, r.Amount = ch.Name, a
					rows = append(rows, r)
				}
			}
		}
	}
	return rows
}

// epochChannelAllocs returns a closed epoch's channels; an epoch folded
// without them (none recorded) is one job channel of its allocations.
func epochChannelAllocs(ep *Epoch) []ChannelAlloc {
	if len(ep.Channels) > 0 {
		return ep.Channels
	}
	return []ChannelAlloc{{Name: domain.ChannelJob, Amount: ep.Emission, Allocations: ep.Allocations, Unallocated: ep.Unallocated}}
}

// FillClosedAt sets each row's ClosedAt to the time of the envelope at
// its ClosedAtPosition, read from r: the ledger keeps the position of an
// EpochClosed, not its time. known caches times by position across calls
// (a log position's event never changes); nil caches for this call only.
// The CLI's export and the read API's payouts.csv both fill it here, so
// their bytes agree.
func FillClosedAt(ctx context.Context, r Reader, rows []PayoutRow, known map[uint64]string) error {
	if known == nil {
		known = map[uint64]string{}
	}
	for i := range rows {
		p := rows[i].ClosedAtPosition
		t, ok := known[p]
		if !ok {
			err := r.ReadAll(ctx, p, func(e *eventstore.RecordedEvent) error {
				if e.Position == p {
					t, ok = e.Time, true
				}
				return errStop
			})
			if err != nil && !errors.Is(err, errStop) {
				return fmt.Errorf("read the EpochClosed of epoch %d at position %d: %w", rows[i].Epoch, p, err)
			}
			if !ok {
				return fmt.Errorf("the log has no event at position %d, where epoch %d's EpochClosed was folded", p, rows[i].Epoch)
			}
			known[p] = t
		}
		rows[i].ClosedAt = t
	}
	return nil
}

// PayoutsCSVHeader is the header row of the payouts CSV.
var PayoutsCSVHeader = []string{"epoch", "closed_at", "operator_id", "wallet", "channel", "amount_base_units", "amount_render", "status", "tx_signature"}

// WritePayoutsCSV writes rows as RFC 4180 CSV (CRLF line ends, quoting
// where needed) with PayoutsCSVHeader first; several signatures of one
// row are separated by spaces.
func WritePayoutsCSV(w io.Writer, rows []PayoutRow) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(PayoutsCSVHeader); err != nil {
		return err
	}
	for _, r := range rows {
		rec := []string{strconv.FormatUint(r.Epoch, 10), r.ClosedAt, r.OperatorID, r.Wallet, r.Channel, r.Amount.String(), r.Amount.RenderString(), r.Status, strings.Join(r.Signatures, " ")}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
