package readapi

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/scenarios/simlog"
	"github.com/epochledger/epochledger/workers/api"
)

// TestPayoutsCSV: /v1/operators/{id}/payouts.csv answers the rows of the
// CSV export (WritePayoutsCSV over PayoutRows with the EpochClosed times
// of the log), as text/csv with the log position and an ETag; the epoch
// range filters.
func TestPayoutsCSV(t *testing.T) {
	w := scenario(t)
	l := w.ledger()
	s := newServer(t, w, openOptions())

	want := func(f projections.PayoutFilter) string {
		rows := l.PayoutRows(f)
		if err := projections.FillClosedAt(t.Context(), w.store, rows, nil); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := projections.WritePayoutsCSV(&b, rows); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	r := s.get(t, "/v1/operators/op-a/payouts.csv")
	if r.code != http.StatusOK {
		t.Fatalf("status %d: %s", r.code, r.body)
	}
	if got := string(r.body); got != want(projections.PayoutFilter{Operator: "op-a"}) {
		t.Errorf("body\n%q\nwant\n%q", got, want(projections.PayoutFilter{Operator: "op-a"}))
	}
	if ct := r.header.Get("Content-Type"); ct != PayoutsCSVContentType {
		t.Errorf("Content-Type %q", ct)
	}
	if p := r.header.Get(api.HeaderLogPosition); p != itoa(l.Position) {
		t.Errorf("%s %q, want %d", api.HeaderLogPosition, p, l.Position)
	}
	// op-a: epoch 1 paid by its confirmed transaction, epoch 2 in flight;
	// closed_at is the RFC 3339 time of each EpochClosed envelope.
	lines := strings.Split(strings.TrimSuffix(string(r.body), "\r\n"), "\r\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want a header and 2 rows:\n%s", len(lines), r.body)
	}
	for i, tail := range []string{",paid," + txSig("1"), ",in_flight,"} {
		f := strings.Split(lines[i+1], ",")
		if _, err := time.Parse(time.RFC3339, f[1]); err != nil || f[0] != itoa(uint64(i+1)) || f[2] != "op-a" ||
			f[3] != simlog.Wallet("op-a") || f[4] != "job" || !strings.HasSuffix(lines[i+1], tail) {
			t.Errorf("row %d %q: want epoch %d, an RFC 3339 closed_at, op-a's wallet and a line ending %q", i+1, lines[i+1], i+1, tail)
		}
	}

	// The same body again is 304 against its ETag.
	if r2 := do(t, http.MethodGet, s.URL+"/v1/operators/op-a/payouts.csv", map[string]string{"If-None-Match": r.header.Get("ETag")}, nil); r2.code != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", r2.code)
	}

	// The epoch range, as --from-epoch/--to-epoch.
	for path, f := range map[string]projections.PayoutFilter{
		"/v1/operators/op-a/payouts.csv?from_epoch=2":            {Operator: "op-a", FromEpoch: 2},
		"/v1/operators/op-a/payouts.csv?to_epoch=1":              {Operator: "op-a", ToEpoch: 1},
		"/v1/operators/op-a/payouts.csv?from_epoch=2&to_epoch=2": {Operator: "op-a", FromEpoch: 2, ToEpoch: 2},
		"/v1/operators/op-a/payouts.csv?from_epoch=3":            {Operator: "op-a", FromEpoch: 3},
		"/v1/operators/op-b/payouts.csv":                         {Operator: "op-b"},
	} {
		r := s.get(t, path)
		if r.code != http.StatusOK || string(r.body) != want(f) {
			t.Errorf("%s: %d\n%q\nwant\n%q", path, r.code, r.body, want(f))
		}
	}
	// op-b has no wallet: carried forward, empty wallet column.
	if r := s.get(t, "/v1/operators/op-b/payouts.csv"); !strings.Contains(string(r.body), ",op-b,,job,") || !strings.Contains(string(r.body), ",carried_forward,") {
		t.Errorf("op-b:\n%s", r.body)
	}
	// The open epoch 3 is in no row (op-c rendered in it).
	if r := s.get(t, "/v1/operators/op-c/payouts.csv"); strings.Contains(string(r.body), "\r\n3,") {
		t.Errorf("open epoch exported:\n%s", r.body)
	}
}

// TestPayoutsCSVErrors: refusals are the JSON errors of the other routes,
// with the log position.
func TestPayoutsCSVErrors(t *testing.T) {
	w := scenario(t)
	s := newServer(t, w, openOptions())
	for path, c := range map[string]struct {
		status int
		msg    string
	}{
		"/v1/operators/nobody/payouts.csv":                       {404, `operator "nobody" is unknown to the log`},
		"/v1/operators/op-a/payouts.csv?from_epoch=0":            {400, "query parameter from_epoch must be an epoch number"},
		"/v1/operators/op-a/payouts.csv?to_epoch=x":              {400, "query parameter to_epoch must be an epoch number"},
		"/v1/operators/op-a/payouts.csv?from_epoch=3&to_epoch=2": {400, "from_epoch 3 is after to_epoch 2"},
		"/v1/operators/op-a/payouts.csv?epoch=1":                 {400, "unknown query parameter \"epoch\": this endpoint takes from_epoch, to_epoch"},
		"/v1/operators/op-a/payouts.csv?to_epoch=1&to_epoch=2":   {400, "query parameter to_epoch is given 2 times"},
	} {
		r := s.get(t, path)
		wantError(t, r, c.status, c.msg)
		if r.header.Get(api.HeaderLogPosition) == "" {
			t.Errorf("%s: no %s", path, api.HeaderLogPosition)
		}
	}

	// A source without a log cannot fill closed_at: 501, not a CSV that
	// differs from the CLI's.
	src := &fakeSource{l: w.ledger()}
	src.ready.Store(true)
	rec := newRecorder()
	New(src, openOptions()).Handler().ServeHTTP(rec, newRequest("/v1/operators/op-a/payouts.csv"))
	wantError(t, rec.response(), http.StatusNotImplemented, "needs the event log")
	// Given the log, it answers.
	opts := openOptions()
	opts.Log = w.store
	rec = newRecorder()
	New(src, opts).Handler().ServeHTTP(rec, newRequest("/v1/operators/op-a/payouts.csv"))
	if r := rec.response(); r.code != http.StatusOK || !strings.HasPrefix(string(r.body), "epoch,closed_at,") {
		t.Errorf("fake source with Options.Log: %d %s", r.code, r.body)
	}
}
