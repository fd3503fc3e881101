package esdb

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/epochledger/epochledger/eventstore"
)

// ChainCheckpointType is the event type of chain checkpoints.
const ChainCheckpointType = "ChainCheckpoint"

// ChainHash returns the chain hash of event e whose predecessor's chain
// hash is prev: eventstore.ChainHash, the content chain every networked
// backend shares. Only content is hashed, not the position (here the
// server's byte offset, which differs between backends and after a copy).
func ChainHash(prev [32]byte, e *eventstore.RecordedEvent) [32]byte {
	return eventstore.ChainHash(prev, e)
}

// Checkpoint is one chain checkpoint: the chain hash over every event of
// the log up to and including UptoPosition.
type Checkpoint struct {
	Revision     uint64   // revision in the chain stream
	Position     uint64   // $all position of the checkpoint event itself
	UptoPosition uint64   // position of the last event covered
	Count        uint64   // events covered, from the start of the log
	ChainHash    [32]byte // chain hash of the event at UptoPosition
	Time         string   // when it was written (RFC 3339, the writer's clock)
}

// checkpointData is a checkpoint event's data (JSON).
type checkpointData struct {
	UptoPosition uint64 `json:"upto_position"`
	Count        uint64 `json:"count"`
	ChainHash    string `json:"chain_hash"` // hex
}

func decodeCheckpoint(e *eventstore.RecordedEvent) (Checkpoint, error) {
	var d checkpointData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint at revision %d: %v", e.Revision, err)
	}
	h, err := hex.DecodeString(d.ChainHash)
	if err != nil || len(h) != 32 {
		return Checkpoint{}, fmt.Errorf("checkpoint at revision %d: chain_hash %q is not 32 hex bytes", e.Revision, d.ChainHash)
	}
	cp := Checkpoint{Revision: e.Revision, Position: e.Position, UptoPosition: d.UptoPosition, Count: d.Count, Time: e.Time}
	copy(cp.ChainHash[:], h)
	return cp, nil
}

// readCheckpoints calls fn for the chain checkpoints from revision from on.
func (s *Store) readCheckpoints(ctx context.Context, from uint64, fn func(e *eventstore.RecordedEvent) error) error {
	next := from
	err := s.do(ctx, "read chain checkpoints", func(c *esdbclient.Client) error {
		rs, err := c.ReadStream(ctx, s.chain, esdbclient.ReadStreamOptions{Direction: esdbclient.Forwards, From: esdbclient.Revision(next)}, math.MaxInt64)
		if err != nil {
			return err
		}
		return each(rs, func(e *esdbclient.RecordedEvent) (bool, error) {
			rec, err := s.convert(e)
			if err != nil {
				return true, err
			}
			if err := fn(&rec); err != nil {
				return true, &callbackError{err}
			}
			next = e.EventNumber + 1
			return false, nil
		})
	})
	if isNotFound(err) {
		return nil
	}
	return err
}

// LastChainCheckpoint returns the newest chain checkpoint, and false when
// there is none.
func (s *Store) LastChainCheckpoint(ctx context.Context) (Checkpoint, bool, error) {
	var cp Checkpoint
	var found bool
	err := s.do(ctx, "read chain checkpoints", func(c *esdbclient.Client) error {
		rs, err := c.ReadStream(ctx, s.chain, esdbclient.ReadStreamOptions{Direction: esdbclient.Backwards, From: esdbclient.End{}}, 1)
		if err != nil {
			return err
		}
		return each(rs, func(e *esdbclient.RecordedEvent) (bool, error) {
			rec, err := s.convert(e)
			if err == nil {
				cp, err = decodeCheckpoint(&rec)
			}
			found = err == nil
			return true, err
		})
	})
	if isNotFound(err) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, mapError("read chain checkpoints", err)
	}
	return cp, found, nil
}

// WriteChainCheckpoint extends the chain from the newest checkpoint to the
// head and appends a checkpoint for it to the chain stream, expecting the
// chain stream's revision it read: of several writers racing, one wins and
// the others get eventstore.ErrWrongRevision (run it again). It returns
// the newest checkpoint unchanged when no event came after it, and a zero
// Checkpoint when the log is empty.
//
// It trusts the newest checkpoint as the starting point, so its cost is
// the events since; VerifyChain recomputes everything.
func (s *Store) WriteChainCheckpoint(ctx context.Context) (Checkpoint, error) {
	done, err := s.beginWrite()
	if err != nil {
		return Checkpoint{}, err
	}
	defer done()
	prev, found, next, err := s.extendChain(ctx)
	if err != nil || next.Count == prev.Count {
		return prev, err
	}
	return s.appendCheckpoint(ctx, prev, found, next)
}

// extendChain computes the chain from the newest checkpoint (prev; found
// false when there is none) to the head.
func (s *Store) extendChain(ctx context.Context) (prev Checkpoint, found bool, next Checkpoint, err error) {
	prev, found, err = s.LastChainCheckpoint(ctx)
	if err != nil {
		return prev, found, next, err
	}
	next = Checkpoint{UptoPosition: prev.UptoPosition, Count: prev.Count, ChainHash: prev.ChainHash}
	err = s.readAll(ctx, prev.UptoPosition+1, true, func(e *eventstore.RecordedEvent) error {
		next.ChainHash = ChainHash(next.ChainHash, e)
		next.Count++
		next.UptoPosition = e.Position
		return nil
	})
	return prev, found, next, mapError("chain checkpoint: read $all", err)
}

// appendCheckpoint appends next after prev, expecting the chain stream to
// end at prev.
func (s *Store) appendCheckpoint(ctx context.Context, prev Checkpoint, found bool, next Checkpoint) (Checkpoint, error) {
	data, _ := json.Marshal(checkpointData{UptoPosition: next.UptoPosition, Count: next.Count, ChainHash: hex.EncodeToString(next.ChainHash[:])})
	next.Time = time.Now().UTC().Format(time.RFC3339Nano)
	meta, _ := json.Marshal(eventMeta{Time: next.Time})
	// The id follows from the content, so a retry of this append is
	// recognised by the server as the same event.
	id := uuid.NewSHA1(chainNamespace, data)
	expected := esdbclient.ExpectedRevision(esdbclient.NoStream{})
	if found {
		expected = esdbclient.StreamRevision{Value: prev.Revision}
	}
	err := s.do(ctx, "append chain checkpoint", func(c *esdbclient.Client) error {
		wr, err := c.AppendToStream(ctx, s.chain, esdbclient.AppendToStreamOptions{ExpectedRevision: expected, Deadline: &s.opts.AppendTimeout},
			esdbclient.EventData{EventID: id, EventType: ChainCheckpointType, ContentType: esdbclient.ContentTypeJson, Data: data, Metadata: meta})
		if err != nil {
			if isWrongVersion(err) {
				return fmt.Errorf("%w: another writer extended %q concurrently; run again: %w", eventstore.ErrWrongRevision, s.chain, err)
			}
			return err
		}
		next.Revision = wr.NextExpectedVersion
		rs, err := c.ReadStream(ctx, s.chain, esdbclient.ReadStreamOptions{Direction: esdbclient.Forwards, From: esdbclient.Revision(next.Revision)}, 1)
		if err != nil {
			return err
		}
		return each(rs, func(e *esdbclient.RecordedEvent) (bool, error) {
			next.Position, err = eventPosition(e.Position)
			return true, err
		})
	})
	if err != nil {
		return Checkpoint{}, mapError("append chain checkpoint", err)
	}
	s.log.Info("esdb: chain checkpoint", "revision", next.Revision, "upto", next.UptoPosition, "count", next.Count, "hash", hex.EncodeToString(next.ChainHash[:]))
	return next, nil
}

var chainNamespace = uuid.MustParse("6f0c6a52-3b0e-4f51-9a43-1d5e2f0c9b7a")

// ChainMismatch is a stretch of the log whose recomputed chain does not
// match the checkpoint written for it: an event in (AfterPosition,
// UptoPosition] was changed, removed or inserted — or the checkpoint
// itself was.
type ChainMismatch struct {
	Checkpoint    uint64 // revision of the checkpoint that does not match
	AfterPosition uint64 // UptoPosition of the checkpoint before it (0: start of the log)
	FirstPosition uint64 // first event found after AfterPosition (0: none)
	UptoPosition  uint64 // what the checkpoint covers
	WantCount     uint64 // the checkpoint's count
	GotCount      uint64 // events recomputed up to UptoPosition
	WantHash      [32]byte
	GotHash       [32]byte
	Reason        string
}

func (m ChainMismatch) String() string {
	return fmt.Sprintf("checkpoint %d: events in (%d, %d] (first at %d): %s", m.Checkpoint, m.AfterPosition, m.UptoPosition, m.FirstPosition, m.Reason)
}

// VerifyReport is what VerifyChain found.
type VerifyReport struct {
	Events      uint64          // events hashed
	Head        uint64          // position of the last one
	ChainHash   [32]byte        // chain hash at Head, as recomputed
	Checkpoints int             // checkpoints read
	Verified    int             // checkpoints that match
	Unanchored  uint64          // events after the last checkpoint (not yet covered)
	Mismatches  []ChainMismatch // in log order; the first is where tampering is first seen
}

// OK reports whether every checkpoint matched.
func (r *VerifyReport) OK() bool { return len(r.Mismatches) == 0 }

// VerifyChain recomputes the chain over the whole log and checks it
// against every checkpoint. A mismatch is located between two consecutive
// checkpoints (more frequent checkpoints locate it more finely); after one,
// the chain restarts from the checkpoint's own hash, so each stretch is
// judged on its own. progress, when not nil, is called now and then with
// the events hashed and the events the last checkpoint covers (0 when
// there is none).
func (s *Store) VerifyChain(ctx context.Context, progress func(done, total uint64)) (VerifyReport, error) {
	if err := s.open(); err != nil {
		return VerifyReport{}, err
	}
	var cps []Checkpoint
	var rep VerifyReport
	var bad []ChainMismatch
	err := s.readCheckpoints(ctx, 0, func(e *eventstore.RecordedEvent) error {
		cp, err := decodeCheckpoint(e)
		if err != nil {
			bad = append(bad, ChainMismatch{Checkpoint: e.Revision, Reason: err.Error()})
			return nil
		}
		if n := len(cps); n > 0 && (cp.UptoPosition <= cps[n-1].UptoPosition || cp.Count <= cps[n-1].Count) {
			bad = append(bad, ChainMismatch{Checkpoint: cp.Revision, AfterPosition: cps[n-1].UptoPosition, UptoPosition: cp.UptoPosition,
				WantCount: cp.Count, Reason: fmt.Sprintf("does not move past checkpoint %d (upto %d, count %d)", cps[n-1].Revision, cps[n-1].UptoPosition, cps[n-1].Count)})
			return nil
		}
		cps = append(cps, cp)
		return nil
	})
	if err != nil {
		return rep, mapError("verify chain", err)
	}
	rep.Checkpoints = len(cps) + len(bad)
	rep.Mismatches = append(rep.Mismatches, bad...)
	var total uint64
	if len(cps) > 0 {
		total = cps[len(cps)-1].Count
	}
	var h [32]byte
	var count, after, first uint64
	k := 0 // next checkpoint to check
	check := func(cp Checkpoint) {
		if count == cp.Count && h == cp.ChainHash {
			rep.Verified++
		} else {
			reason := "chain hash differs"
			if count != cp.Count {
				reason = fmt.Sprintf("%d events recomputed, checkpoint counts %d", count, cp.Count)
			}
			rep.Mismatches = append(rep.Mismatches, ChainMismatch{Checkpoint: cp.Revision, AfterPosition: after, FirstPosition: first,
				UptoPosition: cp.UptoPosition, WantCount: cp.Count, GotCount: count, WantHash: cp.ChainHash, GotHash: h, Reason: reason})
			h, count = cp.ChainHash, cp.Count // judge the next stretch on its own
		}
		after, first = cp.UptoPosition, 0
	}
	err = s.readAll(ctx, 1, true, func(e *eventstore.RecordedEvent) error {
		for k < len(cps) && cps[k].UptoPosition < e.Position {
			check(cps[k]) // the event it ends at is missing
			k++
		}
		h = ChainHash(h, e)
		count++
		if first == 0 {
			first = e.Position
		}
		rep.Events++
		rep.Head = e.Position
		if k < len(cps) && cps[k].UptoPosition == e.Position {
			check(cps[k])
			k++
		}
		if progress != nil && rep.Events%1024 == 0 {
			progress(rep.Events, max(total, rep.Events))
		}
		return nil
	})
	if err != nil {
		return rep, mapError("verify chain", err)
	}
	for ; k < len(cps); k++ {
		check(cps[k]) // covers positions past the head: events are missing
	}
	rep.ChainHash = h
	sort.SliceStable(rep.Mismatches, func(i, j int) bool { return rep.Mismatches[i].Checkpoint < rep.Mismatches[j].Checkpoint })
	if len(cps) > 0 {
		last := cps[len(cps)-1]
		if rep.Head > last.UptoPosition {
			rep.Unanchored = count - last.Count
		}
	} else {
		rep.Unanchored = rep.Events
	}
	if progress != nil {
		progress(rep.Events, max(total, rep.Events))
	}
	return rep, nil
}
