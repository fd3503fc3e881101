package filestore

import (
	"hash/maphash"
	"sync"
)

// idIndex maps event ids to their positions: the idempotency check of every
// append. It is guarded by the staging lock (staging is its only user
// once recovery is done), so it takes no lock of its own.
//
// Ids in UUID form, which is what every epochledger producer writes, live
// in an open-addressing table sharded 1,024 ways: a lookup that misses costs
// one probe into one cache line, and the insert that follows lands in the
// same, now cached, slot. A Go map needed two cold probes per event, which
// was a third of staging's time on large logs. Sharding bounds the
// pause when a table doubles to 1/1,024 of the index (the staging lock is
// held that long: see pregrowOne). Keys are hashed with a
// per-process random seed, so ids chosen by a client cannot be crafted to
// collide. Other ids use a Go map.
type idIndex struct {
	shards [idShards]uuidTable
	other  map[string]uint64
	n      int
	sink   uint64 // keeps warm's loads
	// growNext is the shard pregrow looks at first.
	growNext int
}

const (
	idShards     = 1024
	idShardBits  = 10
	minShardSize = 16 // slots; a power of two
)

// uuidSlot is one slot of a table; pos 0 marks it empty (positions start at 1).
type uuidSlot struct {
	key [16]byte
	pos uint64
}

// uuidTable is a linear-probing hash table kept at most 3/4 full.
type uuidTable struct {
	slots []uuidSlot
	n     int
}

func newIDIndex() *idIndex {
	return &idIndex{other: make(map[string]uint64)}
}

// Len is the number of ids indexed.
func (x *idIndex) Len() int { return x.n }

// idSeed keys the hash of the UUID index, chosen per process so that ids
// chosen by a client cannot be crafted to collide.
var idSeed = maphash.MakeSeed()

// hashUUID is the hash of a UUID key in the index (idKey.h).
func hashUUID(k *[16]byte) uint64 { return maphash.Comparable(idSeed, *k) }

// table returns the shard for hash h and the home slot index within it.
func (x *idIndex) table(h uint64) *uuidTable { return &x.shards[h>>(64-idShardBits)] }

// lookup returns the position stored for k.
func (x *idIndex) lookup(k idKey) (uint64, bool) {
	if !k.uuid {
		p, ok := x.other[k.s]
		return p, ok
	}
	h := k.h
	t := x.table(h)
	if len(t.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.pos == 0 {
			return 0, false
		}
		if s.key == k.u {
			return s.pos, true
		}
	}
}

// warm loads the home slot of each UUID key. The loads do not depend on
// each other, so the CPU overlaps their cache misses; the probes that
// follow (one per key, in order) then mostly hit the cache instead of
// waiting for memory one miss at a time.
func (x *idIndex) warm(keys []idKey) {
	var sum uint64
	for i := range keys {
		if !keys[i].uuid {
			continue
		}
		h := keys[i].h
		if t := x.table(h); len(t.slots) > 0 {
			sum += t.slots[h&uint64(len(t.slots)-1)].pos
		}
	}
	x.sink = sum
}

// lookupOrInsert returns the position already stored for k, or stores pos
// for it and reports inserted. One probe does both.
func (x *idIndex) lookupOrInsert(k idKey, pos uint64) (stored uint64, inserted bool) {
	if !k.uuid {
		if p, ok := x.other[k.s]; ok {
			return p, false
		}
		x.other[k.s] = pos
		x.n++
		return pos, true
	}
	h := k.h
	t := x.table(h)
	if 4*(t.n+1) > 3*len(t.slots) {
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.pos == 0 {
			s.key, s.pos = k.u, pos
			t.n++
			x.n++
			return pos, true
		}
		if s.key == k.u {
			return s.pos, false
		}
	}
}

// remove deletes k (an insert being rolled back). Linear probing deletes by
// shifting back the entries of the cluster after the hole, so lookups never
// need tombstones.
func (x *idIndex) remove(k idKey) {
	if !k.uuid {
		if _, ok := x.other[k.s]; ok {
			delete(x.other, k.s)
			x.n--
		}
		return
	}
	h := k.h
	t := x.table(h)
	if len(t.slots) == 0 {
		return
	}
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for {
		s := &t.slots[i]
		if s.pos == 0 {
			return // not present
		}
		if s.key == k.u {
			break
		}
		i = (i + 1) & mask
	}
	// i is the hole. Move back any later entry of the cluster whose home
	// slot does not lie cyclically in (hole, j].
	for j := (i + 1) & mask; t.slots[j].pos != 0; j = (j + 1) & mask {
		home := hashUUID(&t.slots[j].key) & mask
		if (j-home)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = uuidSlot{}
	t.n--
	x.n--
}

// pregrowOne grows, ahead of need, the next table (in turn) that an
// append of n more ids could push past its threshold, and returns how
// many entries it moved (0: no table needed it). mu is the lock that
// guards x (the staging lock): it is held to pick the table
// (nextCrowded) and to move its entries (growInto), and released while
// the new table's memory is allocated and faulted in, which is most of a
// grow's time on a virtual machine.
func (x *idIndex) pregrowOne(n int, mu sync.Locker) int {
	mu.Lock()
	i, size := x.nextCrowded(n)
	mu.Unlock()
	if i < 0 {
		return 0
	}
	slots := newSlots(size)
	mu.Lock()
	moved, _ := x.growInto(i, slots)
	mu.Unlock()
	return max(moved, 1)
}

// nextCrowded returns the next table (in turn) that an append of n more
// ids could push past its pregrow threshold (below; lookupOrInsert grows
// a table at three quarters full) and the slots it grows to, or -1. The
// grower grows tables ahead, one per hold of the staging lock, after a
// large commit (chain.go), so that a lone appender of large batches finds
// its tables grown instead of growing them inside its staging:
// amortized, about 110 ns per id on a log of a few million events, a
// fifth of a 1,000-event batch's staging when profiled.
//
// Tables fill evenly (the keys are hashed), so at one threshold they would
// all need growing within a few commits of each other, more than one
// fdatasync's shadow holds, and the appender would wait for the staging
// lock. The threshold is spread instead, by table, from 3/8 to 3/4 full
// (a factor of two): each table still doubles once while the index
// doubles, but at its own moment, so the growth is spread evenly over
// the commits (at the cost of tables a little emptier on average).
func (x *idIndex) nextCrowded(n int) (i, size int) {
	r := 2*n/idShards + 4 // a shard's share of n, with room for chance
	for range idShards {
		i := x.growNext
		x.growNext = (x.growNext + 1) % idShards
		if x.crowded(i, r) {
			return i, 2 * len(x.shards[i].slots)
		}
	}
	return -1, 0
}

// growInto moves table i into slots, fresh and twice its size, and
// returns how many entries it moved; ok is false, and nothing changes, if
// the table is no longer the size slots was made for (staging grew it in
// between).
func (x *idIndex) growInto(i int, slots []uuidSlot) (moved int, ok bool) {
	t := &x.shards[i]
	if len(slots) != 2*len(t.slots) {
		return 0, false
	}
	t.rehash(slots)
	return t.n, true
}

// crowded reports whether table i, with r more ids, is full past its
// pregrow threshold: 3/8 + 3/8 * i/idShards of its slots.
func (x *idIndex) crowded(i, r int) bool {
	t := &x.shards[i]
	return len(t.slots) > 0 && 8*idShards*(t.n+r) > (3*idShards+3*i)*len(t.slots)
}

// newSlots returns size empty slots, their pages already faulted in.
func newSlots(size int) []uuidSlot {
	slots := make([]uuidSlot, size)
	prefault(slots)
	return slots
}

// grow doubles t (or gives it its first slots) and reinserts its entries.
func (t *uuidTable) grow() {
	t.rehash(newSlots(max(2*len(t.slots), minShardSize)))
}

// rehash moves t's entries into slots, empty and a power of two in size.
func (t *uuidTable) rehash(slots []uuidSlot) {
	old := t.slots
	t.slots = slots
	mask := uint64(len(slots) - 1)
	for _, s := range old {
		if s.pos == 0 {
			continue
		}
		i := hashUUID(&s.key) & mask
		for t.slots[i].pos != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// parseUUID returns the 16 bytes of a canonical UUID string.
func parseUUID[T string | []byte](id T) ([16]byte, bool) {
	var u [16]byte
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return u, false
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i-- // skip the dash: the next pair starts one byte later
			continue
		}
		// Only lowercase keys are compact: another case of the same UUID
		// is a different id string and must stay distinct.
		hi, lo := lowerHex[id[i]], lowerHex[id[i+1]]
		if hi|lo == 0xff {
			return u, false
		}
		u[j] = hi<<4 | lo
		j++
	}
	return u, true
}

// lowerHex maps '0'-'9' and 'a'-'f' to their value and every other byte to
// 0xff.
var lowerHex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := byte(0); i < 10; i++ {
		t['0'+i] = i
	}
	for i := byte(0); i < 6; i++ {
		t['a'+i] = 10 + i
	}
	return t
}()

// idKey is an event id parsed once: the 16 bytes of a lowercase canonical
// UUID (the compact index) and their hash, or the string itself. Appenders
// make their keys before staging, so parsing and hashing are not part of
// the serial work.
type idKey struct {
	u    [16]byte
	h    uint64 // hashUUID(&u), when uuid
	uuid bool
	s    string // only when !uuid
}

func keyOf(id string) idKey {
	if u, ok := parseUUID(id); ok {
		return idKey{u: u, h: hashUUID(&u), uuid: true}
	}
	return idKey{s: id}
}

// keyOfBytes is keyOf for an id still in a frame: a UUID needs no string.
func keyOfBytes(id []byte) idKey {
	if u, ok := parseUUID(id); ok {
		return idKey{u: u, h: hashUUID(&u), uuid: true}
	}
	return idKey{s: string(id)}
}
