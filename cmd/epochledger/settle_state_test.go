package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gagliardetto/solana-go"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/settlement"
	"github.com/epochledger/epochledger/workers/readapi"
)

// staticSource serves one folded ledger to the read API.
type staticSource struct{ l *projections.Ledger }

func (s staticSource) View(fn func(*projections.Ledger)) { fn(s.l) }
func (s staticSource) Position() uint64                  { return s.l.Position }
func (s staticSource) Ready() bool                       { return true }

// fakeSig is a well-formed signature no chain has: the state rule reads
// the log only.
func fakeSig(name string) string {
	a := sha256.Sum256([]byte("sig-a:" + name))
	b := sha256.Sum256([]byte("sig-b:" + name))
	var s solana.Signature
	copy(s[:32], a[:])
	copy(s[32:], b[:])
	return s.String()
}

// TestSettlementStateAgreesEverywhere walks an epoch through every phase of
// its settlement — no plan, planned, in flight, every transaction expired,
// partly confirmed with the rest in flight, partly confirmed with nothing in
// flight (the #19 case: settle status said in_flight, replay and /v1/epochs
// said planned), settled — and asks settle status, replay and GET /v1/epochs
// at each: they print the same state, the one of Settlement.State().
func TestSettlementStateAgreesEverywhere(t *testing.T) {
	data := t.TempDir()
	if code, _, errOut := cli(t, "", "import", "--data", data, writeFile(t, settleNetwork(3, nil))); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	states := func(phase string) (status, replay, api string) {
		t.Helper()
		code, out, errOut := cli(t, "", "settle", "status", "--data", data, "--epoch", "1", "--json")
		switch {
		case code == 0:
			var doc statusDoc
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("%s: settle status: %v", phase, err)
			}
			status = doc.State
		case phase == "none":
			status = projections.SettlementNone // refused: no plan yet
		default:
			t.Fatalf("%s: settle status exit %d: %s", phase, code, errOut)
		}
		code, out, errOut = cli(t, "", "replay", "--data", data, "--json")
		if code != 0 {
			t.Fatalf("%s: replay: %s", phase, errOut)
		}
		var rep struct {
			Epochs []projections.EpochSummary `json:"epochs"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		replay = rep.Epochs[0].SettlementState

		l := settledLedger(t, data)
		rec := httptest.NewRecorder()
		readapi.New(staticSource{l}, readapi.Options{}).Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/epochs", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: GET /v1/epochs: %d %s", phase, rec.Code, rec.Body)
		}
		var list readapi.EpochList
		if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
			t.Fatal(err)
		}
		api = list.Epochs[0].SettlementState
		if want := l.Epoch(1).Settlement; want != nil && want.State() != api {
			t.Fatalf("%s: Settlement.State() %s, /v1/epochs %s", phase, want.State(), api)
		}
		return status, replay, api
	}
	// appendEvs appends settlement events to epoch 1's stream the way submit does.
	appendEvs := func(evs ...domain.Event) {
		t.Helper()
		s, err := filestore.Open(data, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		l, err := projections.Build(context.Background(), s, projections.Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := settlement.NewJournal(s, l).Append(context.Background(), settlement.Stream(1), evs); err != nil {
			t.Fatal(err)
		}
	}
	var plan []domain.Payout
	submitted := func(name string, idx ...int) *domain.PayoutSubmitted {
		ev := &domain.PayoutSubmitted{Epoch: 1, Signature: fakeSig(name), Blockhash: solana.HashFromBytes(make([]byte, 32)).String(), LastValidBlockHeight: 100}
		for _, i := range idx {
			p := plan[i]
			ev.Recipients = append(ev.Recipients, domain.Recipient{OperatorID: p.OperatorID, Wallet: p.Wallet, Amount: p.Amount})
		}
		return ev
	}
	phases := []struct {
		name, want string
		do         func()
	}{
		{"none", projections.SettlementNone, func() {}},
		{"planned", projections.SettlementPlanned, func() {
			if code, _, errOut := cli(t, "", "settle", "plan", "--data", data, "--epoch", "1"); code != 0 {
				t.Fatalf("plan: %s", errOut)
			}
			plan = settledLedger(t, data).Epoch(1).Settlement.Payouts
			if len(plan) != 3 {
				t.Fatalf("plan has %d payouts, want 3", len(plan))
			}
		}},
		{"in flight", projections.SettlementInFlight, func() { appendEvs(submitted("a", 0, 1)) }},
		{"all expired", projections.SettlementPlanned, func() { appendEvs(&domain.PayoutExpired{Epoch: 1, Signature: fakeSig("a")}) }},
		{"confirmed and in flight", projections.SettlementInFlight, func() {
			appendEvs(submitted("b", 0), submitted("c", 1, 2))
			appendEvs(&domain.PayoutConfirmed{Epoch: 1, Signature: fakeSig("b"), Slot: 7})
		}},
		{"confirmed, none in flight", projections.SettlementInFlight, func() { appendEvs(&domain.PayoutExpired{Epoch: 1, Signature: fakeSig("c")}) }},
		{"settled", projections.SettlementConfirmed, func() {
			appendEvs(submitted("d", 1, 2))
			appendEvs(&domain.PayoutConfirmed{Epoch: 1, Signature: fakeSig("d"), Slot: 8})
		}},
	}
	for _, ph := range phases {
		ph.do()
		status, replay, api := states(ph.name)
		if status != ph.want || replay != ph.want || api != ph.want {
			t.Errorf("%s: settle status %q, replay %q, /v1/epochs %q; want %q everywhere", ph.name, status, replay, api, ph.want)
		}
	}
	if got := fmt.Sprint(settledLedger(t, data).Summary(settledLedger(t, data).Epoch(1)).Status); got != "settled" {
		t.Errorf("epoch status %q after the last phase, want settled", got)
	}
}

// TestExportPayoutsCSV: one RFC 4180 row per operator, epoch and channel,
// with the EpochClosed's time, the planned wallet, the status from the log
// and the confirmed signature; --operator and the epoch range filter.
func TestExportPayoutsCSV(t *testing.T) {
	data := t.TempDir()
	if code, _, errOut := cli(t, "", "import", "--data", data, writeFile(t, settleNetwork(3, map[int]bool{2: true}))); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	code, out, errOut := cli(t, "", "export", "payouts", "--csv", "--data", data)
	if code != 0 {
		t.Fatalf("export payouts: %s", errOut)
	}
	closed := t0.Format("2006-01-02")
	lines := strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n")
	if len(lines) != 4 || lines[0] != "epoch,closed_at,operator_id,wallet,channel,amount_base_units,amount_render,status,tx_signature" {
		t.Fatalf("csv:\n%q", out)
	}
	for i, want := range []string{"op-000,", "op-001,", "op-002,"} {
		f := strings.Split(lines[i+1], ",")
		if len(f) != 9 || f[0] != "1" || !strings.HasPrefix(f[1], closed) || f[2]+"," != want || f[4] != "job" || f[5] == "0" {
			t.Fatalf("row %d: %q", i+1, lines[i+1])
		}
	}
	if !strings.HasSuffix(lines[1], ",owed,") || !strings.HasSuffix(lines[3], ",carried_forward,") || strings.Split(lines[3], ",")[3] != "" {
		t.Fatalf("statuses before a plan:\n%s", out)
	}
	if code, _, errOut := cli(t, "", "settle", "plan", "--data", data, "--epoch", "1"); code != 0 {
		t.Fatal(errOut)
	}
	l := settledLedger(t, data)
	p := l.Epoch(1).Settlement.Payouts[0]
	s, err := filestore.Open(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	j := settlement.NewJournal(s, l)
	sig := fakeSig("csv")
	if _, err := j.Append(context.Background(), settlement.Stream(1), []domain.Event{&domain.PayoutSubmitted{Epoch: 1, Signature: sig,
		Recipients: []domain.Recipient{{OperatorID: p.OperatorID, Wallet: p.Wallet, Amount: p.Amount}}, Blockhash: solana.Hash{1}.String(), LastValidBlockHeight: 9}}); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(context.Background(), settlement.Stream(1), []domain.Event{&domain.PayoutConfirmed{Epoch: 1, Signature: sig, Slot: 3}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	code, out, errOut = cli(t, "", "export", "payouts", "--csv", "--data", data, "--operator", "op-000", "--to-epoch", "1")
	want := fmt.Sprintf("1,%s,op-000,%s,job,%s,%s,paid,%s\r\n", strings.Split(lines[1], ",")[1], p.Wallet, p.Amount, p.Amount.RenderString(), sig)
	if code != 0 || !strings.HasSuffix(out, want) || strings.Count(out, "\r\n") != 2 {
		t.Fatalf("op-000 after its payout: %d %q %s, want a row %q", code, out, errOut, want)
	}
	code, out, _ = cli(t, "", "export", "payouts", "--csv", "--data", data)
	if code != 0 || !strings.Contains(out, ",op-001,") || !strings.Contains(strings.Split(out, "\r\n")[2], ",planned,") {
		t.Fatalf("op-001 planned: %q", out)
	}
	if code, out, _ := cli(t, "", "export", "payouts", "--csv", "--data", data, "--from-epoch", "2"); code != 0 || strings.Count(out, "\r\n") != 1 {
		t.Fatalf("no closed epoch 2: %d %q", code, out)
	}
	if code, _, _ := cli(t, "", "export", "payouts", "--data", data); code != 2 {
		t.Fatalf("without --csv: exit %d, want 2", code)
	}
}
