package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/scenarios/simlog"
)

// busyLog has every kind of state: leases, rejections, compute work (of
// the old form, then attested by a registered client), burns, bridge
// conversions, closed epochs and a settlement in flight.
func busyLog() *simlog.Builder {
	b := base()
	b.SetWallet("op-a")
	b.SetWallet("op-b")
	b.Frame("j", 0, "n1", 3_600_000)
	b.Assign("j", 1, "n2")
	b.Rendered("j", 1, "n2", 1000, "bad")
	b.Reject("j", 1, "n2", "mismatch")
	b.Frame("j", 1, "n3", 7_000)
	b.Compute("t1", "n2", 60_000, "3.5")
	b.Job("k", 2, "1.5")
	b.Frame("k", 0, "n2", 5_000)
	b.Frame("k", 1, "n3", 6_000)
	b.Complete("k")
	b.CloseEpoch(1, domain.DefaultEmission)
	b.ComputeClient("io.net", "50", "60") // compute clients, their keys and caps used
	b.Compute("t2", "n1", 60_000, "40")
	b.Frame("j", 2, "n2", 99_000)
	b.Assign("j", 3, "n1")
	b.Burn("j", "99.99", "4.2")
	b.CloseEpoch(2, 1_500_000_000_000)
	return b
}

func storeOf(t *testing.T, b *simlog.Builder) eventstore.Store {
	s, err := filestore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := b.AppendTo(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

// foldTo folds positions 1..k and audits the ledger there.
func foldTo(t *testing.T, s eventstore.Store, k uint64) *Ledger {
	l := New(Config{TrackIDs: true})
	err := s.ReadAll(context.Background(), 1, func(e *eventstore.RecordedEvent) error {
		if e.Position > k {
			return errStop
		}
		l.ApplyRecorded(e)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		t.Fatal(err)
	}
	if err := l.Audit(); err != nil {
		t.Fatalf("at position %d: %v", k, err)
	}
	return l
}

// TestCheckpointResumeEqualsRebuild: for every position k, a checkpoint
// taken at k, read back and caught up equals a rebuild from position 1.
func TestCheckpointResumeEqualsRebuild(t *testing.T) {
	s := storeOf(t, busyLog())
	full, err := Build(context.Background(), s, Config{TrackIDs: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := full.StateHash()
	head, _ := s.Head(context.Background())
	dir := t.TempDir()
	for k := uint64(0); k <= head; k++ {
		partial := foldTo(t, s, k)
		path := filepath.Join(dir, "ckpt")
		if err := partial.WriteCheckpoint(path); err != nil {
			t.Fatal(err)
		}
		back, err := ReadCheckpoint(path)
		if err != nil {
			t.Fatalf("k=%d: %v", k, err)
		}
		h1, _ := partial.StateHash()
		h2, _ := back.StateHash()
		if h1 != h2 {
			t.Fatalf("k=%d: checkpoint does not restore the same state", k)
		}
		if err := back.CatchUp(context.Background(), s, nil); err != nil {
			t.Fatal(err)
		}
		if got, _ := back.StateHash(); got != want {
			t.Fatalf("k=%d: resume then catch up differs from a rebuild", k)
		}
		// The resumed ledger still checks new events like the rebuilt one.
		b := busyLog()
		b.Frame("j", 3, "n1", 5)
		env := b.Envelopes()[len(b.Envelopes())-1]
		ev, _ := env.Event()
		if (back.Check(env.Time, ev) == nil) != (full.Check(env.Time, ev) == nil) {
			t.Fatalf("k=%d: resumed ledger checks differently", k)
		}
	}
}

func TestCheckpointTamperRefused(t *testing.T) {
	l := foldTo(t, storeOf(t, busyLog()), 1000)
	path := filepath.Join(t.TempDir(), "ckpt")
	if err := l.WriteCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	i := len(b) - 40
	b[i] ^= 1
	os.WriteFile(path, b, 0o644)
	if _, err := ReadCheckpoint(path); !errors.Is(err, ErrBadCheckpoint) {
		t.Fatalf("tampered checkpoint: %v", err)
	}
}

// recordedOnly hides a store's ReadAllRaw, so CatchUp takes the ReadAll path.
type recordedOnly struct{ eventstore.Store }

// TestCatchUpPathsAgree: the zero-copy path (ReadAllRaw, filestore) and the
// ReadAll path (any backend) and event-by-event folding give the same
// state, ids and last id, over several decode batches.
func TestCatchUpPathsAgree(t *testing.T) {
	b := busyLog()
	b.Job("big", 1500, "0.5")
	for f := uint32(0); f < 1500; f++ {
		b.Frame("big", f, []string{"n1", "n2", "n3"}[f%3], uint64(1000+f))
	}
	b.Complete("big")
	b.CloseEpoch(3, domain.DefaultEmission)
	s := storeOf(t, b)
	if _, ok := s.(eventstore.RawReader); !ok {
		t.Fatal("filestore no longer implements eventstore.RawReader: this test would compare a path with itself")
	}
	// Frame events borrow the batches' bytes: poison each batch once it
	// is folded, so any borrowed string the ledger kept changes the state.
	poisonFolded = true
	defer func() { poisonFolded = false }()
	head, _ := s.Head(context.Background())
	if head < 3*decodeBatch {
		t.Fatalf("log of %d events spans too few decode batches", head)
	}
	for _, track := range []bool{false, true} {
		raw, err := Build(context.Background(), s, Config{TrackIDs: track}, nil)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := Build(context.Background(), recordedOnly{s}, Config{TrackIDs: track}, nil)
		if err != nil {
			t.Fatal(err)
		}
		one := foldTo(t, s, head)
		hr, _ := raw.StateHash()
		hc, _ := rec.StateHash()
		if hr != hc || raw.LastID != rec.LastID || raw.LastID != one.LastID || raw.Position != head {
			t.Fatalf("track ids %v: raw path %s %q at %d, ReadAll path %s %q, one by one %q", track, hr, raw.LastID, raw.Position, hc, rec.LastID, one.LastID)
		}
		if track {
			if ho, _ := one.StateHash(); ho != hr || len(raw.IDs) != int(head) {
				t.Fatalf("tracked ids: %d of %d, state %s vs one by one %s", len(raw.IDs), head, hr, ho)
			}
		}
	}
}

// TestStreamedStateIsMarshal: the state streamed job by job is byte for
// byte what json.Marshal gives for the whole snapshot, and the checkpoint
// file reads back through both the fast layout and the general decoder.
func TestStreamedStateIsMarshal(t *testing.T) {
	b := busyLog()
	b.Assign("j", 4, "n2")
	b.Rendered("j", 4, "n2", 1000, "out")
	l := foldTo(t, storeOf(t, b), 1<<62)
	snap := l.snapshot()
	want, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := writeState(&got, snap); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("streamed state differs from json.Marshal:\n%s\n%s", got.Bytes(), want)
	}
	path := filepath.Join(t.TempDir(), "c.ckpt")
	if err := l.WriteCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	if p, ok := CheckpointPosition(path); !ok || p != l.Position {
		t.Fatalf("CheckpointPosition = %d %v, want %d", p, ok, l.Position)
	}
	if _, ok := CheckpointPosition(path + ".missing"); ok {
		t.Fatal("CheckpointPosition of a missing file")
	}
	raw, _ := os.ReadFile(path)
	if _, ok := splitCheckpoint(raw); !ok {
		t.Fatalf("WriteCheckpoint's layout is not the one ReadCheckpoint reads fast: %.120s", raw)
	}
	wantHash, _ := l.StateHash()
	for _, file := range [][]byte{raw, append([]byte("{ "), raw[1:]...)} { // the second takes the general path
		os.WriteFile(path, file, 0o644)
		back, err := ReadCheckpoint(path)
		if err != nil {
			t.Fatal(err)
		}
		if h, _ := back.StateHash(); h != wantHash {
			t.Fatalf("read back %s, want %s", h, wantHash)
		}
	}
}
