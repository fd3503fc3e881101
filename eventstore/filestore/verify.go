package filestore

import (
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/epochledger/epochledger/eventstore"
)

// VerifyReport is the result of Verify.
type VerifyReport struct {
	Dir      string `json:"dir"`
	Segments int    `json:"segments"`
	Events   uint64 `json:"events"`
	Bytes    int64  `json:"bytes"`
	// HeadHash is the chain hash of the last event: an auditor who records
	// it detects any later rewrite of the log up to it.
	HeadHash string `json:"head_hash"`
	// Live is true when another process holds the log open; an
	// uncommitted tail is then a write in progress, not damage.
	Live bool `json:"live"`
	// Tail notes a torn or in-progress tail that was not counted.
	Tail string `json:"tail,omitempty"`
	// ZeroTailBytes are zeros past the newest segment's last event (in
	// Bytes): space the writer zeroed ahead, left by a writer that is
	// still running or stopped uncleanly; not damage.
	ZeroTailBytes int64 `json:"zero_tail_bytes,omitempty"`
	// Problem is the first damage found; nil means the log is intact.
	Problem *eventstore.CorruptError `json:"-"`
}

// OK reports whether the log verified.
func (r *VerifyReport) OK() bool { return r.Problem == nil }

// Verify checks a log read-only: segment headers and order, every frame's
// chained CRC, positions, stream revisions, id uniqueness and the SHA-256
// hash chain through every event. Damage is reported in the report's
// Problem (the first found, with segment, offset and position); the error
// is for failures to read at all. progress, if not nil, is called with
// bytes checked so far and the total.
func Verify(dir string, opts *Options, progress func(done, total int64)) (*VerifyReport, error) {
	var o Options
	if opts != nil {
		o = *opts
	} else {
		o = *DefaultOptions()
	}
	o.ReadOnly = true
	if err := o.Validate(); err != nil {
		return nil, err
	}
	rep := &VerifyReport{Dir: dir}
	names, _, err := listSegments(o.FS, dir)
	if err != nil {
		var ce *eventstore.CorruptError
		if errors.As(err, &ce) {
			rep.Problem = ce
			return rep, nil
		}
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("filestore: %s holds no log segments", dir)
	}
	var total int64
	for _, n := range names {
		f, err := o.FS.OpenFile(filepath.Join(dir, n), 0, 0)
		if err != nil {
			return nil, err
		}
		sz, _ := f.Size()
		f.Close()
		total += sz
	}
	// Holding the lock means no writer is mid-append, so a torn tail is damage.
	l, lerr := o.FS.Lock(filepath.Join(dir, "LOCK"))
	switch {
	case lerr == nil:
		defer l.Close()
	case errors.Is(lerr, eventstore.ErrLocked):
		rep.Live = true
	default:
		return nil, lerr
	}
	s := &Store{
		dir: dir, opts: o, fs: o.FS,
		ids:         newIDIndex(),
		streams:     make(map[string][]uint64),
		headCh:      make(chan struct{}),
		next:        1,
		hasher:      newChainDigest(),
		verifyChain: true,
		strictTail:  !rep.Live,
	}
	if progress != nil {
		s.progress = func(done int64) { progress(done, total) }
	}
	err = s.recover()
	rep.Segments = len(s.segs)
	rep.Events = s.next - 1
	rep.Bytes = total
	rep.HeadHash = hex.EncodeToString(s.lastHash[:])
	rep.Tail = s.Repaired
	rep.ZeroTailBytes = s.zeroTail
	if err != nil {
		var ce *eventstore.CorruptError
		if !errors.As(err, &ce) {
			return nil, err
		}
		if ce.Position == 0 {
			ce.Position = s.next
		}
		rep.Problem = ce
	}
	if progress != nil {
		progress(total, total)
	}
	return rep, nil
}
