package projections

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/scenarios/simlog"
)

// foldBuilder folds every event of b through Check and Apply, failing on a
// refusal.
func foldBuilder(t *testing.T, b *simlog.Builder) *Ledger {
	t.Helper()
	l := New(Config{})
	for i, env := range b.Envelopes() {
		ev, err := env.Event()
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Check(env.Time, ev); err != nil {
			t.Fatalf("event %d refused: %v", i+1, err)
		}
		l.Apply(uint64(i+1), ev)
	}
	return l
}

// refusedNext folds b and reports the refusal of one more event.
func refusedNext(t *testing.T, b *simlog.Builder, ev domain.Event) error {
	t.Helper()
	l := foldBuilder(t, b)
	if err := ev.Validate(); err != nil {
		return err
	}
	return l.Check(time.Now().UTC().Format(time.RFC3339), ev)
}

func TestChannelStatefulRules(t *testing.T) {
	start := time.Date(2024, 6, 5, 0, 0, 0, 0, time.UTC)
	base := func() *simlog.Builder {
		b := simlog.New("rules", start)
		b.NodeVRAM("n1", "op-a", "100", 24)
		b.CloseEpoch(1, 100)
		b.CloseEpoch(2, 100)
		b.Schedule("RNP-013", 4, map[string]string{"job": "15000", "availability": "2884.61538"})
		return b
	}
	sched := &domain.EmissionScheduleSet{RNP: "RNP-X", EffectiveEpoch: 2, Channels: map[string]domain.RenderAmount{"job": 1}}
	cases := []struct {
		name       string
		ev         domain.Event
		field, has string
	}{
		{"retroactive schedule", sched, "effective_epoch", "must be greater than the last closed epoch (2)"},
		{"schedule for the closed epoch itself", &domain.EmissionScheduleSet{RNP: "R", EffectiveEpoch: 2, Channels: map[string]domain.RenderAmount{"job": 1}}, "effective_epoch", "a schedule never changes a closed epoch"},
		{"record for a closed epoch", &domain.NodeAvailability{Epoch: 2, NodeID: "n1", WindowMS: 10, OnlineMS: 5}, "epoch", "must be the open epoch (3)"},
		{"record for a future epoch", &domain.NodeAvailability{Epoch: 4, NodeID: "n1", WindowMS: 10, OnlineMS: 5}, "epoch", "must be the open epoch (3)"},
		{"record for an unknown node", &domain.NodeAvailability{Epoch: 3, NodeID: "nx", WindowMS: 10, OnlineMS: 5}, "node_id", `node "nx" is not registered`},
		{"busy > online", &domain.NodeAvailability{Epoch: 3, NodeID: "n1", WindowMS: 10, OnlineMS: 5, BusyMS: 6}, "busy_ms", "must not exceed online_ms (5)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := refusedNext(t, base(), c.ev)
			ve, ok := err.(*domain.ValidationError)
			if !ok || ve.Field != c.field || !strings.Contains(ve.Rule, c.has) || ve.Event != c.ev.EventType() {
				t.Fatalf("got %v, want %s field %q: ...%s", err, c.ev.EventType(), c.field, c.has)
			}
		})
	}
	t.Run("second record for a node in one epoch", func(t *testing.T) {
		b := base()
		b.Availability(3, "n1", 10, 5, 0)
		err := refusedNext(t, b, &domain.NodeAvailability{Epoch: 3, NodeID: "n1", WindowMS: 10, OnlineMS: 6})
		if err == nil || !strings.Contains(err.Error(), `NodeAvailability: field "node_id": node "n1" already has an availability record for epoch 3`) {
			t.Fatal(err)
		}
	})
	inForce := func() *simlog.Builder {
		b := base()
		b.CloseEpoch(3, 100) // no schedule in force for 3: job = emission
		return b
	}
	t.Run("closing without the schedule's channels", func(t *testing.T) {
		err := refusedNext(t, inForce(), &domain.EpochClosed{Epoch: 4, Emission: 1_788_461_538_000})
		if err == nil || !strings.Contains(err.Error(), `EpochClosed: field "channels": must equal the schedule in force for epoch 4 (RNP-013 from epoch 4`) ||
			!strings.Contains(err.Error(), "job=1500000000000 availability=288461538000; got none") {
			t.Fatal(err)
		}
	})
	t.Run("closing with channels that differ", func(t *testing.T) {
		err := refusedNext(t, inForce(), &domain.EpochClosed{Epoch: 4, Emission: 1_500_000_000_001,
			Channels: map[string]domain.BaseUnits{"job": 1_500_000_000_000, "availability": 1}})
		if err == nil || !strings.Contains(err.Error(), "got job=1500000000000 availability=1") {
			t.Fatal(err)
		}
	})
	t.Run("closing with the schedule's channels", func(t *testing.T) {
		err := refusedNext(t, inForce(), &domain.EpochClosed{Epoch: 4, Emission: 1_788_461_538_000,
			Channels: map[string]domain.BaseUnits{"job": 1_500_000_000_000, "availability": 288_461_538_000}})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestChannelsLedgerInvariants: on the golden channel log every channel's
// allocations sum to its amount, an epoch's to its emission, and the
// operators' balances to what was minted.
func TestChannelsLedgerInvariants(t *testing.T) {
	l := foldBuilder(t, channelsWeekLog())
	if err := l.Audit(); err != nil {
		t.Fatal(err)
	}
	var minted, owed domain.BaseUnits
	for _, ep := range l.Epochs {
		if !ep.Closed {
			continue
		}
		var sumEp domain.BaseUnits
		for _, ca := range ep.Channels {
			var s domain.BaseUnits
			for _, a := range ca.Allocations {
				s += a
			}
			if s+ca.Unallocated != ca.Amount {
				t.Fatalf("epoch %d channel %s: %d + %d != %d", ep.N, ca.Name, s, ca.Unallocated, ca.Amount)
			}
			sumEp += ca.Amount
		}
		if sumEp != ep.Emission {
			t.Fatalf("epoch %d: channels %d != emission %d", ep.N, sumEp, ep.Emission)
		}
		minted += ep.Emission - ep.Unallocated
	}
	for _, o := range l.Operators {
		owed += o.Allocated
	}
	if minted != l.Minted || owed != minted {
		t.Fatalf("minted %d, ledger %d, allocated %d", minted, l.Minted, owed)
	}
	// The idle node's operator earns availability and nothing else.
	var c *OperatorShare
	doc, _, _ := l.Shares(2)
	for i := range doc.Operators {
		if doc.Operators[i].OperatorID == "op-c" {
			c = &doc.Operators[i]
		}
	}
	if c == nil || c.Channels["job"] != "0" || c.Channels["availability"] == "0" || c.Allocated != c.Channels["availability"] {
		t.Fatalf("op-c: %+v", c)
	}
	// Late registration: n4 registered in epoch 2 has age 1 there.
	if n := l.Nodes["n4"]; n.RegEpoch != 2 {
		t.Fatalf("n4 registered in epoch %d", n.RegEpoch)
	}
}

// TestChannelsCheckpointResume: a checkpoint at every position of the
// channel log, read back and caught up, equals the rebuild, documents
// included; a checkpoint of the previous version is refused (rebuilt).
func TestChannelsCheckpointResume(t *testing.T) {
	s := storeOf(t, channelsWeekLog())
	full, err := Build(context.Background(), s, Config{TrackIDs: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := full.StateHash()
	docs := func(l *Ledger) string {
		var b strings.Builder
		for n := uint64(1); n <= uint64(len(l.Epochs)); n++ {
			d, _, _ := l.Shares(n)
			j, _ := json.Marshal(d)
			b.Write(j)
		}
		j, _ := json.Marshal(l.OperatorEpochs("op-e"))
		b.Write(j)
		return b.String()
	}
	wantDocs := docs(full)
	head, _ := s.Head(context.Background())
	path := filepath.Join(t.TempDir(), "ckpt")
	for k := uint64(0); k <= head; k += 3 {
		partial := foldTo(t, s, k)
		if err := partial.WriteCheckpoint(path); err != nil {
			t.Fatal(err)
		}
		back, err := ReadCheckpoint(path)
		if err != nil {
			t.Fatalf("k=%d: %v", k, err)
		}
		if docs(back) != docs(partial) {
			t.Fatalf("k=%d: restored documents differ", k)
		}
		if err := back.CatchUp(context.Background(), s, nil); err != nil {
			t.Fatal(err)
		}
		if got, _ := back.StateHash(); got != want || docs(back) != wantDocs {
			t.Fatalf("k=%d: resume then catch up differs from a rebuild", k)
		}
	}
	// A version-2 checkpoint (before channels) is refused, not misread.
	b, _ := os.ReadFile(path)
	old := strings.Replace(string(b), `{"version":3,`, `{"version":2,`, 1)
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCheckpoint(path); err == nil || !strings.Contains(err.Error(), "version 2, want 3") {
		t.Fatalf("old checkpoint: %v", err)
	}
	if _, ok := CheckpointPosition(path); ok {
		t.Fatal("old checkpoint's position trusted")
	}
}

// TestAuditFindsBrokenInvariants: a channel allocation changed behind the
// fold's back is found.
func TestAuditFindsBrokenInvariants(t *testing.T) {
	l := foldBuilder(t, channelsWeekLog())
	l.Epoch(2).Channels[1].Allocations["op-c"]++
	if err := l.Audit(); err == nil || !strings.Contains(err.Error(), "epoch 2 channel availability") {
		t.Fatalf("audit: %v", err)
	}
	l = foldBuilder(t, channelsWeekLog())
	l.Operators["op-a"].Allocated++
	if err := l.Audit(); err == nil || !strings.Contains(err.Error(), `operator "op-a" is allocated`) {
		t.Fatalf("audit: %v", err)
	}
}
