package main

import (
	"fmt"
	"strings"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/projections"
)

// printChannelShares prints the shares of an epoch paid through several
// reward channels: a line per channel, then per operator the amount of
// each channel and its availability points.
func printChannelShares(e *env, doc *projections.SharesDoc) error {
	names := domain.SortChannels(doc.Channels)
	ct := newTable(e.stdout, "CHANNEL", "EMISSION", "ALLOCATED", "UNALLOCATED", "RENDER")
	for _, n := range names {
		c := doc.Channels[n]
		ct.row(n, c.Emission, c.Allocated, c.Unallocated, renderText(c.Emission))
	}
	if err := ct.flush(); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout)
	head := []string{"OPERATOR", "WORK_OBH", "WORK_USD"}
	for _, n := range names {
		head = append(head, strings.ToUpper(n))
	}
	head = append(head, "ALLOCATED", "RENDER", "AVAILABILITY_POINTS")
	t := newTable(e.stdout, head...)
	for _, o := range doc.Operators {
		row := []string{o.OperatorID, o.WorkOBh, o.WorkUSD}
		for _, n := range names {
			row = append(row, o.Channels[n])
		}
		row = append(row, o.Allocated, renderText(o.Allocated), o.AvailabilityPoints)
		t.row(row...)
	}
	return t.flush()
}

// printSummaryChannels lists, after replay's table, the reward channels of
// each epoch paid through named channels (nothing for logs of one job
// channel, whose output stays as it was).
func printSummaryChannels(e *env, sums []projections.EpochSummary) {
	first := true
	for _, s := range sums {
		if len(s.Channels) == 0 {
			continue
		}
		if first {
			fmt.Fprintln(e.stdout)
			first = false
		}
		var parts []string
		for _, n := range domain.SortChannels(s.Channels) {
			c := s.Channels[n]
			parts = append(parts, fmt.Sprintf("%s %s (allocated %s, unallocated %s)", n, c.Emission, c.Allocated, c.Unallocated))
		}
		fmt.Fprintf(e.stdout, "epoch %d channels: %s\n", s.Epoch, strings.Join(parts, "; "))
	}
}

// printChannelBalances is balances on a log with reward channels: the
// allocated amount split by channel beside the usual columns.
func printChannelBalances(e *env, rows []projections.Balance) error {
	seen := map[string]bool{}
	for _, b := range rows {
		for n := range b.Channels {
			seen[n] = true
		}
	}
	names := domain.SortChannels(seen)
	head := []string{"OPERATOR", "WALLET", "ALLOCATED"}
	for _, n := range names {
		head = append(head, strings.ToUpper(n))
	}
	head = append(head, "PAID", "IN_FLIGHT", "PLANNED", "OWED", "NOTE")
	t := newTable(e.stdout, head...)
	for _, b := range rows {
		note, wallet := "", b.Wallet
		if b.CarriedForward {
			note = "no wallet: carried forward"
		}
		if wallet == "" {
			wallet = "-"
		}
		row := []string{b.OperatorID, wallet, b.Allocated}
		for _, n := range names {
			v := b.Channels[n]
			if v == "" {
				v = "0"
			}
			row = append(row, v)
		}
		t.row(append(row, b.Paid, b.InFlight, b.Planned, b.Owed, note)...)
	}
	return t.flush()
}
