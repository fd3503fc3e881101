package filestore

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
)

// The chain hashes of version 2 frames are not in the frames (doc.go,
// "Versions"), so staging, the serial part of every append, does not
// compute them: the flusher does, after it wrote a commit's frames and
// while their fdatasync is on its way. No append is answered before its
// chain hash is known, so the head's hash (HeadHash, the commit record,
// a new segment's header) is always there when it is asked for.
//
// A large commit is hashed by the chainer, a goroutine of its own, so
// that on a machine with a second core the hashing (about 250 µs for a
// batch of 1,000 events of 300 bytes) overlaps the fdatasync instead of
// adding to it. Before it hashes, the chainer has the grower grow the id
// tables that the next append of that size would grow in its staging
// (idIndex.nextCrowded), one table per hold of the staging lock, so that
// the growth too happens in the fdatasync's shadow. The grower starts a
// table only while the fdatasync runs (chainer.syncing), so that it
// holds the lock as little as it can while an appender stages. It used
// to start after the hashes, and then ran while the flusher answered the
// commit and the lone appender prepared its next batch, which waited for
// the staging lock (docs/benchmarks.md has the figures). A small commit
// is hashed by the flusher itself: a hand-off to another goroutine would
// cost more than the hashing.

// chainAsyncBytes is the smallest commit the chainer hashes.
const chainAsyncBytes = 64 << 10

// pregrowMinEvents: only commits of at least this many events (batched
// appends) grow the id tables ahead; the commits of many small
// concurrent appends keep their path as it was. pregrowMoves bounds the
// entries moved after one commit.
const (
	pregrowMinEvents = 256
	pregrowMoves     = 16 << 10
)

// chainJob is one commit's frames for the chainer.
type chainJob struct {
	batch []*group
	prev  [32]byte // chain hash of the event before the batch
	grow  int      // events in the batch, for pregrowOne
}

// chainer is the goroutine that hashes large commits, and the grower
// (see above).
type chainer struct {
	jobs   chan chainJob
	hashed chan struct{} // one value per job, once its hashes are set
	grow   chan int      // capacity 1: the events of the last large commit
	// syncing is set while the flusher's fdatasync runs: the grower
	// starts a table only then.
	syncing atomic.Bool
	stopped sync.WaitGroup
}

// startChainer starts the chainer and the grower; stopChainer ends them.
func (s *Store) startChainer() {
	c := &chainer{jobs: make(chan chainJob), hashed: make(chan struct{}), grow: make(chan int, 1)}
	s.flusher.chainer = c
	c.stopped.Add(2)
	go func() {
		defer c.stopped.Done()
		defer close(c.grow)
		d := newChainDigest()
		for j := range c.jobs {
			c.growAhead(j.grow)
			chainGroups(d, j.batch, j.prev)
			c.hashed <- struct{}{}
		}
	}()
	go func() {
		defer c.stopped.Done()
		for n := range c.grow {
			for moved := 0; moved < pregrowMoves && c.syncing.Load(); {
				m := s.staging.ids.pregrowOne(n, &s.staging.Mutex)
				if m == 0 {
					break
				}
				moved += m
			}
		}
	}()
}

// growAhead has the grower grow the id tables for a commit of n events,
// if it is large enough to (pregrowMinEvents) and the grower is not still
// at the last one.
func (c *chainer) growAhead(n int) {
	if n < pregrowMinEvents {
		return
	}
	select {
	case c.grow <- n:
	default:
	}
}

func (s *Store) stopChainer() {
	if c := s.flusher.chainer; c != nil {
		close(c.jobs)
		c.stopped.Wait()
		s.flusher.chainer = nil
	}
}

// chainGroups sets each group's hash: the chain hash of its last event,
// chained from prev through every frame of the groups before it and its
// own (prev itself for a group without events).
func chainGroups(d *chainDigest, batch []*group, prev [32]byte) {
	for _, g := range batch {
		for _, c := range g.chunks {
			for len(c) >= frameOverhead {
				n := int(binary.LittleEndian.Uint32(c))
				prev = chainHashWith(d, &prev, segVersion, c[5:5+n])
				c = c[frameOverhead+n:]
			}
		}
		g.hash = prev
	}
}

// hashCommit starts the chain hashes of batch, whose frames are written
// and not yet synced (flusher, whose chainer runs as long as it does);
// the wait it returns blocks until every group's hash is set.
func (s *Store) hashCommit(batch []*group, wrote int) (wait func()) {
	events := int(batch[len(batch)-1].last + 1 - batch[0].from)
	c := s.flusher.chainer
	if wrote >= chainAsyncBytes {
		c.jobs <- chainJob{batch: batch, prev: s.flusher.durHash, grow: events}
		return func() { <-c.hashed }
	}
	chainGroups(s.flusher.hasher, batch, s.flusher.durHash)
	c.growAhead(events) // small events, many of them: grow ahead all the same
	return func() {}
}
