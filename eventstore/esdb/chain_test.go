package esdb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/epochledger/epochledger/eventstore"
)

var goldenEvent = eventstore.RecordedEvent{
	Position: 123456, // not hashed
	Revision: 7,
	Stream:   "job-42",
	ID:       "5f1b1a4e-9c1d-4c8e-8a55-2c7b3f0e9d11",
	Type:     "FrameAccepted",
	Time:     "2024-01-02T03:04:05Z",
	Data:     []byte(`{"job_id":"42","frame":3,"node_id":"n1"}`),
}

// The chain hash encoding is a public contract (auditors recompute it):
// these values must never change.
func TestChainHashGolden(t *testing.T) {
	h1 := ChainHash([32]byte{}, &goldenEvent)
	h2 := ChainHash(h1, &goldenEvent)
	const want1 = "d91c4c56eb3d8078cd54f79674aba8769139f7d07ffd2600fcc1611544eabb19"
	const want2 = "c6b19165bb612368e8a03b1146abd2a0ec821de51d93154371206bd6f2b4d0c6"
	if got := hex.EncodeToString(h1[:]); got != want1 {
		t.Errorf("first hash %s, want %s", got, want1)
	}
	if got := hex.EncodeToString(h2[:]); got != want2 {
		t.Errorf("second hash %s, want %s", got, want2)
	}
	// The same, spelled out from the documented layout.
	var b bytes.Buffer
	b.Write(make([]byte, 32))
	str := func(s string) { binary.Write(&b, binary.BigEndian, uint32(len(s))); b.WriteString(s) }
	str("job-42")
	binary.Write(&b, binary.BigEndian, uint64(7))
	str(goldenEvent.ID)
	str("FrameAccepted")
	str("2024-01-02T03:04:05Z")
	str(string(goldenEvent.Data))
	if sha256.Sum256(b.Bytes()) != h1 {
		t.Error("ChainHash differs from its documented layout")
	}
}

// Every field counts, the position does not, and bytes cannot move from
// one field to the next unnoticed.
func TestChainHashFields(t *testing.T) {
	base := ChainHash([32]byte{}, &goldenEvent)
	moved := goldenEvent
	moved.Position = 1
	if ChainHash([32]byte{}, &moved) != base {
		t.Error("the position changed the hash")
	}
	mods := []func(e *eventstore.RecordedEvent){
		func(e *eventstore.RecordedEvent) { e.Revision++ },
		func(e *eventstore.RecordedEvent) { e.Stream = "job-43" },
		func(e *eventstore.RecordedEvent) { e.ID = "5f1b1a4e-9c1d-4c8e-8a55-2c7b3f0e9d12" },
		func(e *eventstore.RecordedEvent) { e.Type = "FrameRejected" },
		func(e *eventstore.RecordedEvent) { e.Time = "2024-01-02T03:04:06Z" },
		func(e *eventstore.RecordedEvent) { e.Data = append([]byte(nil), e.Data[:len(e.Data)-1]...) },
		// Shift a byte between adjacent fields.
		func(e *eventstore.RecordedEvent) { e.Type, e.Time = "FrameAccepted2", "024-01-02T03:04:05Z" },
	}
	for i, m := range mods {
		e := goldenEvent
		m(&e)
		if ChainHash([32]byte{}, &e) == base {
			t.Errorf("modification %d left the hash unchanged", i)
		}
	}
	if ChainHash([32]byte{1}, &goldenEvent) == base {
		t.Error("the previous hash does not count")
	}
}

func TestChainCheckpoints(t *testing.T) {
	f := startFake(t)
	s := openFake(t, f, nil)
	defer s.Close()
	ctx := context.Background()

	if cp, err := s.WriteChainCheckpoint(ctx); err != nil || cp.Count != 0 {
		t.Fatalf("checkpoint of an empty log: %+v %v", cp, err)
	}
	var ids []string
	for i := 0; i < 4; i++ {
		evs := events(5)
		for _, e := range evs {
			ids = append(ids, e.ID)
		}
		if _, err := s.Append(ctx, "chain-a", eventstore.Any(), evs...); err != nil {
			t.Fatal(err)
		}
		cp, err := s.WriteChainCheckpoint(ctx)
		if err != nil {
			t.Fatalf("checkpoint %d: %v", i, err)
		}
		if cp.Revision != uint64(i) || cp.Count != uint64(5*(i+1)) {
			t.Fatalf("checkpoint %d: %+v", i, cp)
		}
	}
	// Nothing new: no new checkpoint.
	cp, err := s.WriteChainCheckpoint(ctx)
	if err != nil || cp.Revision != 3 {
		t.Fatalf("idle checkpoint: %+v %v", cp, err)
	}
	// The chain matches a recomputation from ReadAll, and checkpoints are
	// not part of the log.
	all := readAllOf(t, s, 1)
	if len(all) != 20 {
		t.Fatalf("ReadAll: %d events (checkpoints must not show)", len(all))
	}
	var h [32]byte
	for i := range all {
		h = ChainHash(h, &all[i])
	}
	if h != cp.ChainHash || cp.UptoPosition != all[19].Position {
		t.Fatalf("checkpoint %x upto %d, recomputed %x upto %d", cp.ChainHash, cp.UptoPosition, h, all[19].Position)
	}
	if _, err := s.Append(ctx, "chain-a", eventstore.Any(), events(2)...); err != nil {
		t.Fatal(err)
	}
	var calls int
	rep, err := s.VerifyChain(ctx, func(done, total uint64) { calls++ })
	if err != nil || !rep.OK() || rep.Verified != 4 || rep.Checkpoints != 4 || rep.Events != 22 || rep.Unanchored != 2 || calls == 0 {
		t.Fatalf("verify: %+v %v (progress calls %d)", rep, err, calls)
	}

	// Rewrite the data of event 12 (third stretch) on the server.
	f.tamper(ids[12], []byte(`{"i":999}`))
	rep, err = s.VerifyChain(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Mismatches) != 1 || rep.Verified != 3 {
		t.Fatalf("after tampering: %+v", rep)
	}
	m := rep.Mismatches[0]
	if m.Checkpoint != 2 || m.AfterPosition != all[9].Position || m.FirstPosition != all[10].Position || m.UptoPosition != all[14].Position {
		t.Fatalf("mismatch %s: want checkpoint 2 covering (%d, %d]", m, all[9].Position, all[14].Position)
	}

	// A second writer with a stale view of the chain stream loses the race.
	if _, err := s.Append(ctx, "chain-a", eventstore.Any(), events(1)...); err != nil {
		t.Fatal(err)
	}
	f.set(func(f *fakeServer) {
		f.write(ChainStreamName, ChainCheckpointType, []byte(`{"upto_position":1,"count":1,"chain_hash":"00"}`))
	})
	// (the forged checkpoint is malformed and out of order: VerifyChain says so)
	rep, _ = s.VerifyChain(ctx, nil)
	if rep.OK() {
		t.Fatalf("forged checkpoint not reported: %+v", rep)
	}
}

func TestChainCheckpointRace(t *testing.T) {
	f := startFake(t)
	a := openFake(t, f, nil)
	defer a.Close()
	b := openFake(t, f, nil)
	defer b.Close()
	ctx := context.Background()
	if _, err := a.Append(ctx, "race", eventstore.Any(), events(2)...); err != nil {
		t.Fatal(err)
	}
	// a computes, then b extends the chain before a appends. (Had b
	// written the very same checkpoint, a's append would be an idempotent
	// no-op: the checkpoint's id follows from its content.)
	prev, found, next, err := a.extendChain(ctx)
	if err != nil || found || next.Count != 2 {
		t.Fatalf("extend: %+v %v %+v %v", prev, found, next, err)
	}
	if _, err := b.Append(ctx, "race", eventstore.Any(), events(1)...); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteChainCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.appendCheckpoint(ctx, prev, found, next); !errors.Is(err, eventstore.ErrWrongRevision) {
		t.Fatalf("the slower writer: %v, want ErrWrongRevision", err)
	}
	// Run again, it sees b's checkpoint and has nothing to add.
	cp, err := a.WriteChainCheckpoint(ctx)
	if err != nil || cp.Revision != 0 || cp.Count != 3 {
		t.Fatalf("again: %+v %v", cp, err)
	}
	rep, err := a.VerifyChain(ctx, nil)
	if err != nil || !rep.OK() || rep.Verified != 1 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}
