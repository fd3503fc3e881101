package filestore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/epochledger/epochledger/eventstore"
)

// writeSegmented writes n events in batches of up to 7 over several small
// segments and returns the directory.
func writeSegmented(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, &Options{SegmentSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; {
		k := min(1+i%7, n-i)
		evs := make([]eventstore.EventData, k)
		for j := range evs {
			evs[j] = eventstore.EventData{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+j+1), Type: "TestEvent", Data: fmt.Appendf(nil, `{"n":%d}`, i+j+1)}
		}
		if _, err := s.Append(context.Background(), fmt.Sprintf("s-%d", i%5), eventstore.Any(), evs...); err != nil {
			t.Fatal(err)
		}
		i += k
	}
	s.Close()
	if names, _, _ := listSegments(OSFS{}, dir); len(names) < 4 {
		t.Fatalf("want several segments, got %v", names)
	}
	return dir
}

type readEvent struct {
	pos, rev        uint64
	stream, id, typ string
	data            string
}

func readAllFrom(t *testing.T, s *Store, from uint64) ([]readEvent, error) {
	t.Helper()
	var got []readEvent
	err := s.ReadAll(context.Background(), from, func(e *eventstore.RecordedEvent) error {
		got = append(got, readEvent{e.Position, e.Revision, e.Stream, e.ID, e.Type, string(e.Data)})
		return nil
	})
	return got, err
}

// TestReadOnlyOpenIsLazyAndReadsTheSame: a read-only open scans only the
// newest segment, and still reads exactly what a full open reads, from
// every position and by every stream.
func TestReadOnlyOpenIsLazyAndReadsTheSame(t *testing.T) {
	dir := writeSegmented(t, 300)
	full, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	ro, err := Open(dir, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	lazy := 0
	for _, seg := range ro.segs {
		if seg.lazy {
			lazy++
		}
	}
	if lazy != len(ro.segs)-1 || !ro.lazy {
		t.Fatalf("%d of %d segments lazy, stream index lazy %v: only the newest should be scanned", lazy, len(ro.segs), ro.lazy)
	}
	ctx := context.Background()
	fh, fhash, _ := full.HeadHash(ctx)
	rh, rhash, _ := ro.HeadHash(ctx)
	if fh != rh || fhash != rhash || fh != 300 {
		t.Fatalf("head %d %x, read-only %d %x", fh, fhash, rh, rhash)
	}
	want, err := readAllFrom(t, full, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []uint64{1, 2, 57, 58, 150, 299, 300, 301} {
		got, err := readAllFrom(t, ro, from)
		if err != nil {
			t.Fatalf("ReadAll(%d): %v", from, err)
		}
		w := want[min(int(from)-1, len(want)):]
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Fatalf("ReadAll(%d) differs from the full open's", from)
		}
	}
	for i := 0; i < 5; i++ {
		stream := fmt.Sprintf("s-%d", i)
		read := func(s *Store) string {
			var b strings.Builder
			if err := s.ReadStream(ctx, stream, 3, func(e *eventstore.RecordedEvent) error {
				fmt.Fprintln(&b, e.Position, e.Revision, e.ID, string(e.Data))
				return nil
			}); err != nil {
				t.Fatalf("ReadStream(%s): %v", stream, err)
			}
			return b.String()
		}
		if g, w := read(ro), read(full); g != w || w == "" {
			t.Fatalf("ReadStream(%s): read-only\n%s\nfull\n%s", stream, g, w)
		}
	}
	if ro.lazy {
		t.Fatal("reading a stream did not build the stream index")
	}
	if err := ro.ReadStream(ctx, "nope", 0, func(*eventstore.RecordedEvent) error { return nil }); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("unknown stream: %v", err)
	}
}

// TestReadOnlyOpenReportsOldDamageWhenRead: damage in an older segment that
// a lazy open did not scan is reported, with its segment and position, by
// every read that reaches it; nothing is skipped.
func TestReadOnlyOpenReportsOldDamageWhenRead(t *testing.T) {
	dir := writeSegmented(t, 300)
	names, firsts, _ := listSegments(OSFS{}, dir)
	p := filepath.Join(dir, names[1])
	b, _ := os.ReadFile(p)
	offs := frameOffsets(b)
	b[offs[2]+5+payloadFixed+3] ^= 0x01 // the third event of the second segment
	os.WriteFile(p, b, 0o644)
	bad := firsts[1] + 2

	ro, err := Open(dir, &Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("lazy open scans only the newest segment: %v", err)
	}
	defer ro.Close()
	check := func(what string, err error) {
		t.Helper()
		var ce *eventstore.CorruptError
		if !errors.As(err, &ce) || ce.Segment != names[1] || ce.Position != bad || !strings.Contains(ce.Reason, "CRC") {
			t.Fatalf("%s: got %v, want corruption at position %d in %s", what, err, bad, names[1])
		}
	}
	got, err := readAllFrom(t, ro, 1)
	check("ReadAll(1)", err)
	if uint64(len(got)) != bad-1 {
		t.Fatalf("ReadAll(1) delivered %d events before the damage, want %d", len(got), bad-1)
	}
	_, err = readAllFrom(t, ro, firsts[1]+5) // needs the damaged segment's offsets
	check("ReadAll inside the segment", err)
	check("ReadStream", ro.ReadStream(context.Background(), "s-0", 0, func(*eventstore.RecordedEvent) error { return nil }))
	if _, err := readAllFrom(t, ro, firsts[2]); err != nil {
		t.Fatalf("a read after the damaged segment: %v", err)
	}

	// A missing middle segment is reported where the positions break.
	dir2 := writeSegmented(t, 300)
	names2, firsts2, _ := listSegments(OSFS{}, dir2)
	os.Remove(filepath.Join(dir2, names2[1]))
	ro2, err := Open(dir2, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro2.Close()
	_, err = readAllFrom(t, ro2, 1)
	var ce *eventstore.CorruptError
	if !errors.As(err, &ce) || ce.Position != firsts2[1] {
		t.Fatalf("missing segment: got %v, want corruption at position %d", err, firsts2[1])
	}
	if rep := mustVerifyFails(t, dir2); rep.Problem.Position != firsts2[1] {
		t.Fatalf("verify: %+v", rep.Problem)
	}
}

func mustVerifyFails(t *testing.T, dir string) *VerifyReport {
	t.Helper()
	rep, err := Verify(dir, nil, nil)
	if err != nil || rep.OK() {
		t.Fatalf("verify passed a damaged log: %+v %v", rep, err)
	}
	return rep
}

// TestReadOnlyOpenChecksEveryHeader: a lazy open still reads every
// segment's header and refuses a short or mismatched one by name.
func TestReadOnlyOpenChecksEveryHeader(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(b []byte) []byte
		reason string
	}{
		{"short", func(b []byte) []byte { return b[:10] }, "short"},
		{"empty", func(b []byte) []byte { return nil }, "short"},
		{"flipped", func(b []byte) []byte { b[20] ^= 1; return b }, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := writeSegmented(t, 200)
			names, _, _ := listSegments(OSFS{}, dir)
			p := filepath.Join(dir, names[1])
			b, _ := os.ReadFile(p)
			os.WriteFile(p, c.damage(b), 0o644)
			_, err := Open(dir, &Options{ReadOnly: true})
			var ce *eventstore.CorruptError
			if !errors.As(err, &ce) || ce.Segment != names[1] || !strings.Contains(ce.Reason, c.reason) {
				t.Fatalf("got %v, want a corrupt header in %s", err, names[1])
			}
		})
	}
}
