package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchSettleLegacyAgainstV0: bench settle keeps every key it had and
// adds the v0 figures, from both modes in the same run: the limits from
// bytes, locks and the instruction trace, what each end-to-end run
// achieved, the lamports of each, balances exact in both.
func TestBenchSettleLegacyAgainstV0(t *testing.T) {
	code, out, errs := cli(t, "", "bench", "settle", "--plan-operators", "0", "--e2e-operators", "60", "--dir", t.TempDir(), "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err, out)
	}
	num := func(k string) float64 {
		v, ok := r[k].(float64)
		if !ok {
			t.Fatalf("key %s missing or not a number in %s", k, out)
		}
		return v
	}
	// v1's keys, unchanged in meaning (legacy transactions).
	if num("max_transfers_with_ata_creation") != 9 || num("max_transfers_without_ata_creation") != 18 || r["e2e_balances_exact"] != true {
		t.Fatalf("legacy figures: %s", out)
	}
	if num("v0_max_transfers_with_ata_creation") != 10 || num("v0_max_transfers_without_ata_creation") != 47 {
		t.Fatalf("v0 limits: %s", out)
	}
	// The first transaction of a batch carries the anchor (65 bytes more
	// memo); a full one is built within 1,232 bytes, one more past them;
	// the VM takes the limit and refuses one transfer more.
	if num("v0_max_transfers_without_ata_creation_anchored") != 43 || num("v0_max_transfers_with_ata_creation_anchored") != 10 ||
		num("v0_tx_bytes_full_without_ata_creation") > 1232 || num("v0_tx_bytes_one_more_without_ata_creation") <= 1232 {
		t.Fatalf("v0 anchored limits and bytes: %s", out)
	}
	if s, _ := r["v0_limit_checked_on_vm"].(string); !strings.HasPrefix(s, "ok: 47 transfers") {
		t.Fatalf("v0 limit on the VM: %q", s)
	}
	// 60 new accounts: 6 v0 transactions of 10 (legacy 7); 60 existing: 2 of ≤ 47 (legacy 4).
	if num("v0_achieved_transfers_per_tx_new_accounts") != 10 || num("v0_achieved_transfers_per_tx_existing_accounts") != 30 ||
		num("achieved_transfers_per_tx_existing_accounts") != 15 || r["v0_e2e_balances_exact"] != true {
		t.Fatalf("achieved: %s", out)
	}
	// Both pay the rent of 60 token accounts; v0 adds its table's (62
	// addresses: 1 creation, 3 extensions of ≤ 30).
	if l, v := num("legacy_e2e_lamports"), num("v0_e2e_lamports"); l < 60*2_039_280 || v <= l || num("v0_e2e_table_transactions") != 1+3 {
		t.Fatalf("lamports legacy %.0f, v0 %.0f: %s", l, v, out)
	}
}
