package filestore

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/epochledger/epochledger/eventstore"
)

// segVersions returns the version in each segment header of the log in dir.
func segVersions(t *testing.T, dir string) []uint32 {
	t.Helper()
	var vs []uint32
	for _, name := range segFiles(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		h, _, err := decodeHeader(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		vs = append(vs, h.version)
	}
	return vs
}

// TestVersion1LogContinues: a log written in version 1 opens, and the
// writer continues it with a version 2 segment (never mixing versions in
// one): one chain runs through both, Verify passes, HeadHash is the
// chain's last hash, and a chain hash kept from the version 1 part is
// still found.
func TestVersion1LogContinues(t *testing.T) {
	dir := golden(t, "", "good")
	old := chainOf(t, dir)
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := batchEvents("new", 3)
	if _, err := s.Append(context.Background(), "s-new", eventstore.NoStream(), evs...); err != nil {
		t.Fatal(err)
	}
	head, hh, err := s.HeadHash(context.Background())
	if err != nil || head != 15 {
		t.Fatalf("HeadHash: %d, %v", head, err)
	}
	s.Close()
	if got := segVersions(t, dir); len(got) != 3 || got[0] != 1 || got[1] != 1 || got[2] != 2 {
		t.Fatalf("segment versions %v, want [1 1 2]", got)
	}
	all := chainOf(t, dir)
	if len(all) != 15 || [32]byte(all[11]) != old[11] || all[14] != hh {
		t.Fatalf("chain through both versions: %d hashes, head hash %x, HeadHash %x", len(all), all[len(all)-1], hh)
	}
	rep := mustVerify(t, OSFS{}, dir)
	if rep.Events != 15 {
		t.Fatalf("verify: %+v", rep)
	}
	r, err := VerifyHead(dir, nil, nil, old[4])
	if err != nil || !r.OK() || r.HeadCheck == nil || r.HeadCheck.Position != 5 {
		t.Fatalf("VerifyHead of a version 1 event: %+v %v", r, err)
	}
	ro, err := Open(dir, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, rh, _ := ro.HeadHash(context.Background()); rh != hh {
		t.Fatalf("read-only HeadHash %x, the writer's %x", rh, hh)
	}
}

// TestVersion1EmptyNewestSegment: a version 1 log whose newest segment
// holds only its header (its writer stopped right after starting it) has
// that segment replaced by a version 2 one of the same name, which the
// writer then fills.
func TestVersion1EmptyNewestSegment(t *testing.T) {
	dir := golden(t, "", "good")
	newest := filepath.Join(dir, segmentName(7))
	b, err := os.ReadFile(newest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(newest, b[:headerSize], 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), "s-new", eventstore.NoStream(), batchEvents("new", 2)...); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got := segVersions(t, dir); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("segment versions %v, want [1 2]", got)
	}
	if rep := mustVerify(t, OSFS{}, dir); rep.Events != 8 {
		t.Fatalf("verify: %+v", rep)
	}
}

// TestVersion2RewriteFound: in version 2 an event of an older segment
// altered with its CRCs recomputed is found by Verify through the next
// segment's header, and in the newest segment through the commit record.
func TestVersion2RewriteFound(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	s, err := Open(dir, &Options{SegmentSize: 700})
	if err != nil {
		t.Fatal(err)
	}
	evs := goldenEvents()
	for i := 0; i < len(evs); i += 3 {
		if _, err := s.Append(context.Background(), "s", eventstore.Any(), evs[i:i+3]...); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	names := segFiles(t, dir)
	for _, seg := range []string{names[0], names[len(names)-1]} {
		t.Run(seg, func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "log")
			copyDir(t, dir, d)
			p := filepath.Join(d, seg)
			b, _ := os.ReadFile(p)
			offs := frameOffsets(b)
			o := offs[1]
			b[o+frameOverhead+payloadFixed+40] ^= 1 // a byte of the second event's content
			_, seed, _ := decodeHeader(b)
			for _, fo := range offs {
				fn := 5 + int(binary.LittleEndian.Uint32(b[fo:]))
				c := crcUpdate(seed, b[fo:fo+fn])
				binary.LittleEndian.PutUint32(b[fo+fn:], c)
				seed = c
			}
			os.WriteFile(p, b, 0o644)
			rep, err := Verify(d, nil, nil)
			if err != nil || rep.OK() || rep.Problem.Segment != seg {
				t.Fatalf("Verify: %+v %v", rep, err)
			}
		})
	}
}
