package filestore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/epochledger/epochledger/eventstore"
)

// Tests that a torn tail is only a tail (trust issue #18, finding 1): damage
// in the newest segment is never cut away as if a crash had left it.

// memBytes returns a copy of a file of m.
func (m *memFS) memBytes(name string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.files[name].data...)
}

// setBytes replaces a file's content, durably (damage at rest).
func (m *memFS) setBytes(name string, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[name] = &memNode{data: append([]byte(nil), b...), durable: append([]byte(nil), b...)}
}

func (m *memFS) remove(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.files, name)
}

// segFrames returns the offsets of the frames of a segment's bytes up to
// end, and for each the offset where its batch starts.
func segFrames(b []byte, end int64) (offs, batchStart []int64) {
	start := int64(headerSize)
	for o := int64(headerSize); o < end; {
		offs = append(offs, o)
		batchStart = append(batchStart, start)
		n := int64(binary.LittleEndian.Uint32(b[o:]))
		if b[o+4] == kindCommit {
			start = o + frameOverhead + n
		}
		o += frameOverhead + n
	}
	return offs, batchStart
}

type damage struct {
	class  string
	lo, hi int64 // bytes changed
	apply  func(b []byte)
}

// damages lists, for every frame of the newest segment, one flipped bit in
// each field class (picked by rng), and zeroed 4 KiB blocks at random
// offsets.
func damages(rng *rand.Rand, b []byte, offs []int64, blocks int) []damage {
	var out []damage
	flip := func(class string, at int64) damage {
		bit := byte(1) << rng.IntN(8)
		return damage{class: class, lo: at, hi: at + 1, apply: func(b []byte) { b[at] ^= bit }}
	}
	for _, o := range offs {
		n := int64(binary.LittleEndian.Uint32(b[o:]))
		p := o + 5 // payload
		out = append(out,
			flip("length", o+rng.Int64N(4)),
			flip("kind", o+4),
			flip("position", p+rng.Int64N(16)),
			flip("chain", p+16+rng.Int64N(32)),
			flip("data", p+payloadFixed+rng.Int64N(n-payloadFixed)),
			flip("crc", p+n+rng.Int64N(4)),
		)
	}
	for range blocks {
		lo := rng.Int64N(int64(len(b)))
		hi := min(lo+4096, int64(len(b)))
		out = append(out, damage{class: "zero-block", lo: lo, hi: hi, apply: func(b []byte) { clear(b[lo:hi]) }})
	}
	return out
}

// TestDamageInNewestSegmentIsNeverCut flips one bit of every field class
// of every frame of the newest segment of a multi-batch log, and zeroes
// 4 KiB blocks at random offsets, in four states of the log: closed
// cleanly; its writer killed (zeros ahead, commit record current); and
// both without the commit record (a log written before it existed). Every
// writer open must either refuse with a *CorruptError naming the newest
// segment, leaving it as it was, or find a true tail: with a commit
// record nothing is ever cut (it shows everything durable); without one
// the cut starts at the damaged batch and no intact frame follows it.
// Verify must agree with the open each time. EPOCHLEDGER_DAMAGE_ROUNDS
// repeats it with other bits and blocks.
func TestDamageInNewestSegmentIsNeverCut(t *testing.T) {
	rounds := 1
	if v := os.Getenv("EPOCHLEDGER_DAMAGE_ROUNDS"); v != "" {
		rounds, _ = strconv.Atoi(v)
	}
	opts := func(fs *memFS) *Options { return &Options{FS: fs, SegmentSize: 16 << 10, ZeroAhead: 4096} }
	fs := newMemFS()
	s, err := Open(memDir, opts(fs))
	if err != nil {
		t.Fatal(err)
	}
	acked := map[string]int{}
	if err := appendSome(t, s, "d", 120, acked); err != nil {
		t.Fatal(err)
	}
	s.mu.RLock()
	newest := s.segs[len(s.segs)-1]
	name, end, head, nsegs := newest.name, newest.size, s.head, len(s.segs)
	s.mu.RUnlock()
	path := memDir + "/" + name
	killed := fs.crashCopy(-1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	closed := fs.crashCopy(-1)
	if killed.fileSize(path) <= end {
		t.Fatal("the killed writer's image has no zeros ahead")
	}
	states := []struct {
		name   string
		fs     *memFS
		record bool
	}{{"closed", closed, true}, {"killed", killed, true}, {"closed-no-record", closed, false}, {"killed-no-record", killed, false}}
	rng := rand.New(rand.NewPCG(18, 1))
	for _, st := range states {
		t.Run(st.name, func(t *testing.T) {
			orig := st.fs.memBytes(path)
			offs, batchStart := segFrames(orig, end)
			if nsegs < 3 || len(offs) < 40 {
				t.Fatalf("want a multi-segment log with a full newest segment: %d segments, %d frames in the newest", nsegs, len(offs))
			}
			refused, cut, kept := 0, 0, 0
			for round := range rounds {
				for _, d := range damages(rng, orig, offs, 40) {
					img := st.fs.crashCopy(-1)
					if !st.record {
						img.remove(memDir + "/" + commitRecordName)
					}
					b := append([]byte(nil), orig...)
					d.apply(b)
					if bytes.Equal(b, orig) {
						continue // a block of zeros over zeros
					}
					img.setBytes(path, b)
					where := func() string {
						return d.class + " at " + strconv.FormatInt(d.lo, 10) + " (round " + strconv.Itoa(round) + ")"
					}
					rep, verr := Verify(memDir, &Options{FS: img}, nil)
					if verr != nil {
						t.Fatalf("%s: Verify: %v", where(), verr)
					}
					o, err := Open(memDir, opts(img))
					if err != nil {
						var ce *eventstore.CorruptError
						if !errors.As(err, &ce) || ce.Segment != name || ce.Offset < 0 || ce.Offset > int64(len(b)) {
							t.Fatalf("%s: Open: %v, want a *CorruptError in %s", where(), err, name)
						}
						if !bytes.Equal(img.memBytes(path), b) {
							t.Fatalf("%s: a refused open changed the segment", where())
						}
						if rep.OK() || rep.CrashTailOnly() {
							t.Fatalf("%s: Open refused (%v) but Verify passes it: %+v", where(), err, rep)
						}
						refused++
						continue
					}
					o.mu.RLock()
					gotEnd, gotHead := o.segs[len(o.segs)-1].size, o.head
					o.mu.RUnlock()
					o.Close()
					if !rep.OK() && !rep.CrashTailOnly() {
						t.Fatalf("%s: Open cut a tail but Verify calls it damage: %v", where(), rep.Problem)
					}
					if gotEnd >= end {
						if gotHead != head {
							t.Fatalf("%s: head %d, want %d", where(), gotHead, head)
						}
						if d.lo < end {
							t.Fatalf("%s: damage inside the frames went unnoticed", where())
						}
						kept++
						continue
					}
					if st.record {
						t.Fatalf("%s: Open cut the log at %d (frames ended at %d) although the commit record shows them durable", where(), gotEnd, end)
					}
					// Without a record: a true tail only.
					for i, fo := range offs {
						if fo-4 >= d.hi && fo >= gotEnd {
							t.Fatalf("%s: cut at %d with the intact frame at %d after the damage", where(), gotEnd, fo)
						}
						if fo <= d.lo && (i == len(offs)-1 || offs[i+1] > d.lo) && gotEnd < batchStart[i] {
							t.Fatalf("%s: cut at %d, before the damaged batch (at %d)", where(), gotEnd, batchStart[i])
						}
					}
					mustVerify(t, img, memDir)
					cut++
				}
			}
			t.Logf("%s: %d refused, %d cut a true tail, %d kept everything", st.name, refused, cut, kept)
			if refused == 0 {
				t.Fatal("no damage was refused: the test proved nothing")
			}
		})
	}
}

// TestCommitRecordCatchesACutLog: a log cut at a batch boundary, or
// without its newest segment, looks intact frame by frame; its commit
// record (clean or not) shows what was durable, and the writer refuses it.
func TestCommitRecordCatchesACutLog(t *testing.T) {
	for _, how := range []string{"closed", "killed"} {
		fs := newMemFS()
		s, err := Open(memDir, &Options{FS: fs, SegmentSize: 4096, ZeroAhead: 4096})
		if err != nil {
			t.Fatal(err)
		}
		if err := appendSome(t, s, "c", 60, map[string]int{}); err != nil {
			t.Fatal(err)
		}
		s.mu.RLock()
		newest := s.segs[len(s.segs)-1]
		name, end := newest.name, newest.size
		s.mu.RUnlock()
		img := fs.crashCopy(-1)
		s.Close()
		if how == "closed" {
			img = fs.crashCopy(-1)
		}
		path := memDir + "/" + name
		b := img.memBytes(path)
		offs, batchStart := segFrames(b, end)
		cutAt := batchStart[len(offs)-1] // the last batch's start: a clean frame boundary
		for _, c := range []struct {
			what string
			do   func(*memFS)
		}{
			{"newest segment deleted", func(m *memFS) { m.remove(path) }},
			{"last batch cut off", func(m *memFS) { m.setBytes(path, b[:cutAt]) }},
		} {
			m := img.crashCopy(-1)
			c.do(m)
			_, err := Open(memDir, &Options{FS: m})
			if !errors.Is(err, eventstore.ErrCorrupt) {
				t.Fatalf("%s, %s: Open: %v, want ErrCorrupt", how, c.what, err)
			}
			rep, err := Verify(memDir, &Options{FS: m}, nil)
			if err != nil || rep.OK() || rep.CrashTailOnly() {
				t.Fatalf("%s, %s: Verify: %+v %v", how, c.what, rep, err)
			}
		}
	}
}

// TestCleanCloseMarksTheLastFrame: the golden log, once a writer closed it
// cleanly, has no torn tail: one flipped bit in its last frame is damage
// (Open refuses, Verify fails); without the commit record (the golden log
// as committed, written before it existed) the same bytes are a torn tail
// as before.
func TestCleanCloseMarksTheLastFrame(t *testing.T) {
	forGoldenSets(t, func(t *testing.T, set string) {
		dir := golden(t, set, "good")
		s, err := Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		rep := mustVerify(t, OSFS{}, dir)
		if !rep.ClosedCleanly {
			t.Fatalf("a clean Close is not recorded: %+v", rep)
		}
		names := segFiles(t, dir)
		p := filepath.Join(dir, names[len(names)-1])
		b, _ := os.ReadFile(p)
		b[len(b)-2] ^= 0x10 // the last frame's CRC
		os.WriteFile(p, b, 0o644)
		_, err = Open(dir, nil)
		var ce *eventstore.CorruptError
		if !errors.As(err, &ce) || ce.Segment != names[len(names)-1] {
			t.Fatalf("Open of a cleanly closed log with a damaged last frame: %v", err)
		}
		if rep, err := Verify(dir, nil, nil); err != nil || rep.OK() || rep.CrashTailOnly() || !rep.ClosedCleanly {
			t.Fatalf("Verify: %+v %v", rep, err)
		}
		os.Remove(filepath.Join(dir, commitRecordName))
		rep, err = Verify(dir, nil, nil)
		if err != nil || !rep.CrashTailOnly() || rep.ClosedCleanly {
			t.Fatalf("Verify without the record: %+v %v", rep, err)
		}
		s, err = Open(dir, nil)
		if err != nil || s.Repaired == "" {
			t.Fatalf("Open without the record: %v, repaired %q", err, s.Repaired)
		}
		if h, _ := s.Head(t.Context()); h != 9 {
			t.Fatalf("head %d after cutting the last batch, want 9", h)
		}
		s.Close()
	})
}

// TestVerifyReportsCrashTails: the torn and uncommitted tails a crash
// leaves are reported as such (where, how many bytes), the damaged golden
// logs are not.
func TestVerifyReportsCrashTails(t *testing.T) {
	forGoldenSets(t, func(t *testing.T, set string) {
		good, _ := os.ReadFile(filepath.Join("testdata", set, "good", "00000000000000000007.seg"))
		for _, name := range []string{"torn-tail", "uncommitted-tail", "torn-zero-tail"} {
			rep, err := Verify(golden(t, set, name), nil, nil)
			if err != nil || !rep.CrashTailOnly() {
				t.Fatalf("%s: %+v %v", name, rep, err)
			}
			tt := rep.TornTail
			if tt.Segment != "00000000000000000007.seg" || tt.Offset != int64(len(good)) || tt.Bytes <= 0 || tt.Position != 13 || rep.Events != 12 {
				t.Fatalf("%s: torn tail %+v, %d events", name, tt, rep.Events)
			}
		}
		for _, name := range []string{"corrupt-old-segment", "corrupt-newest-middle", "rewritten-event", "zeros-old-segment"} {
			rep, err := Verify(golden(t, set, name), nil, nil)
			if err != nil || rep.OK() || rep.CrashTailOnly() {
				t.Fatalf("%s: %+v %v", name, rep, err)
			}
		}
	})
}

// TestVerifyHead: the head hash verify prints, and any earlier event's
// chain hash, is found; a log cut before that event does not hold it.
func TestVerifyHead(t *testing.T) {
	forGoldenSets(t, func(t *testing.T, set string) {
		dir := golden(t, set, "good")
		rep := mustVerify(t, OSFS{}, dir)
		s, err := Open(dir, &Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		hashes := chainOf(t, dir)
		for i, h := range hashes {
			r, err := VerifyHead(dir, nil, nil, h)
			if err != nil || !r.OK() || r.HeadCheck == nil || r.HeadCheck.Position != uint64(i+1) {
				t.Fatalf("hash of position %d: %+v %v", i+1, r.HeadCheck, err)
			}
		}
		names := segFiles(t, dir)
		os.Remove(filepath.Join(dir, names[len(names)-1]))
		r, err := VerifyHead(dir, nil, nil, hashes[len(hashes)-1])
		if err != nil || !r.OK() || r.HeadCheck.Position != 0 || r.HeadHash == rep.HeadHash {
			t.Fatalf("cut log: %+v %v", r, err)
		}
	})
}

// TestPowerLossInsideALargeWriteOpens: a power cut that keeps a random half
// of the sectors of an unsynced 30-event batch leaves holes with valid
// frames after them. Past the commit record's end that is the write in
// flight, not damage: the writer opens, cutting it, every time. (Judged
// by the frames alone, as a log without a record must be, it refused all
// of them: a valid frame follows the first hole.)
func TestPowerLossInsideALargeWriteOpens(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		fs := newMemFS()
		s := openZeroAhead(t, fs, 1<<20)
		acked := map[string]int{}
		if err := appendSome(t, s, "ok", 3, acked); err != nil {
			t.Fatal(err)
		}
		fs.mu.Lock()
		fs.failSync = errors.New("power cut")
		fs.mu.Unlock()
		if _, err := s.Append(t.Context(), "big", eventstore.Any(), batchEvents("lost", 30)...); err == nil {
			t.Fatal("the append whose fdatasync failed was acknowledged")
		}
		s.Close()
		crashed := fs.crashSectors(func() bool { return rng.Float64() < 0.5 })
		c, err := Open(memDir, &Options{FS: crashed, ZeroAhead: 4096})
		if err != nil {
			t.Fatalf("round %d: open after the power cut: %v", round, err)
		}
		checkWhole(t, c, checkLog(t, c, acked))
		c.Close()
		mustVerify(t, crashed, memDir)
	}
}
