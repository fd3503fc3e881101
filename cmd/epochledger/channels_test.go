package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The hidden-style check of issue 20: import a log with a schedule (epoch
// 1 job-only from emission, epochs 2-3 with job and availability), nodes
// with vram_gb, NodeAvailability records and a late registration; then
// shares --epoch N --json must equal, to the base unit and byte for byte,
// the documents of the independent calculation (projections/testdata/
// golden/expect.py).
func TestChannelSharesMatchIndependentCalculation(t *testing.T) {
	golden := filepath.Join("..", "..", "projections", "testdata", "golden")
	for _, name := range []string{"channels-week", "channels-unallocated"} {
		data := filepath.Join(t.TempDir(), "data")
		if code, out, errs := cli(t, "", "import", filepath.Join(golden, name+".jsonl"), "--data", data); code != 0 {
			t.Fatalf("import %s: %d %s %s", name, code, out, errs)
		}
		files, _ := filepath.Glob(filepath.Join(golden, name+".epoch*.json"))
		if len(files) < 2 {
			t.Fatalf("%s: %d expected documents", name, len(files))
		}
		for _, f := range files {
			n := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), name+".epoch"), ".json")
			want, _ := os.ReadFile(f)
			// Twice: folded, then from the epoch archive the first wrote.
			for round := 0; round < 2; round++ {
				code, out, errs := cli(t, "", "shares", "--epoch", n, "--json", "--data", data)
				if code != 0 || out != string(want) {
					t.Fatalf("%s epoch %s round %d: %d %s\n got %s\nwant %s", name, n, round, code, errs, out, want)
				}
			}
		}
	}
	// An operator with availability only, asked for alone.
	data := filepath.Join(t.TempDir(), "data")
	cli(t, "", "import", filepath.Join(golden, "channels-week.jsonl"), "--data", data)
	code, out, _ := cli(t, "", "shares", "--epoch", "2", "--operator", "op-c", "--json", "--data", data)
	if code != 0 || !strings.Contains(out, `{"operator_id":"op-c","work_obh":"0","work_usd":"0","allocated":"80030852152","channels":{"job":"0","availability":"80030852152"},"availability_points":"5706181563255659708"}`) {
		t.Fatalf("op-c: %d %s", code, out)
	}
	code, out, _ = cli(t, "", "balances", "--operator", "op-c", "--json", "--data", data)
	if code != 0 || !strings.Contains(out, `"allocated":"124793251695"`) || !strings.Contains(out, `"channels":{"job":"0","availability":"124793251695"}`) {
		t.Fatalf("balances op-c: %d %s", code, out)
	}
	code, out, _ = cli(t, "", "balances", "--data", data)
	if code != 0 || !strings.Contains(out, "AVAILABILITY") || !strings.Contains(out, "124793251695") {
		t.Fatalf("balances: %d %s", code, out)
	}
	code, out, _ = cli(t, "", "replay", "--data", data)
	if code != 0 || !strings.Contains(out, "epoch 2 channels: job 1500000000000 (allocated 1500000000000, unallocated 0); availability 288461538000 (allocated 288461538000, unallocated 0)") {
		t.Fatalf("replay: %d %s", code, out)
	}
}

// TestImportRefusesBadChannelEvents: each bad variant appended to the
// golden channel log makes import refuse the whole file (exit 1, nothing
// appended), naming the event, the field and the rule.
func TestImportRefusesBadChannelEvents(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "..", "projections", "testdata", "golden", "channels-week.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	line := func(typ, stream, data string) string {
		return `{"revision":0,"id":"7f7f7f7f-0000-4000-8000-000000000001","type":"` + typ + `","stream":"` + stream + `","time":"2024-06-06T00:00:00Z","data":` + data + "}\n"
	}
	cases := []struct{ name, line, want string }{
		{"retroactive schedule", line("EmissionScheduleSet", "schedule", `{"rnp":"RNP-099","effective_epoch":3,"channels":{"job":"1"}}`),
			`EmissionScheduleSet: field "effective_epoch": must be greater than the last closed epoch (3)`},
		{"unknown channel", line("EmissionScheduleSet", "schedule", `{"rnp":"RNP-099","effective_epoch":9,"channels":{"upgrade":"1"}}`),
			`EmissionScheduleSet: field "channels.upgrade": is not a known channel (known: job, availability)`},
		{"more than 8 decimals", line("EmissionScheduleSet", "schedule", `{"rnp":"RNP-099","effective_epoch":9,"channels":{"job":"0.000000001"}}`),
			`EmissionScheduleSet: field "channels.job": must have at most 8 decimal places`},
		{"channels differ from the schedule", line("EpochClosed", "epoch-4", `{"epoch":4,"emission":"4700000000000"}`),
			`EpochClosed: field "channels": must equal the schedule in force for epoch 4 (RNP-013 from epoch 2`},
		{"busy > online", line("NodeAvailability", "node-n1", `{"epoch":4,"node_id":"n1","window_ms":1000,"online_ms":10,"busy_ms":11}`),
			`NodeAvailability: field "busy_ms": must not exceed online_ms (10)`},
		{"epoch not open", line("NodeAvailability", "node-n1", `{"epoch":3,"node_id":"n1","window_ms":1000,"online_ms":10,"busy_ms":1}`),
			`NodeAvailability: field "epoch": must be the open epoch (4)`},
		{"vram_gb out of range", line("NodeRegistered", "node-z", `{"node_id":"z","operator_id":"op-z","node_pubkey":"Bg5YxXTNk1eMzMqxBu9RE9ST4D37T3a5kE33GiNiCHpf","gpu":"g","ob_score":"1","vram_gb":5000}`),
			`NodeRegistered: field "vram_gb": must be an integer from 1 to 4096 (GB)`},
		{"second record for a node", line("NodeAvailability", "node-n1", `{"epoch":4,"node_id":"n1","window_ms":1000,"online_ms":10,"busy_ms":1}`) +
			strings.Replace(line("NodeAvailability", "node-n1", `{"epoch":4,"node_id":"n1","window_ms":1000,"online_ms":20,"busy_ms":1}`), "0001", "0002", 1),
			`NodeAvailability: field "node_id": node "n1" already has an availability record for epoch 4`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "bad.jsonl")
			if err := os.WriteFile(file, append(append([]byte{}, base...), c.line...), 0o644); err != nil {
				t.Fatal(err)
			}
			data := filepath.Join(dir, "data")
			code, _, errs := cli(t, "", "import", file, "--data", data)
			if code != 1 || !strings.Contains(errs, c.want) {
				t.Fatalf("import: exit %d, stderr %s\nwant %s", code, errs, c.want)
			}
			_, out, _ := cli(t, "", "export", "--data", data)
			if strings.TrimSpace(out) != "" {
				t.Fatalf("a refused file appended %d bytes", len(out))
			}
		})
	}
}

// TestSharesArchiveFollowsTheFirstSchedule: a log without channels, asked
// for shares (which writes the epoch archive), then given its first
// EmissionScheduleSet by a second import, prints the same documents as the
// same log imported at once. The archive of a log without channels must
// not answer once a later event names them (found by an independent check).
func TestSharesArchiveFollowsTheFirstSchedule(t *testing.T) {
	a, b := filepath.Join("testdata", "channels-later-a.jsonl"), filepath.Join("testdata", "channels-later-b.jsonl")
	parts := filepath.Join(t.TempDir(), "parts")
	whole := filepath.Join(t.TempDir(), "whole")
	if code, _, errs := cli(t, "", "import", a, "--data", parts); code != 0 {
		t.Fatalf("import a: %s", errs)
	}
	if code, out, errs := cli(t, "", "shares", "--epoch", "1", "--json", "--data", parts); code != 0 || strings.Contains(out, `"channels"`) {
		t.Fatalf("shares before the schedule: %d %s %s", code, out, errs)
	}
	if code, _, errs := cli(t, "", "import", b, "--data", parts); code != 0 {
		t.Fatalf("import b: %s", errs)
	}
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	both := filepath.Join(t.TempDir(), "ab.jsonl")
	if err := os.WriteFile(both, append(ab, bb...), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli(t, "", "import", both, "--data", whole); code != 0 {
		t.Fatalf("import ab: %s", errs)
	}
	for _, n := range []string{"1", "2", "3"} {
		_, want, _ := cli(t, "", "shares", "--epoch", n, "--json", "--data", whole)
		for round := 0; round < 2; round++ {
			_, got, _ := cli(t, "", "shares", "--epoch", n, "--json", "--data", parts)
			if got != want || !strings.Contains(got, `"channels"`) {
				t.Fatalf("epoch %s round %d:\n got %s\nwant %s", n, round, got, want)
			}
		}
	}
}
