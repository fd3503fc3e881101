package filestore

import (
	"fmt"
	"io"
)

// zeroAheadMaxFlush is the flush size from which no zeros are written
// ahead: such a flush already spreads its journal commit over enough
// bytes, and writing zeros would double what batched appends send to disk.
const zeroAheadMaxFlush = lingerMaxBytes

// zeroBlock is written repeatedly to zero the space ahead of the log.
var zeroBlock [256 << 10]byte

// zeroAhead extends the zeros past the frames to Options.ZeroAhead bytes
// when a flush of wrote bytes is small and fewer than a quarter of them are
// left, so that the fdatasyncs of the next few dozen small flushes only
// overwrite blocks already on disk. The zeros are made durable by the
// same fdatasync as the flush's frames; that one commits the new size.
func (s *Store) zeroAhead(wrote int) error {
	za := s.opts.ZeroAhead
	if za <= 0 || s.flusher.zeroOff || wrote >= zeroAheadMaxFlush || s.flusher.zeroEnd-s.flusher.end >= za/4 {
		return nil
	}
	for end := s.flusher.end + za; s.flusher.zeroEnd < end; {
		off := s.flusher.zeroEnd
		b := zeroBlock[:min(int64(len(zeroBlock)), end-off)]
		n, err := s.flusher.file.WriteAt(b, off)
		if err == nil && n < len(b) {
			err = io.ErrShortWrite
		}
		s.flusher.zeroEnd += int64(n)
		if err != nil {
			return fmt.Errorf("write %d zero bytes ahead at offset %d: %w", len(b), off, err)
		}
	}
	return nil
}

// trimZeros cuts the zeros written ahead off the active segment and makes
// the cut durable: when the segment is left for a new one, and on Close.
func (s *Store) trimZeros() error {
	if s.flusher.zeroEnd <= s.flusher.end {
		return nil
	}
	if err := s.flusher.file.Truncate(s.flusher.end); err != nil {
		return fmt.Errorf("trim zeros past offset %d: %w", s.flusher.end, err)
	}
	if err := s.flusher.file.Sync(); err != nil {
		return fmt.Errorf("fsync after trimming zeros: %w", err)
	}
	s.flusher.zeroEnd = s.flusher.end
	return nil
}
