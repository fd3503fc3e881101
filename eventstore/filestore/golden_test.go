package filestore

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/epochledger/epochledger/eventstore"
)

var update = flag.Bool("update", false, "rewrite the golden logs under testdata/v2/")

// The golden logs under testdata/ are committed bytes: they pin the on-disk
// format (a change that breaks reading old logs fails here) and hold the
// damaged cases recovery must tell apart. There is one set per segment
// version: testdata/<name> in version 1, written by the writer before
// version 2 and kept as it was (no writer makes them any more), and
// testdata/v2/<name>, which -update rewrites. The tests run on both.
//
//	good/                 two segments, 12 events
//	torn-tail/            good + half a frame at the end of the newest segment
//	uncommitted-tail/     good + a whole frame of a batch whose commit frame never came
//	corrupt-old-segment/  one payload byte flipped in the first (older) segment
//	corrupt-newest-middle/ one payload byte flipped in the newest segment, valid frames after it
//	rewritten-event/      an event's data altered and its CRCs recomputed: only the hash chain sees it
//	                      (version 1: the event's stored hash; version 2: the next segment's header)
//	zero-tail/            good + 4 KiB of zeros after the newest segment's frames, as a writer
//	                      that zeroes ahead (Options.ZeroAhead) leaves it when it stops uncleanly
//	torn-zero-tail/       zero-tail with half a frame written over the start of the zeros
//	zeros-old-segment/    64 zero bytes after the frames of the first (older) segment

// goldenSets are the golden sets' folders under testdata: version 1, version 2.
var goldenSets = []string{"", "v2"}

// forGoldenSets runs fn once per golden set, as a subtest named after it.
func forGoldenSets(t *testing.T, fn func(t *testing.T, set string)) {
	for _, set := range goldenSets {
		name := set
		if name == "" {
			name = "v1"
		}
		t.Run(name, func(t *testing.T) { fn(t, set) })
	}
}

func goldenEvents() []eventstore.EventData {
	evs := make([]eventstore.EventData, 12)
	for i := range evs {
		evs[i] = eventstore.EventData{
			ID:   fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1),
			Type: "TestEvent",
			Time: "2024-01-01T00:00:00Z",
			Data: fmt.Appendf(nil, `{"n":%d}`, i+1),
		}
	}
	return evs
}

func writeGood(t *testing.T, dir string) {
	os.RemoveAll(dir)
	s, err := Open(dir, &Options{SegmentSize: 700})
	if err != nil {
		t.Fatal(err)
	}
	evs := goldenEvents()
	for i := 0; i < len(evs); i += 3 {
		if _, err := s.Append(context.Background(), fmt.Sprintf("s-%d", i%2), eventstore.Any(), evs[i:i+3]...); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	os.Remove(filepath.Join(dir, "LOCK"))
	// The golden logs judge torn tails by their frames alone, as the
	// version 1 set (written before the commit record existed) does.
	os.Remove(filepath.Join(dir, commitRecordName))
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	os.MkdirAll(dst, 0o755)
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func segFiles(t *testing.T, dir string) []string {
	names, _, err := listSegments(OSFS{}, dir)
	if err != nil || len(names) < 2 {
		t.Fatalf("golden log needs two segments: %v %v", names, err)
	}
	return names
}

// frameOffsets lists the frame offsets of a segment file.
func frameOffsets(b []byte) []int {
	var offs []int
	for o := headerSize; o+4 <= len(b); {
		offs = append(offs, o)
		o += frameOverhead + int(binary.LittleEndian.Uint32(b[o:]))
	}
	return offs
}

func makeGolden(t *testing.T) {
	root := filepath.Join("testdata", "v2")
	good := filepath.Join(root, "good")
	writeGood(t, good)
	names := segFiles(t, good)
	oldest, newest := names[0], names[len(names)-1]
	mutate := func(name, seg string, fn func(b []byte) []byte) {
		dir := filepath.Join(root, name)
		os.RemoveAll(dir)
		copyDir(t, good, dir)
		p := filepath.Join(dir, seg)
		b, _ := os.ReadFile(p)
		os.WriteFile(p, fn(b), 0o644)
	}
	mutate("torn-tail", newest, func(b []byte) []byte {
		offs := frameOffsets(b)
		last := b[offs[len(offs)-1]:]
		return append(b, last[:len(last)/2]...)
	})
	mutate("uncommitted-tail", newest, func(b []byte) []byte {
		// Re-chain a copy of the last frame as kind "continue": a whole,
		// valid frame whose batch never committed.
		offs := frameOffsets(b)
		fr := append([]byte(nil), b[offs[len(offs)-1]:]...)
		fr[4] = kindContinue
		binary.LittleEndian.PutUint64(fr[5:], 13)  // position
		binary.LittleEndian.PutUint64(fr[5+8:], 6) // revision in stream s-1
		idAt := 5 + payloadFixed + len("00000000-0000-4000-8000-00000000001")
		fr[idAt] = '3' // id ...013, not yet stored
		seed := binary.LittleEndian.Uint32(b[len(b)-4:])
		n := len(fr) - 4
		binary.LittleEndian.PutUint32(fr[n:], crcUpdate(seed, fr[:n]))
		return append(b, fr...)
	})
	mutate("zero-tail", newest, func(b []byte) []byte {
		return append(b, make([]byte, 4096)...)
	})
	mutate("torn-zero-tail", newest, func(b []byte) []byte {
		offs := frameOffsets(b)
		last := b[offs[len(offs)-1]:]
		return append(append(b, last[:len(last)/2]...), make([]byte, 4096-len(last)/2)...)
	})
	mutate("zeros-old-segment", oldest, func(b []byte) []byte {
		return append(b, make([]byte, 64)...)
	})
	mutate("corrupt-old-segment", oldest, func(b []byte) []byte {
		offs := frameOffsets(b)
		b[offs[1]+5+payloadFixed+3] ^= 0x01
		return b
	})
	mutate("corrupt-newest-middle", newest, func(b []byte) []byte {
		offs := frameOffsets(b)
		b[offs[0]+5+payloadFixed+3] ^= 0x01
		return b
	})
	mutate("rewritten-event", oldest, func(b []byte) []byte {
		// Change "n":2 to "n":9 in the second frame and recompute every CRC
		// from there: framing is intact, only the chain hash can tell.
		offs := frameOffsets(b)
		o := offs[1]
		n := int(binary.LittleEndian.Uint32(b[o:]))
		p := b[o+5 : o+5+n]
		i := strings.LastIndex(string(p), `"n":2`)
		p[i+4] = '9'
		_, hcrc, _ := decodeHeader(b)
		seed := hcrc
		for _, fo := range offs {
			fn := int(binary.LittleEndian.Uint32(b[fo:]))
			c := crcUpdate(seed, b[fo:fo+5+fn])
			binary.LittleEndian.PutUint32(b[fo+5+fn:], c)
			seed = c
		}
		return b
	})
}

// golden copies the golden log name of set (goldenSets) into a temporary
// directory.
func golden(t *testing.T, set, name string) string {
	t.Helper()
	if *update {
		updateOnce.Do(func() { makeGolden(t) })
	}
	dir := filepath.Join(t.TempDir(), name)
	copyDir(t, filepath.Join("testdata", set, name), dir)
	return dir
}

var updateOnce sync.Once

func TestGoldenGood(t *testing.T) {
	forGoldenSets(t, func(t *testing.T, set string) {
		dir := golden(t, set, "good")
		rep := mustVerify(t, OSFS{}, dir)
		if rep.Events != 12 || rep.Segments < 2 {
			t.Fatalf("verify report %+v", rep)
		}
		s, err := Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var got []string
		s.ReadAll(context.Background(), 1, func(e *eventstore.RecordedEvent) error {
			got = append(got, fmt.Sprintf("%d %s %d %s", e.Position, e.Stream, e.Revision, e.Data))
			return nil
		})
		if len(got) != 12 || got[0] != `1 s-0 0 {"n":1}` || got[11] != `12 s-1 5 {"n":12}` {
			t.Fatalf("golden log reads back as %q", got)
		}
	})
}

// TestGoldenZeroTail: zeros after the newest segment's last frame are
// space the writer zeroed ahead, not damage: the log verifies, opens with
// nothing repaired, reuses them, and a clean Close leaves none behind.
func TestGoldenZeroTail(t *testing.T) {
	forGoldenSets(t, func(t *testing.T, set string) {
		dir := golden(t, set, "zero-tail")
		rep := mustVerify(t, OSFS{}, dir)
		if rep.Events != 12 || rep.Tail != "" || rep.ZeroTailBytes != 4096 {
			t.Fatalf("verify report %+v", rep)
		}
		r, err := Open(dir, &Options{ReadOnly: true})
		if err != nil || r.Repaired != "" {
			t.Fatalf("read-only open: %v, repaired %q", err, r.Repaired)
		}
		if h, _ := r.Head(context.Background()); h != 12 {
			t.Fatalf("read-only head %d, want 12", h)
		}
		r.Close()
		s, err := Open(dir, nil)
		if err != nil || s.Repaired != "" {
			t.Fatalf("open: %v, repaired %q", err, s.Repaired)
		}
		if _, err := s.Append(context.Background(), "s-0", eventstore.Any(), eventstore.EventData{ID: "00000000-0000-4000-8000-000000000099", Type: "TestEvent", Data: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		rep = mustVerify(t, OSFS{}, dir)
		if rep.Events != 13 {
			t.Fatalf("verify after append: %+v", rep)
		}
		if aside, _ := filepath.Glob(filepath.Join(dir, "torn", "*")); len(aside) != 0 {
			t.Fatalf("zeros copied aside as damage: %v", aside)
		}
		names := segFiles(t, dir)
		b, _ := os.ReadFile(filepath.Join(dir, names[len(names)-1]))
		if offs := frameOffsets(b); b[len(b)-1] == 0 || offs[len(offs)-1]+frameOverhead+int(binary.LittleEndian.Uint32(b[offs[len(offs)-1]:])) != len(b) {
			t.Fatalf("a clean Close left zeros past the frames (%d bytes)", len(b))
		}
	})
}

func TestGoldenTornTails(t *testing.T) {
	forGoldenSets(t, func(t *testing.T, set string) {
		for _, name := range []string{"torn-tail", "uncommitted-tail", "torn-zero-tail"} {
			t.Run(name, func(t *testing.T) {
				dir := golden(t, set, name)
				// Verify is strict: a torn tail is reported until it is repaired.
				rep, err := Verify(dir, nil, nil)
				if err != nil || rep.OK() || !strings.Contains(rep.Problem.Reason, "torn") {
					t.Fatalf("verify before repair: %+v %v", rep, err)
				}
				s, err := Open(dir, nil)
				if err != nil {
					t.Fatalf("Open must repair a torn tail: %v", err)
				}
				if s.Repaired == "" {
					t.Fatal("repair not reported")
				}
				if h, _ := s.Head(context.Background()); h != 12 {
					t.Fatalf("head %d after repair, want 12", h)
				}
				if name == "uncommitted-tail" {
					// Recovery indexed the uncommitted event before it saw the
					// batch never committed, and must have taken it back: its
					// id and its stream revision are free again.
					r, err := s.Append(context.Background(), "s-1", eventstore.Exact(5), eventstore.EventData{ID: "00000000-0000-4000-8000-000000000013", Type: "TestEvent", Data: []byte(`{}`)})
					if err != nil || r.Duplicate || r.FirstPosition != 13 {
						t.Fatalf("re-append of the cut event: %+v, %v", r, err)
					}
				}
				// The new event goes where the damage was, and the chain holds.
				if _, err := s.Append(context.Background(), "s-0", eventstore.Any(), eventstore.EventData{ID: "00000000-0000-4000-8000-000000000099", Type: "TestEvent", Data: []byte(`{}`)}); err != nil {
					t.Fatal(err)
				}
				s.Close()
				mustVerify(t, OSFS{}, dir)
				aside, _ := filepath.Glob(filepath.Join(dir, "torn", "*.torn"))
				if len(aside) != 1 {
					t.Fatalf("damaged bytes not copied aside: %v", aside)
				}
				// Only the damaged bytes are kept, not zeros written ahead.
				if b, _ := os.ReadFile(aside[0]); len(b) == 0 || b[len(b)-1] == 0 {
					t.Fatalf("copied aside %d bytes ending in a zero", len(b))
				}
			})
		}
	})
}

func TestGoldenCorruption(t *testing.T) {
	forGoldenSets(t, func(t *testing.T, set string) {
		cases := []struct {
			name     string
			segment  int // index into the segment list
			openFail bool
			reason   string
		}{
			{"corrupt-old-segment", 0, true, "CRC mismatch"},
			// Only the newest segment may end in zeros: the writer trims them
			// before it starts a new segment.
			{"zeros-old-segment", 0, true, "frame length 0 out of range"},
			{"corrupt-newest-middle", -1, true, "CRC mismatch"},
			{"rewritten-event", 0, false, "chain hash mismatch"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				dir := golden(t, set, c.name)
				names := segFiles(t, dir)
				seg := names[0]
				if c.segment < 0 {
					seg = names[len(names)-1]
				}
				before, _ := os.ReadFile(filepath.Join(dir, seg))
				s, err := Open(dir, nil)
				var ce *eventstore.CorruptError
				if c.openFail {
					if !errors.As(err, &ce) || ce.Segment != seg || ce.Offset < headerSize || !strings.Contains(ce.Reason, c.reason) {
						t.Fatalf("Open: got %v, want corruption in %s", err, seg)
					}
					// Nothing was "repaired" away.
					after, _ := os.ReadFile(filepath.Join(dir, seg))
					if string(after) != string(before) {
						t.Fatal("Open changed a corrupt segment")
					}
				} else {
					if err != nil {
						t.Fatalf("Open: %v", err)
					}
					s.Close()
				}
				rep, err := Verify(dir, nil, nil)
				if err != nil || rep.OK() || rep.Problem.Segment != seg || !strings.Contains(rep.Problem.Reason, c.reason) {
					t.Fatalf("Verify: %+v %v", rep, err)
				}
				if rep.Problem.Position == 0 {
					t.Fatalf("Verify names no position: %v", rep.Problem)
				}
			})
		}
	})
}

// TestVerifyFindsEveryFlippedByte alters each byte of the golden log in
// turn: Verify must fail every time and name a position or offset.
func TestVerifyFindsEveryFlippedByte(t *testing.T) {
	forGoldenSets(t, func(t *testing.T, set string) {
		src := golden(t, set, "good")
		names := segFiles(t, src)
		for _, seg := range names {
			orig, _ := os.ReadFile(filepath.Join(src, seg))
			for i := range orig {
				dir := filepath.Join(t.TempDir(), "log")
				copyDir(t, src, dir)
				b := append([]byte(nil), orig...)
				b[i] ^= 0x20
				os.WriteFile(filepath.Join(dir, seg), b, 0o644)
				rep, err := Verify(dir, nil, nil)
				if err != nil {
					t.Fatalf("%s byte %d: %v", seg, i, err)
				}
				if rep.OK() {
					t.Fatalf("%s: flipping byte %d went unnoticed", seg, i)
				}
			}
		}
	})
}

// TestWriterReproducesGolden writes the golden log's events again, the way
// writeGood did, and compares every segment byte for byte with
// testdata/v2/good: the writer's on-disk output is pinned, not only what
// readers accept.
func TestWriterReproducesGolden(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	writeGood(t, dir)
	want := segFiles(t, filepath.Join("testdata", "v2", "good"))
	got := segFiles(t, dir)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("segments %v, golden %v", got, want)
	}
	for _, name := range want {
		a, _ := os.ReadFile(filepath.Join("testdata", "v2", "good", name))
		b, _ := os.ReadFile(filepath.Join(dir, name))
		if string(a) != string(b) {
			t.Fatalf("%s differs from the golden bytes (%d vs %d bytes)", name, len(b), len(a))
		}
	}
}

// TestLargeAppendBytes pins the in-place path (an append's frames are
// sealed in its own buffer; the flusher gathers small buffers into one
// write and writes one of gatherMax or more as it is) against frames
// built one by one with appendFrame: the segment must hold exactly the
// header, then a small append's frame, then the large append's frames.
func TestLargeAppendBytes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	small := goldenEvents()[:1]
	large := make([]eventstore.EventData, 400)
	for i := range large {
		large[i] = eventstore.EventData{
			ID:   fmt.Sprintf("00000000-0000-4000-8000-%012d", 1000+i),
			Type: "TestEvent",
			Time: "2024-01-01T00:00:00Z",
			Data: fmt.Appendf(nil, `{"n":%d,"pad":"%0100d"}`, i, 0),
		}
	}
	if _, err := s.Append(context.Background(), "a", eventstore.Any(), small...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), "b", eventstore.Any(), large...); err != nil {
		t.Fatal(err)
	}
	s.Close()

	h := header{version: segVersion, first: 1}
	want := h.encode()
	_, crc, _ := decodeHeader(want)
	var prev [32]byte
	want, crc = batchFrames(want, 1, 0, "a", small, &prev, crc)
	want, _ = batchFrames(want, 2, 0, "b", large, &prev, crc)
	if len(want)-headerSize-frameOverhead < gatherMax {
		t.Fatalf("the large append is only %d bytes: it would be gathered, not written as it is", len(want))
	}
	got, err := os.ReadFile(filepath.Join(dir, segmentName(1)))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("segment differs from frames built one by one (%d vs %d bytes)", len(got), len(want))
	}
}

// TestRetryInMultiAppendBytes pins the copy path: an AppendMulti whose
// first request repeats a stored batch (a retry) and whose second is new
// writes only the new request's frames, copied out of the op's buffer
// past the repeated ones.
func TestRetryInMultiAppendBytes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := goldenEvents()
	if _, err := s.Append(context.Background(), "a", eventstore.Any(), evs[:2]...); err != nil {
		t.Fatal(err)
	}
	res, err := s.AppendMulti(context.Background(), []eventstore.AppendRequest{
		{Stream: "a", Expected: eventstore.Any(), Events: evs[:2]},
		{Stream: "b", Expected: eventstore.NoStream(), Events: evs[2:5]},
	})
	if err != nil || !res[0].Duplicate || res[0].FirstPosition != 1 || res[1].Duplicate || res[1].FirstPosition != 3 || res[1].LastPosition != 5 {
		t.Fatalf("AppendMulti: %+v, %v", res, err)
	}
	s.Close()

	h := header{version: segVersion, first: 1}
	want := h.encode()
	_, crc, _ := decodeHeader(want)
	var prev [32]byte
	want, crc = batchFrames(want, 1, 0, "a", evs[:2], &prev, crc)
	want, _ = batchFrames(want, 3, 0, "b", evs[2:5], &prev, crc)
	got, err := os.ReadFile(filepath.Join(dir, segmentName(1)))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("segment differs from frames built one by one (%d vs %d bytes)", len(got), len(want))
	}
}

// batchFrames appends the frames of one atomic batch of evs, the first at
// position pos and stream revision rev, built one by one with appendFrame;
// prev is the chain hash before them and becomes the last one's.
func batchFrames(dst []byte, pos, rev uint64, stream string, evs []eventstore.EventData, prev *[32]byte, crc uint32) ([]byte, uint32) {
	for i := range evs {
		kind := byte(kindContinue)
		if i == len(evs)-1 {
			kind = kindCommit
		}
		dst, *prev, crc = appendFrame(dst, kind, pos+uint64(i), rev+uint64(i), stream, &evs[i], prev, crc)
	}
	return dst, crc
}
