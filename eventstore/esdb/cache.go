package esdb

import (
	"sync"

	"github.com/google/uuid"
)

// idEntry is where an event id is stored.
type idEntry struct {
	stream   string // our stream name (without StreamPrefix)
	revision uint64
	position uint64
}

// idCache remembers the ids this process appended or found stored, with
// FIFO eviction. Entries are facts about an append-only log, so they never
// go stale; the cache only forgets.
type idCache struct {
	mu   sync.Mutex
	max  int
	m    map[uuid.UUID]idEntry
	ring []uuid.UUID
	next int
}

func newIDCache(max int) *idCache {
	return &idCache{max: max, m: make(map[uuid.UUID]idEntry)}
}

func (c *idCache) get(id uuid.UUID) (idEntry, bool) {
	if c.max == 0 {
		return idEntry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	return e, ok
}

func (c *idCache) put(id uuid.UUID, e idEntry) {
	if c.max == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[id]; ok {
		c.m[id] = e
		return
	}
	if len(c.ring) < c.max {
		c.ring = append(c.ring, id)
	} else {
		delete(c.m, c.ring[c.next])
		c.ring[c.next] = id
		c.next = (c.next + 1) % c.max
	}
	c.m[id] = e
}

// posCache remembers $all positions known to hold a record (events this
// process appended or read), so that a read "from p+1" can start at p
// without probing the server. See resolveStart.
type posCache struct {
	mu   sync.Mutex
	set  map[uint64]struct{}
	ring []uint64
	next int
	max  int
}

func newPosCache(max int) *posCache {
	return &posCache{set: make(map[uint64]struct{}), max: max}
}

func (c *posCache) has(p uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.set[p]
	return ok
}

func (c *posCache) add(p uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.set[p]; ok {
		return
	}
	if len(c.ring) < c.max {
		c.ring = append(c.ring, p)
	} else {
		delete(c.set, c.ring[c.next])
		c.ring[c.next] = p
		c.next = (c.next + 1) % c.max
	}
	c.set[p] = struct{}{}
}
