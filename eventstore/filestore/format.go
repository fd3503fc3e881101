package filestore

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"

	"github.com/epochledger/epochledger/eventstore"
)

const (
	segMagic = "EPLOGSEG"
	// segVersion is the format the writer writes: 2, whose payloads hold
	// no chain hash (doc.go, "Versions"). Version 1 segments are read,
	// verified and continued by a new segment.
	segVersion    = 2
	headerSize    = 64
	frameOverhead = 4 + 1 + 4 // length, kind, crc
	// payloadFixed is the fixed part of a version 2 payload, and
	// payloadFixedV1 of a version 1 payload, whose chain hash field
	// (32 bytes after the revision) version 2 dropped.
	payloadFixed   = 24
	payloadFixedV1 = payloadFixed + 32

	kindContinue = 1 // an event whose batch goes on
	kindCommit   = 2 // the last event of a batch: commits it

	// maxPayload bounds one frame, so a damaged length field cannot make
	// recovery allocate gigabytes.
	maxPayload = payloadFixedV1 + 4*eventstore.MaxNameLen + eventstore.MaxDataLen
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crcUpdate(seed uint32, p []byte) uint32 { return crc32.Update(seed, castagnoli, p) }

// segmentName is the file name of the segment whose first event is first.
func segmentName(first uint64) string { return fmt.Sprintf("%020d.seg", first) }

// header is a segment's header.
type header struct {
	version  uint32
	first    uint64
	prevHash [32]byte
}

func (h *header) encode() []byte {
	b := make([]byte, headerSize)
	copy(b, segMagic)
	binary.LittleEndian.PutUint32(b[8:], h.version)
	binary.LittleEndian.PutUint64(b[16:], h.first)
	copy(b[24:56], h.prevHash[:])
	binary.LittleEndian.PutUint32(b[60:], crcUpdate(0, b[:60]))
	return b
}

// frameSeed is the CRC the first frame of a segment with header h is
// chained from. In version 1 it is the header's CRC. In version 2 it is the
// CRC of the header's first 24 bytes (magic, version, first position),
// which leave out the chain hash before the segment: the writer seals a
// new segment's first frames before that hash is known (it is computed
// while the commit before them is on its way to disk; see flush.go).
func (h *header) frameSeed() uint32 {
	b := h.encode()
	if h.version == 1 {
		return binary.LittleEndian.Uint32(b[60:])
	}
	return crcUpdate(0, b[:24])
}

// decodeHeader parses and checks a segment header; it returns the header
// and the seed of its first frame's CRC (frameSeed).
func decodeHeader(b []byte) (header, uint32, error) {
	var h header
	if len(b) < headerSize {
		return h, 0, errors.New("segment header is short")
	}
	if string(b[:8]) != segMagic {
		return h, 0, fmt.Errorf("bad segment magic %q", b[:8])
	}
	crc := binary.LittleEndian.Uint32(b[60:])
	if got := crcUpdate(0, b[:60]); got != crc {
		return h, 0, fmt.Errorf("segment header CRC mismatch (stored %08x, computed %08x)", crc, got)
	}
	h.version = binary.LittleEndian.Uint32(b[8:])
	if h.version != 1 && h.version != 2 {
		return h, 0, fmt.Errorf("unsupported segment version %d", h.version)
	}
	h.first = binary.LittleEndian.Uint64(b[16:])
	copy(h.prevHash[:], b[24:56])
	return h, h.frameSeed(), nil
}

// payloadSize is the encoded payload size of e in stream.
func payloadSize(stream string, e *eventstore.EventData) int {
	return payloadFixed + len(e.ID) + len(e.Type) + len(stream) + len(e.Time) + len(e.Data)
}

// encodeFrame appends e's version 2 frame to dst as an append's caller
// prepares it, in its own goroutine and in parallel with other appenders:
// everything but what depends on the event's place in the log. Kind,
// position, revision and CRC are left zero for sealFrame.
func encodeFrame(dst []byte, stream string, e *eventstore.EventData) []byte {
	n := payloadSize(stream, e)
	start := len(dst)
	dst = grow(dst, frameOverhead+n)
	f := dst[start : start+frameOverhead+n]
	clear(f[:5+16])
	binary.LittleEndian.PutUint32(f[0:], uint32(n))
	p := f[5 : 5+n]
	p[16], p[17], p[18], p[19] = byte(len(e.ID)), byte(len(e.Type)), byte(len(stream)), byte(len(e.Time))
	binary.LittleEndian.PutUint32(p[20:], uint32(len(e.Data)))
	o := payloadFixed
	o += copy(p[o:], e.ID)
	o += copy(p[o:], e.Type)
	o += copy(p[o:], stream)
	o += copy(p[o:], e.Time)
	copy(p[o:], e.Data)
	clear(f[5+n:])
	return dst
}

// sealFrame completes a frame made by encodeFrame once its place in the
// log is known: kind, position, revision and the CRC chained from
// crcSeed, which it returns. The chain hash is not part of a version 2
// frame: the flusher computes it after the frame is written (chainGroups).
func sealFrame(f []byte, kind byte, pos, rev uint64, crcSeed uint32) uint32 {
	n := len(f) - frameOverhead
	f[4] = kind
	p := f[5 : 5+n]
	binary.LittleEndian.PutUint64(p[0:], pos)
	binary.LittleEndian.PutUint64(p[8:], rev)
	crc := crcUpdate(crcSeed, f[:5+n])
	binary.LittleEndian.PutUint32(f[5+n:], crc)
	return crc
}

// appendFrame encodes and seals one event's version 2 frame at the end of
// dst, for tests and tools that build frames by hand; it returns the
// event's chain hash and the frame's CRC.
func appendFrame(dst []byte, kind byte, pos, rev uint64, stream string, e *eventstore.EventData, prevHash *[32]byte, crcSeed uint32) ([]byte, [32]byte, uint32) {
	start := len(dst)
	dst = encodeFrame(dst, stream, e)
	crc := sealFrame(dst[start:], kind, pos, rev, crcSeed)
	return dst, chainHash(prevHash, 2, dst[start+5:len(dst)-4]), crc
}

// chainHash computes an event's chain hash from its predecessor's and its
// payload of segment version v. The chain is the same in both versions:
//
//	SHA-256(previous chain hash || position, revision || the rest of the payload)
//
// where the rest of the payload starts after the revision (version 2) or
// after the stored chain hash (version 1), so a log continued in version 2
// keeps one chain through both.
func chainHash(prev *[32]byte, v uint32, payload []byte) [32]byte {
	return chainHashWith(newChainDigest(), prev, v, payload)
}

// chainDigest is a reusable SHA-256 for chain hashes with room for its
// sum: hash.Hash's Sum, called through the interface, would allocate the
// sum of every event.
type chainDigest struct {
	d   hash.Hash
	sum [32]byte
}

func newChainDigest() *chainDigest { return &chainDigest{d: sha256.New()} }

// chainHashWith is chainHash with a reusable digest (the hot paths: the
// flusher's chain, recovery, verify).
func chainHashWith(c *chainDigest, prev *[32]byte, v uint32, payload []byte) [32]byte {
	c.d.Reset()
	c.d.Write(prev[:])
	if v == 1 {
		c.d.Write(payload[0:16])
		c.d.Write(payload[16+32:])
	} else {
		c.d.Write(payload)
	}
	c.d.Sum(c.sum[:0])
	return c.sum
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// payload is a decoded frame payload; its fields alias the frame bytes.
type payload struct {
	position uint64
	revision uint64
	hash     []byte // the stored chain hash: version 1 only (nil in version 2)
	id       []byte
	typ      []byte
	stream   []byte
	time     []byte
	data     []byte
	raw      []byte
}

// decodePayload parses a payload of segment version v without copying.
func decodePayload(p []byte, v uint32) (payload, error) {
	var d payload
	fixed := payloadFixed
	if v == 1 {
		fixed = payloadFixedV1
	}
	if len(p) < fixed {
		return d, fmt.Errorf("payload of %d bytes is shorter than its fixed part", len(p))
	}
	d.position = binary.LittleEndian.Uint64(p[0:])
	d.revision = binary.LittleEndian.Uint64(p[8:])
	l := p[16:]
	if v == 1 {
		d.hash, l = p[16:48], p[48:]
	}
	il, tl, sl, ml := int(l[0]), int(l[1]), int(l[2]), int(l[3])
	dl := int(binary.LittleEndian.Uint32(l[4:]))
	if fixed+il+tl+sl+ml+dl != len(p) {
		return d, fmt.Errorf("payload field lengths (%d+%d+%d+%d+%d) do not add up to %d bytes", il, tl, sl, ml, dl, len(p)-fixed)
	}
	o := fixed
	d.id, o = p[o:o+il], o+il
	d.typ, o = p[o:o+tl], o+tl
	d.stream, o = p[o:o+sl], o+sl
	d.time, o = p[o:o+ml], o+ml
	d.data = p[o : o+dl]
	d.raw = p
	if il == 0 || tl == 0 || sl == 0 {
		return d, errors.New("payload has an empty id, type or stream")
	}
	return d, nil
}

// frameError describes why a frame could not be read at an offset.
type frameError struct {
	offset int64
	reason string
	// truncated: the frame runs past the end of the data (a torn tail
	// candidate) rather than failing a check.
	truncated bool
}

func (e *frameError) Error() string { return e.reason }

// decodeFrame reads the frame at the start of b. It returns the frame's
// kind, payload (aliasing b), total size and CRC. seed is the CRC of the
// frame before.
func decodeFrame(b []byte, seed uint32) (kind byte, p []byte, size int, crc uint32, err error) {
	if len(b) < 5 {
		return 0, nil, 0, 0, &frameError{reason: "frame header is cut short", truncated: true}
	}
	n := int(binary.LittleEndian.Uint32(b))
	kind = b[4]
	if n < payloadFixed || n > maxPayload {
		return 0, nil, 0, 0, &frameError{reason: fmt.Sprintf("frame length %d out of range", n)}
	}
	size = frameOverhead + n
	if len(b) < size {
		return 0, nil, 0, 0, &frameError{reason: fmt.Sprintf("frame of %d bytes is cut short at %d", size, len(b)), truncated: true}
	}
	crc = binary.LittleEndian.Uint32(b[5+n:])
	if got := crcUpdate(seed, b[:5+n]); got != crc {
		return 0, nil, 0, 0, &frameError{reason: fmt.Sprintf("frame CRC mismatch (stored %08x, computed %08x)", crc, got)}
	}
	if kind != kindContinue && kind != kindCommit {
		return 0, nil, 0, 0, &frameError{reason: fmt.Sprintf("unknown frame kind %d", kind)}
	}
	return kind, b[5 : 5+n], size, crc, nil
}
