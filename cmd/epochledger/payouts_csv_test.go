package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/settlement"
)

// serveWhile runs serve on data until fn, given its URL and the log
// position it started at, returns.
func serveWhile(t *testing.T, data string, fn func(base string, pos uint64)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb lockedBuffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--json", "--epoch-clock=false"}, e)
	}()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), "\n") {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d: %s", code, errb.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s", errb.String())
		}
	}
	var started struct {
		URL      string `json:"url"`
		Position uint64 `json:"position"`
	}
	if err := json.Unmarshal([]byte(strings.SplitN(out.String(), "\n", 2)[0]), &started); err != nil || started.URL == "" {
		t.Fatalf("serve's first line %q: %v", out.String(), err)
	}
	fn(strings.TrimSuffix(started.URL, "/"), started.Position)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, errb.String())
	}
}

// TestPayoutsCSVRouteEqualsExport: on the golden log with reward channels
// (job and availability rows) whose epoch 1 is settled, serve's GET
// /v1/operators/{id}/payouts.csv answers byte for byte what `export
// payouts --csv --operator ID` prints, for every operator and epoch range;
// closed_at is the EpochClosed envelope's time in both.
func TestPayoutsCSVRouteEqualsExport(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	golden := filepath.Join("..", "..", "projections", "testdata", "golden", "channels-week.jsonl")
	if code, _, errOut := cli(t, "", "import", "--data", data, golden); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	if code, _, errOut := cli(t, "", "settle", "plan", "--data", data, "--epoch", "1"); code != 0 {
		t.Fatalf("settle plan: %s", errOut)
	}
	l := settledLedger(t, data)
	p := l.Epoch(1).Settlement.Payouts[0]
	s, err := filestore.Open(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	j := settlement.NewJournal(s, l)
	sig := fakeSig("route")
	for _, ev := range []domain.Event{
		&domain.PayoutSubmitted{Epoch: 1, Signature: sig, Recipients: []domain.Recipient{{OperatorID: p.OperatorID, Wallet: p.Wallet, Amount: p.Amount}},
			Blockhash: solana.Hash{1}.String(), LastValidBlockHeight: 9},
		&domain.PayoutConfirmed{Epoch: 1, Signature: sig, Slot: 3},
	} {
		if _, err := j.Append(context.Background(), settlement.Stream(1), []domain.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	l = settledLedger(t, data)
	ids := make([]string, 0, len(l.Operators))
	for id := range l.Operators {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	type check struct{ args, query string }
	var checks []check
	for _, id := range ids {
		checks = append(checks, check{"", ""}, check{"--from-epoch=2", "from_epoch=2"}, check{"--to-epoch=1", "to_epoch=1"},
			check{"--from-epoch=2 --to-epoch=3", "from_epoch=2&to_epoch=3"})
		for i := len(checks) - 4; i < len(checks); i++ {
			checks[i].args = strings.TrimSpace("--operator=" + id + " " + checks[i].args)
			checks[i].query = id + "?" + checks[i].query
		}
	}
	// serve completes the log's finished jobs when it starts (appends, after
	// it prints its URL): one run first, so that the second serves a log
	// that does not move. export reads the embedded store beside it.
	serveOnce(t, data)
	serveWhile(t, data, func(base string, pos uint64) {
		want := map[string]string{}
		for _, c := range checks {
			code, out, errOut := cli(t, "", append([]string{"export", "payouts", "--csv", "--data", data}, strings.Fields(c.args)...)...)
			if code != 0 {
				t.Fatalf("export payouts %s: %s", c.args, errOut)
			}
			want[c.query] = out
		}
		// The log has a paid row, job and availability channels and closed_at.
		all := want[p.OperatorID+"?"]
		if !strings.Contains(all, ",paid,"+sig+"\r\n") || !strings.Contains(all, ",job,") || !strings.Contains(all, ",availability,") ||
			!strings.Contains(all, "\r\n1,2024-06-05T00:04:19Z,") {
			t.Fatalf("export of %s lacks a paid row, a job or availability row or epoch 1's closed_at:\n%s", p.OperatorID, all)
		}
		for _, c := range checks {
			id, q, _ := strings.Cut(c.query, "?")
			res, err := http.Get(base + "/v1/operators/" + url.PathEscape(id) + "/payouts.csv?" + q)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || string(body) != want[c.query] {
				t.Errorf("GET %s: %d\n%q\nexport payouts --csv %s:\n%q", c.query, res.StatusCode, body, c.args, want[c.query])
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
				t.Errorf("GET %s: Content-Type %q", c.query, ct)
			}
			if got := res.Header.Get("X-Log-Position"); got != strconv.FormatUint(pos, 10) {
				t.Errorf("GET %s: X-Log-Position %q, want %d", c.query, got, pos)
			}
		}
		res, err := http.Get(base + "/v1/operators/nobody/payouts.csv")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 404 || res.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), "unknown to the log") {
			t.Errorf("unknown operator: %d %s", res.StatusCode, body)
		}
	})
}
