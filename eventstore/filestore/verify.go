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
	// ClosedCleanly: the log's commit record says its writer closed it
	// cleanly, so it has no torn tail; any damaged frame is damage.
	ClosedCleanly bool `json:"closed_cleanly"`
	// TornTail is set when the only problem (Problem) is a torn or
	// uncommitted tail at the very end of the newest segment of a log that
	// was not closed cleanly, with nothing committed after it: what a
	// crash leaves, which the next writer open cuts. Nothing committed is
	// missing; the events before it all verified.
	TornTail *TornTail `json:"torn_tail,omitempty"`
	// HeadCheck is the outcome of VerifyHead's check of a chain hash kept
	// elsewhere (nil when none was asked for).
	HeadCheck *HeadCheck `json:"head_check,omitempty"`
	// Problem is the first damage found; nil means the log is intact.
	Problem *eventstore.CorruptError `json:"-"`
}

// TornTail describes a torn or uncommitted tail.
type TornTail struct {
	Segment string `json:"segment"`
	// Offset is where the tail starts (the end of the last committed
	// batch) and Bytes how many bytes it holds, up to its last nonzero one.
	Offset int64 `json:"offset"`
	Bytes  int64 `json:"bytes"`
	// Position is the position its first event would have had.
	Position uint64 `json:"position"`
	Reason   string `json:"reason"`
}

// HeadCheck is whether the log holds the event whose chain hash was kept.
type HeadCheck struct {
	Hash string `json:"hash"`
	// Position is the position of the event with that chain hash, 0 when
	// the log holds none: it was cut before that event, or it is another
	// log (or another history of it).
	Position uint64 `json:"position"`
}

// OK reports whether the log verified.
func (r *VerifyReport) OK() bool { return r.Problem == nil }

// CrashTailOnly reports whether the log verified but for a torn or
// uncommitted tail that a crash left (see TornTail).
func (r *VerifyReport) CrashTailOnly() bool { return r.Problem != nil && r.TornTail != nil }

// Verify checks a log read-only: segment headers and order, every frame's
// chained CRC, positions, stream revisions, id uniqueness and the SHA-256
// hash chain through every event. Damage is reported in the report's
// Problem (the first found, with segment, offset and position); the error
// is for failures to read at all. progress, if not nil, is called with
// bytes checked so far and the total.
func Verify(dir string, opts *Options, progress func(done, total int64)) (*VerifyReport, error) {
	return verify(dir, opts, progress, nil)
}

// VerifyHead is Verify that also looks for the event whose chain hash is
// hash, one an auditor kept (a head hash verify printed, or one a
// settlement memo holds): the log must hold it, at the head or at any
// earlier position (the log may have grown since). A log cut before that
// event, or rewritten up to it, does not; the report's HeadCheck says
// which position has it, 0 for none.
func VerifyHead(dir string, opts *Options, progress func(done, total int64), hash [32]byte) (*VerifyReport, error) {
	return verify(dir, opts, progress, &hash)
}

func verify(dir string, opts *Options, progress func(done, total int64), want *[32]byte) (*VerifyReport, error) {
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
	// Every segment scanned (not lazily), the id index built to find ids
	// stored twice, every chain hash recomputed; a torn tail is reported,
	// never cut.
	s := newStore(dir, o, false)
	r := &recovery{s: s, verifyChain: true, strictTail: !rep.Live, matchHash: want}
	if progress != nil {
		r.progress = func(done int64) { progress(done, total) }
	}
	err = r.run()
	rep.Segments = len(s.segs)
	rep.Events = s.staging.next - 1
	rep.Bytes = total
	rep.HeadHash = hex.EncodeToString(s.headHash[:])
	rep.Tail = r.repaired
	rep.ZeroTailBytes = r.zeroTail
	rep.ClosedCleanly = r.rec != nil && r.rec.clean
	if err != nil {
		var ce *eventstore.CorruptError
		if !errors.As(err, &ce) {
			return nil, err
		}
		if ce.Position == 0 {
			ce.Position = s.staging.next
		}
		rep.Problem = ce
	} else if t := r.torn; t != nil {
		rep.TornTail = t
		rep.Problem = &eventstore.CorruptError{Segment: t.Segment, Offset: t.Offset, Position: t.Position,
			Reason: fmt.Sprintf("torn or uncommitted tail (%s) of %d bytes; opening the log for writing copies it aside and cuts it", t.Reason, t.Bytes)}
	}
	if want != nil {
		rep.HeadCheck = &HeadCheck{Hash: hex.EncodeToString(want[:])}
		if r.matchPos > 0 && r.matchPos < s.staging.next {
			rep.HeadCheck.Position = r.matchPos
		}
	}
	if progress != nil {
		progress(total, total)
	}
	return rep, nil
}
