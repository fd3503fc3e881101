package filestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// The commit record (DIR/COMMIT) is what recovery needs to tell a torn
// tail from damage: how far the log was known durable, and whether its
// writer closed it cleanly. See doc.go ("Commit record").
const (
	commitRecordName = "COMMIT"
	commitMagic      = "EPLOGCMT"
	commitVersion    = 1
	commitRecordSize = 96
	// commitSlot is the distance between the record's two slots: each
	// in its own sector, so that a torn update can only lose the slot it
	// was writing.
	commitSlot = 512
	commitFile = 2 * commitSlot

	commitClean = 1 // flag: the writer closed the log cleanly
)

// commitRecord is one slot of DIR/COMMIT.
type commitRecord struct {
	seq      uint64 // the newer of two valid slots wins
	clean    bool
	segFirst uint64 // first position of the segment end refers to
	end      int64  // end of the last durable commit's frames in that segment
	head     uint64 // position of the last durable event (0: none)
	headHash [32]byte
}

func (r *commitRecord) encode(b []byte) {
	clear(b[:commitRecordSize])
	copy(b, commitMagic)
	binary.LittleEndian.PutUint32(b[8:], commitVersion)
	if r.clean {
		b[12] = commitClean
	}
	binary.LittleEndian.PutUint64(b[16:], r.seq)
	binary.LittleEndian.PutUint64(b[24:], r.segFirst)
	binary.LittleEndian.PutUint64(b[32:], uint64(r.end))
	binary.LittleEndian.PutUint64(b[40:], r.head)
	copy(b[48:80], r.headHash[:])
	binary.LittleEndian.PutUint32(b[92:], crcUpdate(0, b[:92]))
}

func decodeCommitRecord(b []byte) (commitRecord, bool) {
	var r commitRecord
	if len(b) < commitRecordSize || string(b[:8]) != commitMagic ||
		binary.LittleEndian.Uint32(b[8:]) != commitVersion ||
		crcUpdate(0, b[:92]) != binary.LittleEndian.Uint32(b[92:]) {
		return r, false
	}
	r.clean = b[12]&commitClean != 0
	r.seq = binary.LittleEndian.Uint64(b[16:])
	r.segFirst = binary.LittleEndian.Uint64(b[24:])
	r.end = int64(binary.LittleEndian.Uint64(b[32:]))
	r.head = binary.LittleEndian.Uint64(b[40:])
	copy(r.headHash[:], b[48:80])
	return r, true
}

// readCommitRecord returns the newest valid slot of dir's commit record,
// or nil when there is none (a log written before the record existed, or
// one whose record never became durable): recovery then knows nothing
// beyond the segments themselves.
func readCommitRecord(fs FS, path string) (*commitRecord, error) {
	f, err := fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("filestore: open commit record: %w", err)
	}
	defer f.Close()
	b := make([]byte, commitFile)
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("filestore: read commit record: %w", err)
	}
	var best *commitRecord
	for off := 0; off+commitRecordSize <= n; off += commitSlot {
		if r, ok := decodeCommitRecord(b[off:n]); ok && (best == nil || r.seq > best.seq) {
			best = &r
		}
	}
	return best, nil
}

// commitWriter keeps the writer's commit record up to date.
type commitWriter struct {
	f   File
	seq uint64
	buf [commitRecordSize]byte
}

// openCommitWriter opens (creating) the commit record for a writer that
// has just recovered the log, and durably marks the log as open: from now
// on a crash is not a clean close. prev is the record recovery read.
func openCommitWriter(fs FS, dir, path string, prev *commitRecord, r commitRecord) (*commitWriter, error) {
	f, err := fs.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("filestore: open commit record: %w", err)
	}
	w := &commitWriter{f: f}
	if prev != nil {
		w.seq = prev.seq
	}
	if size, err := f.Size(); err == nil && size < commitFile {
		// Both slots' sectors are allocated once, so that the updates
		// after every commit only overwrite them (they need no space on
		// a full disk).
		var zero [commitFile]byte
		if _, err := f.WriteAt(zero[size:], size); err != nil {
			f.Close()
			return nil, fmt.Errorf("filestore: create commit record: %w", err)
		}
	}
	r.clean = false
	if err := w.write(r); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("filestore: sync commit record: %w", err)
	}
	if err := fs.SyncDir(dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("filestore: sync %s: %w", dir, err)
	}
	return w, nil
}

// write puts r in the slot after the last one written. It is not synced:
// the record is only ever written after the commit it names is durable,
// so whichever of its versions survives a crash is true.
func (w *commitWriter) write(r commitRecord) error {
	w.seq++
	r.seq = w.seq
	r.encode(w.buf[:])
	if _, err := w.f.WriteAt(w.buf[:], int64(w.seq%2)*commitSlot); err != nil {
		return fmt.Errorf("filestore: write commit record: %w", err)
	}
	return nil
}

// closeClean records a clean close of a log whose frames end at r.end and
// makes it durable.
func (w *commitWriter) closeClean(r commitRecord) error {
	r.clean = true
	if err := w.write(r); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("filestore: sync commit record: %w", err)
	}
	return nil
}
