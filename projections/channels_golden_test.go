package projections

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/scenarios/simlog"
)

// The golden channel logs are written by this code and their expected
// documents by testdata/golden/expect.py (an independent calculation in
// Python's decimal at 80 digits). TestChannelGoldenLogsCurrent checks the
// committed logs are what the builders write; EPOCHLEDGER_WRITE_GOLDEN=1
// rewrites them (then run expect.py in testdata/golden).

const week = 7 * 24 * 3600 * 1000

// channelsWeekLog: epoch 1 closes without channels (job = emission) while a
// schedule for epoch 2 is stored; epochs 2 and 3 pay job + availability.
// An idle node with no job work, a node without vram_gb, a node never
// idle, a late registration (age 1), an operator with 6 nodes.
func channelsWeekLog() *simlog.Builder {
	b := simlog.New("channels-week", time.Date(2024, 6, 5, 0, 0, 0, 0, time.UTC))
	b.NodeVRAM("n1", "op-a", "860", 24)
	b.NodeVRAM("n2", "op-b", "1200.5", 48)
	b.NodeVRAM("n3", "op-c", "310.25", 12) // idle all along, never renders
	b.Node("n5", "op-b", "500")            // no vram_gb: no availability reward
	b.Schedule("RNP-013", 2, map[string]string{"job": "15000", "availability": "2884.61538"})
	b.SetWallet("op-a")
	b.Job("j1", 4, "0.35")
	for f := uint32(0); f < 4; f++ {
		node := "n1"
		if f%2 == 1 {
			node = "n2"
		}
		b.Tick(time.Minute)
		b.Frame("j1", f, node, uint64(60_000+f*7_321))
	}
	b.CloseEpoch(1, 4_700_000_000_000)

	// Epoch 2: n4 registers late; availability from the coordinator.
	b.NodeVRAM("n4", "op-d", "2000", 80)
	b.Job("j2", 3, "1.1")
	b.Frame("j2", 0, "n1", 120_000)
	b.Frame("j2", 1, "n4", 90_000)
	b.Frame("j2", 2, "n5", 45_000)
	b.Availability(2, "n1", week, week-3_600_000, 120_000)
	b.Availability(2, "n2", week, week/2, 0)
	b.Availability(2, "n3", week, week, 0)
	b.Availability(2, "n4", week, 400_000_000, 90_000)
	b.Availability(2, "n5", week, week, 45_000)
	b.CloseEpochChannels(2, map[string]domain.BaseUnits{"job": 1_500_000_000_000, "availability": 288_461_538_000})

	// Epoch 3: op-e runs six identical-score nodes (ranks 4-6 penalised);
	// n2 is never idle.
	for i, vram := range []uint32{24, 24, 16, 48, 24, 8} {
		id := "e" + string(rune('1'+i))
		b.NodeVRAM(id, "op-e", "700", vram)
	}
	b.Job("j3", 2, "0.5")
	b.Frame("j3", 0, "n2", 300_000)
	b.Frame("j3", 1, "e1", 200_000)
	b.Availability(3, "n1", week, week, 0)
	b.Availability(3, "n2", week, 1_000_000, 1_000_000)
	b.Availability(3, "n3", week, week-1, 0)
	b.Availability(3, "n4", week, week, 300_000)
	for i := 0; i < 6; i++ {
		id := "e" + string(rune('1'+i))
		b.Availability(3, id, week, uint64(week-i*10_000_000), uint64(i*1000))
	}
	b.CloseEpochChannels(3, map[string]domain.BaseUnits{"job": 1_500_000_000_000, "availability": 288_461_538_000})
	return b
}

// channelsUnallocatedLog: two schedules with the same effective epoch (the
// later stored is in force), an availability channel without an eligible
// node (unallocated), and a job channel without work (unallocated).
func channelsUnallocatedLog() *simlog.Builder {
	b := simlog.New("channels-unallocated", time.Date(2024, 7, 3, 0, 0, 0, 0, time.UTC))
	b.Schedule("RNP-013", 1, map[string]string{"job": "15000", "availability": "2800"})
	b.Schedule("RNP-015", 1, map[string]string{"job": "15000", "availability": "2884.61538"})
	b.Node("m1", "op-x", "100")        // no vram_gb
	b.NodeVRAM("m2", "op-y", "100", 8) // never idle
	b.Job("k1", 1, "2")
	b.Frame("k1", 0, "m1", 10_000)
	b.Availability(1, "m1", 1000, 1000, 0)
	b.Availability(1, "m2", 1000, 500, 500)
	b.CloseEpochChannels(1, map[string]domain.BaseUnits{"job": 1_500_000_000_000, "availability": 288_461_538_000})
	b.Availability(2, "m2", 1000, 0, 0)
	b.CloseEpochChannels(2, map[string]domain.BaseUnits{"job": 1_500_000_000_000, "availability": 288_461_538_000})
	return b
}

var channelGoldenLogs = map[string]func() *simlog.Builder{
	"channels-week.jsonl":        channelsWeekLog,
	"channels-unallocated.jsonl": channelsUnallocatedLog,
}

func TestChannelGoldenLogsCurrent(t *testing.T) {
	for name, build := range channelGoldenLogs {
		path := filepath.Join("testdata", "golden", name)
		f, err := os.CreateTemp(t.TempDir(), "log")
		if err != nil {
			t.Fatal(err)
		}
		if err := build().WriteJSONL(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		got, _ := os.ReadFile(f.Name())
		if os.Getenv("EPOCHLEDGER_WRITE_GOLDEN") == "1" {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("%s differs from what its builder writes; rerun with EPOCHLEDGER_WRITE_GOLDEN=1 and expect.py", name)
		}
	}
}
