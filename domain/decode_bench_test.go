package domain

import (
	"fmt"
	"testing"
)

// decodeBenchCases are the events a replay decodes most (the frame
// events, borrowed into an arena as the replay does) and a few others, in
// the canonical form the ledger writes, and one in a form only the general
// scanner takes (members out of order, spaces).
func decodeBenchCases() []struct {
	name, typ string
	data      []byte
	borrow    bool
} {
	sig := b58(64, 7)
	wallet := b58(32, 3)
	var payouts string
	var ps []Payout
	for i := range 8 {
		if i > 0 {
			payouts += ","
		}
		payouts += fmt.Sprintf(`{"operator_id":"op-%d","wallet":"%s","amount":"%d"}`, i, wallet, 1000+i)
		ps = append(ps, Payout{OperatorID: fmt.Sprintf("op-%d", i), Wallet: wallet, Amount: BaseUnits(1000 + i)})
	}
	root, err := PlanRoot(3, ps)
	if err != nil {
		panic(err)
	}
	return []struct {
		name, typ string
		data      []byte
		borrow    bool
	}{
		{"FrameAssigned", TypeFrameAssigned, []byte(`{"job_id":"job-17","frame":412,"node_id":"node-0042","lease_until":"2026-12-07T15:00:00Z","max_leases":4}`), true},
		{"FrameRendered", TypeFrameRendered, []byte(`{"job_id":"job-17","frame":412,"node_id":"node-0042","output_hash":"` + hex64 + `","duration_ms":61500,"telemetry":{"gpu_temp_c":71,"vram_used_mb":10240},"signature":"` + sig + `"}`), true},
		{"FrameAccepted", TypeFrameAccepted, []byte(`{"job_id":"job-17","frame":412,"node_id":"node-0042"}`), true},
		{"NodeRegistered", TypeNodeRegistered, []byte(`{"node_id":"node-0042","operator_id":"op-7","node_pubkey":"` + b58(32, 9) + `","gpu":"RTX 4090","ob_score":"1234.5","vram_gb":24}`), false},
		{"SettlementPlanned8", TypeSettlementPlanned, []byte(`{"epoch":3,"root":"` + HashHex(root) + `","total":"8028","payouts":[` + payouts + `]}`), false},
		{"FrameRenderedGeneral", TypeFrameRendered, []byte(`{ "frame": 412, "job_id": "job-17", "node_id": "node-0042", "output_hash": "` + hex64 + `", "duration_ms": 61500, "telemetry": {}, "signature": "` + sig + `" }`), true},
	}
}

// BenchmarkDecodeEvent decodes (and validates) one event per iteration,
// as a replay does: the frame events borrowed into an arena reset every
// 1024 events, the others copied.
func BenchmarkDecodeEvent(b *testing.B) {
	for _, c := range decodeBenchCases() {
		b.Run(c.name, func(b *testing.B) {
			var arena FrameArena
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				var err error
				if c.borrow {
					_, err = DecodeEventBorrowed(c.typ, c.data, &arena)
					if n++; n%1024 == 0 {
						arena.Reset()
					}
				} else {
					_, err = DecodeEvent(c.typ, c.data)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
