package readapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/projections"
)

// TestChannelEndpoints: on a log with a schedule, /v1/epochs/{n} and
// /v1/epochs/{n}/shares carry the channels, and /v1/operators/{id} lists
// per-epoch channel amounts and each node's availability (idle %, points,
// rank and penalty), also for an operator with availability only.
func TestChannelEndpoints(t *testing.T) {
	w := newWorld(t)
	b := w.b
	b.Schedule("RNP-015", 1, map[string]string{"job": "15000", "availability": "2884.61538"})
	b.NodeVRAM("n1", "op-a", "860", 24)
	b.NodeVRAM("n2", "op-idle", "500", 48)
	for i := 0; i < 5; i++ {
		b.NodeVRAM("f"+string(rune('1'+i)), "op-farm", "400", 16)
	}
	b.Job("j", 1, "1")
	b.Frame("j", 0, "n1", 60_000)
	b.Availability(1, "n1", 1000, 1000, 100)
	b.Availability(1, "n2", 1000, 750, 0)
	for i := 0; i < 5; i++ {
		b.Availability(1, "f"+string(rune('1'+i)), 1000, uint64(900-i*10), 0)
	}
	b.CloseEpochChannels(1, map[string]domain.BaseUnits{"job": 1_500_000_000_000, "availability": 288_461_538_000})
	l := w.ledger()
	s := newServer(t, w, openOptions())

	doc, _, err := l.Shares(1)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(s.get(t, "/v1/epochs/1/shares").body), mustJSON(t, doc); got != want {
		t.Fatalf("shares\n got %s\nwant %s", got, want)
	}
	if !strings.Contains(mustJSON(t, doc), `"channels":{"job":{"emission":"1500000000000","allocated":"1500000000000","unallocated":"0"},"availability":{"emission":"288461538000","allocated":"288461538000","unallocated":"0"}}`) {
		t.Fatalf("shares without channels: %s", mustJSON(t, doc))
	}
	var ep struct {
		Channels projections.ChannelTotals `json:"channels"`
	}
	s.get(t, "/v1/epochs/1").json(t, &ep)
	if ep.Channels["availability"].Allocated != "288461538000" || ep.Channels["job"].Emission != "1500000000000" {
		t.Fatalf("epoch 1 channels %+v", ep.Channels)
	}

	var idle OperatorDoc
	s.get(t, "/v1/operators/op-idle").json(t, &idle)
	if len(idle.Epochs) != 1 || idle.Epochs[0].Channels["job"] != "0" || idle.Epochs[0].Channels["availability"] == "0" ||
		idle.Epochs[0].Allocated != idle.Epochs[0].Channels["availability"] || len(idle.Epochs[0].Availability) != 1 {
		t.Fatalf("op-idle: %s", mustJSON(t, idle))
	}
	na := idle.Epochs[0].Availability[0]
	if na.NodeID != "n2" || na.Idle != "3/4" || na.IdlePercent != "75" || na.Rank != 1 || na.Penalty != "1" {
		t.Fatalf("n2 availability %+v", na)
	}
	if idle.Nodes[0].VRAMGB != 48 {
		t.Fatalf("nodes %+v", idle.Nodes)
	}

	var farm OperatorDoc
	s.get(t, "/v1/operators/op-farm").json(t, &farm)
	av := farm.Epochs[0].Availability
	if len(av) != 5 || av[3].Rank != 4 || av[3].Penalty != "0.52204577676101604789" || av[4].Penalty != "0.27253179303401260312" {
		b, _ := json.Marshal(av)
		t.Fatalf("farm availability %s", b)
	}
}
