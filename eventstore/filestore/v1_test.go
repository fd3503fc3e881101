package filestore

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/epochledger/epochledger/eventstore"
)

// appendFrameV1 appends one event's frame in the version 1 layout (the
// chain hash stored after the revision), which the writer no longer
// writes: for tests that build old logs and check that they still open,
// verify and are continued. It returns the chain hash and the CRC.
func appendFrameV1(dst []byte, kind byte, pos, rev uint64, stream string, e *eventstore.EventData, prevHash *[32]byte, crcSeed uint32) ([]byte, [32]byte, uint32) {
	// A version 1 payload is the version 2 payload with the chain hash
	// put in after the revision (bytes 16:48).
	v2 := encodeFrame(nil, stream, e)
	sealFrame(v2, kind, pos, rev, 0)
	p2 := v2[5 : len(v2)-4]
	n := len(p2) + 32
	start := len(dst)
	dst = grow(dst, frameOverhead+n)
	f := dst[start:]
	binary.LittleEndian.PutUint32(f[0:], uint32(n))
	f[4] = kind
	p := f[5 : 5+n]
	copy(p[:16], p2[:16])
	copy(p[48:], p2[16:])
	h := chainHash(prevHash, 1, p)
	copy(p[16:48], h[:])
	crc := crcUpdate(crcSeed, f[:5+n])
	binary.LittleEndian.PutUint32(f[5+n:], crc)
	return dst, h, crc
}

// chainOf recomputes the chain hash of every event of the log in dir,
// from its frames, in either version: what an auditor's own tool would do.
func chainOf(t *testing.T, dir string) [][32]byte {
	t.Helper()
	names, _, err := listSegments(OSFS{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	var hashes [][32]byte
	var prev [32]byte
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		h, seed, err := decodeHeader(b)
		if err != nil || h.prevHash != prev {
			t.Fatalf("%s: header %v, or its chain hash does not continue the segment before", name, err)
		}
		sc := newFrameScanner(bytesReaderAt(b), int64(len(b)), headerSize, seed, h.version)
		for {
			_, p, _, err := sc.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			prev = chainHash(&prev, h.version, p)
			hashes = append(hashes, prev)
		}
	}
	return hashes
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
