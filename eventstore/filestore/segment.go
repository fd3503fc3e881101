package filestore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/epochledger/epochledger/eventstore"
)

// segment is the in-memory index of one segment file.
type segment struct {
	name    string
	first   uint64
	version uint32 // of its format: 1 or 2 (format.go)
	// prevHash is the chain hash before the segment's first event. Of a
	// segment staging starts, the flusher sets it when it creates the file.
	prevHash [32]byte
	seed     uint32   // the CRC its first frame is chained from (header.frameSeed)
	offsets  []uint32 // frame offset of position first+i
	size     int64    // encoded bytes, including groups not yet flushed
	// lazy: offsets are not loaded yet (an older segment of a read-only
	// open; see Store.lazy).
	lazy bool
}

// listSegments returns the segment files of dir in log order.
func listSegments(fs FS, dir string) ([]string, []uint64, error) {
	names, err := fs.List(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("filestore: list %s: %w", dir, err)
	}
	var segs []string
	var firsts []uint64
	for _, n := range names {
		if !strings.HasSuffix(n, ".seg") || len(n) != 24 {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(n, ".seg"), 10, 64)
		if err != nil || first == 0 {
			return nil, nil, &eventstore.CorruptError{Segment: n, Reason: "segment file name is not a position"}
		}
		segs = append(segs, n)
		firsts = append(firsts, first)
	}
	return segs, firsts, nil
}

// writeFileSync writes data to a new file name on fs and fsyncs it; the
// caller renames it into place (createSegment) or syncs its directory
// (keepTornTail). It is internal/durable's WriteFile done through the FS:
// durable writes to the operating system's file system, and every file
// the store makes must go through FS, where the tests inject short
// writes, failed fsyncs, ENOSPC, EMFILE and crashes at any byte (memfs,
// fault and nospace tests). A segment's temporary file is also not
// removed here on failure: startSegment's unmake removes it, and syncs
// the directory, so that a failed creation is known to leave nothing.
func writeFileSync(fs FS, name string, data []byte) error {
	f, err := fs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// createSegment writes a new segment file durably: header to a temporary
// file, fsync, rename, fsync the directory.
func (s *Store) createSegment(first uint64, prevHash [32]byte) (*segment, error) {
	h := header{version: segVersion, first: first, prevHash: prevHash}
	b := h.encode()
	name := segmentName(first)
	tmp := s.path(name + ".tmp")
	if err := writeFileSync(s.fs, tmp, b); err != nil {
		return nil, fmt.Errorf("filestore: create segment %s: %w", name, err)
	}
	if err := s.fs.Rename(tmp, s.path(name)); err != nil {
		return nil, fmt.Errorf("filestore: create segment %s: %w", name, err)
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		return nil, fmt.Errorf("filestore: sync %s: %w", s.dir, err)
	}
	return &segment{name: name, first: first, version: h.version, prevHash: prevHash, seed: h.frameSeed(), size: headerSize}, nil
}

// segmentOf returns the segment holding pos; the caller holds mu.
func (s *Store) segmentOf(pos uint64) *segment {
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].first > pos }) - 1
	if i < 0 {
		return nil
	}
	return s.segs[i]
}

// startSegment creates the segment file seg (staged by enqueue) and opens
// it for writing. When it fails, what it made is removed again and the
// error is a *notWritten: nothing was written to the log (a transient
// failure such as EMFILE must not poison the store).
func (s *Store) startSegment(seg *segment) (File, error) {
	made, err := s.createSegment(seg.first, seg.prevHash)
	if err != nil {
		return nil, s.unmake(seg, err)
	}
	if made.seed != seg.seed {
		return nil, fmt.Errorf("segment %s header changed between staging and write", seg.name)
	}
	f, err := s.fs.OpenFile(s.path(seg.name), os.O_WRONLY, 0)
	if err != nil {
		return nil, s.unmake(seg, fmt.Errorf("filestore: open %s for append: %w", seg.name, err))
	}
	return f, nil
}

// unmake removes what a failed startSegment may have made of seg's file;
// the failure is then a *notWritten, unless the removal fails too (the
// file may be left behind: its outcome is unknown).
func (s *Store) unmake(seg *segment, cause error) error {
	for _, name := range []string{s.path(seg.name + ".tmp"), s.path(seg.name)} {
		if err := s.fs.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w; removing %s failed: %w", cause, filepath.Base(name), err)
		}
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		return fmt.Errorf("%w; %w", cause, err)
	}
	return &notWritten{cause}
}
