package projections

import (
	"context"
	"testing"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/eventstoretest"
	"github.com/epochledger/epochledger/scenarios/simlog"
)

// mustHash is the ledger's state hash.
func mustHash(t *testing.T, l *Ledger) string {
	t.Helper()
	h, err := l.StateHash()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// rebuilt is the state hash of a fold of the whole store.
func rebuilt(t *testing.T, s eventstore.Store, cfg Config) string {
	t.Helper()
	l, err := Build(context.Background(), s, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return mustHash(t, l)
}

// storedAt returns the positions of the events with ids, read back.
func storedAt(t *testing.T, s eventstore.Store, ids []string) []uint64 {
	t.Helper()
	at := map[string]uint64{}
	if err := s.ReadAll(context.Background(), 1, func(e *eventstore.RecordedEvent) error {
		at[e.ID] = e.Position
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	out := make([]uint64, len(ids))
	for i, id := range ids {
		out[i] = at[id]
	}
	return out
}

// The speculative fold of a batch, stored right after the ledger's
// position, is the fold of the log: ids, last id, counts and every
// recorded position included (state hashes equal, the audit holds).
func TestPendingStoredAfterLedger(t *testing.T) {
	ctx := context.Background()
	envs := busyLog().Envelopes()
	for _, k := range []int{0, len(envs) / 2, len(envs) - 1} {
		s := storeOf(t, simlog.New("none", t0))
		if err := simlog.AppendBatch(ctx, s, envs[:k]); err != nil {
			t.Fatal(err)
		}
		cfg := Config{TrackIDs: true}
		l, err := Build(ctx, s, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := l.Speculate()
		ids := make([]string, 0, len(envs)-k)
		for _, env := range envs[k:] {
			ev, err := env.Event()
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Add(env.Time, ev); err != nil {
				t.Fatalf("batch from %d: %s: %v", k, env.Type, err)
			}
			ids = append(ids, env.ID)
		}
		if p.Len() != len(ids) {
			t.Fatalf("batch of %d events holds %d", len(ids), p.Len())
		}
		if err := simlog.AppendBatch(ctx, s, envs[k:]); err != nil {
			t.Fatal(err)
		}
		if err := p.Stored(ctx, s, storedAt(t, s, ids), ids); err != nil {
			t.Fatal(err)
		}
		if p.Dirty() {
			t.Fatal("a stored batch is dirty")
		}
		if got, want := mustHash(t, l), rebuilt(t, s, cfg); got != want {
			t.Fatalf("batch from %d: speculative fold %s, fold of the log %s", k, got, want)
		}
		if l.LastID != envs[len(envs)-1].ID || l.Position != uint64(len(envs)) {
			t.Fatalf("ledger at %d (%s), want %d (%s)", l.Position, l.LastID, len(envs), envs[len(envs)-1].ID)
		}
		if err := l.Audit(); err != nil {
			t.Fatal(err)
		}
		if err := p.Add(envs[0].Time, &domain.OperatorWalletSet{OperatorID: "op-a", Wallet: simlog.Wallet("op-a")}); err == nil {
			t.Fatal("an event added to a stored batch")
		}
	}
}

// planned returns epoch 1's plan of l in two parts (SettlementPlanned
// events of one plan split after the first payout).
func planned(t *testing.T, l *Ledger) []domain.Event {
	t.Helper()
	payouts, _ := l.PlanPayouts(1)
	if len(payouts) < 2 {
		t.Fatalf("%d payouts: want at least 2 to split a plan", len(payouts))
	}
	root, err := domain.PlanRoot(1, payouts)
	if err != nil {
		t.Fatal(err)
	}
	var total domain.BaseUnits
	for _, p := range payouts {
		total += p.Amount
	}
	r := domain.HashHex(root)
	return []domain.Event{
		&domain.SettlementPlanned{Epoch: 1, Root: r, Total: total, Payouts: payouts[:1], Part: 1, Parts: 2},
		&domain.SettlementPlanned{Epoch: 1, Root: r, Total: total, Payouts: payouts[1:], Part: 2, Parts: 2},
	}
}

// A batch that another writer's event preceded in the store: the ledger
// catches up (folding the foreign event and the batch, a second fold of
// settlement events changing nothing) and the plan's position is the
// stored one, so the ledger again equals a fold of the log.
func TestPendingStoredAfterOthers(t *testing.T) {
	ctx := context.Background()
	b := base()
	b.SetWallet("op-a")
	b.SetWallet("op-b")
	b.Frame("j", 0, "n1", 3_600_000)
	b.Frame("j", 1, "n2", 7_000)
	b.CloseEpoch(1, domain.DefaultEmission)
	s := storeOf(t, b)
	b.Drain()
	l, err := Build(ctx, s, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := l.Position
	evs := planned(t, l)
	p := l.Speculate()
	now := t0.Add(time.Hour)
	var data []eventstore.EventData
	var ids []string
	for _, ev := range evs {
		if err := p.Add(now.Format(time.RFC3339Nano), ev); err != nil {
			t.Fatal(err)
		}
		env, err := domain.NewEnvelope(eventstoretest.NewID(), "settlement-1", now, ev)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, eventstore.EventData{ID: env.ID, Type: env.Type, Time: env.Time, Data: env.Data})
		ids = append(ids, env.ID)
	}
	if !p.Dirty() {
		t.Fatal("the first part is folded to check the second: the batch is dirty until stored")
	}
	// Another writer appends first.
	b.Tick(time.Minute)
	b.Node("n9", "op-z", "10")
	if err := simlog.AppendBatch(ctx, s, b.Drain()); err != nil {
		t.Fatal(err)
	}
	res, err := s.Append(ctx, "settlement-1", eventstore.NoStream(), data...)
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstPosition != at+2 {
		t.Fatalf("plan stored at %d, want %d (after the other writer's event)", res.FirstPosition, at+2)
	}
	if err := p.Stored(ctx, s, []uint64{res.FirstPosition, res.FirstPosition + 1}, ids); err != nil {
		t.Fatal(err)
	}
	if got := l.Epoch(1).Settlement; got == nil || got.PlannedAt != at+2 || got.Incomplete() {
		t.Fatalf("settlement after the catch-up: %+v", got)
	}
	if got, want := mustHash(t, l), rebuilt(t, s, Config{}); got != want {
		t.Fatalf("after others appended: ledger %s, fold of the log %s", got, want)
	}
	if err := l.Audit(); err != nil {
		t.Fatal(err)
	}
}

// A refused event is not added; a batch of one event, or none folded,
// leaves the ledger as it was.
func TestPendingRefusal(t *testing.T) {
	ctx := context.Background()
	s := storeOf(t, base())
	l, err := Build(ctx, s, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := mustHash(t, l)
	p := l.Speculate()
	dup := &domain.JobSubmitted{JobID: "j", Artist: "a", SceneHash: simlog.Hash("s"), Frames: 1, USDPerOBh: usd(t, "1")}
	if err := p.Add(t0.Format(time.RFC3339), dup); err == nil {
		t.Fatal("a second JobSubmitted of job j was added")
	}
	if p.Len() != 0 || p.Dirty() || mustHash(t, l) != before {
		t.Fatal("a refused first event changed the ledger")
	}
	ok := &domain.OperatorWalletSet{OperatorID: "op-a", Wallet: simlog.Wallet("op-a")}
	if err := p.Add(t0.Format(time.RFC3339), ok); err != nil {
		t.Fatal(err)
	}
	if p.Dirty() || mustHash(t, l) != before {
		t.Fatal("a batch of one event changed the ledger before it was stored")
	}
	if err := p.Add(t0.Format(time.RFC3339), dup); err == nil {
		t.Fatal("a second JobSubmitted of job j was added")
	}
	if !p.Dirty() {
		t.Fatal("the wallet was folded to check the next event: the batch must say the ledger is dirty")
	}
}
