package filestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/epochledger/epochledger/eventstore"
)

// frameScanner reads the frames of one segment in order through large
// sequential reads, checking each frame's chained CRC.
type frameScanner struct {
	r    io.ReaderAt
	size int64  // bytes of the segment that may be read
	base int64  // file offset of buf[0]
	buf  []byte // buf[lo:hi] holds unread bytes
	lo   int
	hi   int
	seed uint32 // CRC of the previous frame
	v    uint32 // the segment's version: its payloads' layout
}

const scanChunk = 1 << 20

func newFrameScanner(r io.ReaderAt, size, offset int64, seed, version uint32) *frameScanner {
	n := int64(scanChunk)
	if rem := size - offset; rem < n {
		n = max(rem, 64)
	}
	return &frameScanner{r: r, size: size, base: offset, buf: make([]byte, n), seed: seed, v: version}
}

// offset is the file offset of the next frame.
func (s *frameScanner) offset() int64 { return s.base + int64(s.lo) }

// fill makes at least n unread bytes available, or as many as remain.
func (s *frameScanner) fill(n int) error {
	if s.hi-s.lo >= n {
		return nil
	}
	if s.lo > 0 {
		copy(s.buf, s.buf[s.lo:s.hi])
		s.base += int64(s.lo)
		s.hi -= s.lo
		s.lo = 0
	}
	if n > len(s.buf) {
		nb := make([]byte, n+scanChunk)
		copy(nb, s.buf[:s.hi])
		s.buf = nb
	}
	for s.hi < n {
		want := int64(len(s.buf) - s.hi)
		if rem := s.size - (s.base + int64(s.hi)); rem < want {
			want = rem
		}
		if want <= 0 {
			return nil
		}
		m, err := s.r.ReadAt(s.buf[s.hi:s.hi+int(want)], s.base+int64(s.hi))
		s.hi += m
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if m == 0 {
			return nil
		}
	}
	return nil
}

// next returns the next frame. At the clean end of the segment it returns
// io.EOF; a bad frame gives a *frameError with its offset. The payload
// aliases the scanner's buffer until the next call.
func (s *frameScanner) next() (kind byte, p []byte, off int64, err error) {
	off = s.offset()
	if off >= s.size {
		return 0, nil, off, io.EOF
	}
	if err := s.fill(5); err != nil {
		return 0, nil, off, err
	}
	if s.hi-s.lo >= 5 {
		n := int(binary.LittleEndian.Uint32(s.buf[s.lo:]))
		if n <= maxPayload {
			if err := s.fill(frameOverhead + n); err != nil {
				return 0, nil, off, err
			}
		}
	}
	kind, p, size, crc, err := decodeFrame(s.buf[s.lo:s.hi], s.seed)
	if err != nil {
		fe := err.(*frameError)
		fe.offset = off
		return 0, nil, off, fe
	}
	s.lo += size
	s.seed = crc
	return kind, p, off, nil
}

// nextEvent reads the next frame, which must hold position pos, and
// decodes its payload (aliasing the buffer until the next call). At the
// clean end of the segment it returns io.EOF; a bad frame, a payload that
// does not decode or another position is a *CorruptError naming seg, the
// offset and pos.
func (s *frameScanner) nextEvent(seg string, pos uint64) (d payload, off int64, err error) {
	_, p, off, err := s.next()
	if errors.Is(err, io.EOF) {
		return d, off, err
	}
	if err == nil {
		if d, err = decodePayload(p, s.v); err == nil && d.position != pos {
			err = fmt.Errorf("frame holds position %d, want %d", d.position, pos)
		}
	}
	if err != nil {
		reason := err.Error()
		var fe *frameError
		if errors.As(err, &fe) {
			reason = fe.reason
		}
		return d, off, &eventstore.CorruptError{Segment: seg, Offset: off, Position: pos, Reason: reason}
	}
	return d, off, nil
}

// findValidFrame looks for a valid frame anywhere after the bad frame at
// off, up to size, and returns its offset (-1 when there is none):
// evidence that the damage is inside the log rather than a torn tail. The
// bad frame's own length field is not trusted (one flipped bit in it
// would hide everything after it), so every offset is tried. A frame
// there is valid when its length is in range and it ends by size, its
// kind is known, its CRC checks out chained from the CRC stored in the 4
// bytes before it (its predecessor's), or, right after the bad frame as
// its length field places it, from the CRC recomputed over the bad frame
// (in case only its CRC field was hit), and its payload decodes with a
// position from pos (the bad frame's) on. seed is the CRC the bad frame
// chains from; v is the segment's version.
func findValidFrame(r io.ReaderAt, size, off int64, seed uint32, pos uint64, v uint32) (int64, error) {
	if off+frameOverhead+payloadFixed > size {
		return -1, nil
	}
	// The CRC the bad frame would have if only its CRC field is wrong.
	var altAt int64 = -1
	var alt uint32
	var lb [4]byte
	if _, err := r.ReadAt(lb[:], off); err == nil {
		if n := int64(binary.LittleEndian.Uint32(lb[:])); n >= payloadFixed && n <= maxPayload && off+frameOverhead+n <= size {
			b := make([]byte, 5+n)
			if _, err := r.ReadAt(b, off); err == nil {
				altAt, alt = off+frameOverhead+n, crcUpdate(seed, b)
			}
		}
	}
	var frame []byte
	valid := func(o int64, n int64, seeds ...uint32) (bool, error) {
		if int64(cap(frame)) < frameOverhead+n {
			frame = make([]byte, frameOverhead+n)
		}
		frame = frame[:frameOverhead+n]
		if _, err := r.ReadAt(frame, o); err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		for _, sd := range seeds {
			if _, p, _, _, err := decodeFrame(frame, sd); err == nil {
				d, err := decodePayload(p, v)
				return err == nil && d.position >= pos, nil
			}
		}
		return false, nil
	}
	chunk := min(int64(1<<20), size-off)
	buf := make([]byte, 4+chunk+5)
	for base := off + 1; base+frameOverhead+payloadFixed <= size; base += chunk {
		lo := base - 4
		hi := min(base+chunk+5, size)
		m, err := r.ReadAt(buf[:hi-lo], lo)
		if err != nil && !errors.Is(err, io.EOF) {
			return -1, err
		}
		b := buf[:m]
		for i := 4; i+5 <= len(b) && int64(i) < 4+chunk; i++ {
			n := int64(binary.LittleEndian.Uint32(b[i:]))
			o := lo + int64(i)
			if n < payloadFixed || n > maxPayload || o+frameOverhead+n > size || (b[i+4] != kindContinue && b[i+4] != kindCommit) {
				continue
			}
			seeds := []uint32{binary.LittleEndian.Uint32(b[i-4:])}
			if o == altAt {
				seeds = append(seeds, alt)
			}
			ok, err := valid(o, n, seeds...)
			if err != nil {
				return -1, err
			}
			if ok {
				return o, nil
			}
		}
	}
	return -1, nil
}

// validFrameAt reports whether a whole, valid frame chained from seed
// starts at off and ends by size. It reads that frame only.
func validFrameAt(r io.ReaderAt, size, off int64, seed uint32) bool {
	var lb [4]byte
	if off+frameOverhead+payloadFixed > size {
		return false
	}
	if _, err := r.ReadAt(lb[:], off); err != nil {
		return false
	}
	n := int64(binary.LittleEndian.Uint32(lb[:]))
	if n < payloadFixed || n > maxPayload || off+frameOverhead+n > size {
		return false
	}
	b := make([]byte, frameOverhead+n)
	if _, err := r.ReadAt(b, off); err != nil {
		return false
	}
	_, _, _, _, err := decodeFrame(b, seed)
	return err == nil
}
