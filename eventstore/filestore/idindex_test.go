package filestore

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// TestIDIndexMatchesMap drives the id index and a Go map with the same
// random inserts, lookups and removals (staging's rollback) and checks
// they agree after every step; small key universes make long probe
// clusters, which is where backward-shift deletion can go wrong.
func TestIDIndexMatchesMap(t *testing.T) {
	for _, universe := range []int{50, 3000, 40000} {
		t.Run(fmt.Sprint(universe), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(universe), 7))
			keys := make([]idKey, universe)
			for i := range keys {
				if i%10 == 9 {
					keys[i] = keyOf(fmt.Sprintf("not-a-uuid-%d", i))
					continue
				}
				keys[i] = keyOf(fmt.Sprintf("%08x-0000-4000-8000-%012x", i>>12, i&0xfff))
				if !keys[i].uuid {
					t.Fatalf("key %d did not parse as a UUID", i)
				}
			}
			x := newIDIndex()
			want := map[idKey]uint64{}
			var pos uint64
			for step := 0; step < 20*universe; step++ {
				k := keys[rng.IntN(universe)]
				switch op := rng.IntN(10); {
				case op < 6:
					pos++
					got, inserted := x.lookupOrInsert(k, pos)
					w, had := want[k]
					if inserted == had || (had && got != w) || (!had && got != pos) {
						t.Fatalf("step %d: lookupOrInsert = %d, %v; want stored %d, present %v", step, got, inserted, w, had)
					}
					if !had {
						want[k] = pos
					}
				case op < 9:
					x.remove(k)
					delete(want, k)
				default:
					got, ok := x.lookup(k)
					if w, had := want[k]; ok != had || got != w {
						t.Fatalf("step %d: lookup = %d, %v; want %d, %v", step, got, ok, w, had)
					}
				}
				if x.Len() != len(want) {
					t.Fatalf("step %d: Len = %d, want %d", step, x.Len(), len(want))
				}
			}
			for _, k := range keys {
				got, ok := x.lookup(k)
				if w, had := want[k]; ok != had || got != w {
					t.Fatalf("final: lookup(%v) = %d, %v; want %d, %v", k, got, ok, w, had)
				}
			}
		})
	}
}

func BenchmarkIDIndexInsert(b *testing.B) {
	keys := make([]idKey, b.N)
	for i := range keys {
		keys[i] = keyOf(fmt.Sprintf("%08x-0000-4000-8000-%012x", uint64(i)>>48, uint64(i)))
	}
	x := newIDIndex()
	b.ResetTimer()
	for i, k := range keys {
		x.lookupOrInsert(k, uint64(i+1))
	}
}

func BenchmarkGoMapInsert(b *testing.B) {
	keys := make([]idKey, b.N)
	for i := range keys {
		keys[i] = keyOf(fmt.Sprintf("%08x-0000-4000-8000-%012x", uint64(i)>>48, uint64(i)))
	}
	m := map[[16]byte]uint64{}
	b.ResetTimer()
	for i, k := range keys {
		if _, ok := m[k.u]; !ok {
			m[k.u] = uint64(i + 1)
		}
	}
}

// TestParseUUID checks the table-driven parser against encoding/hex on
// canonical ids and on ids with one byte changed (uppercase hex, a non-hex
// byte, a misplaced dash), as text and as bytes.
func TestParseUUID(t *testing.T) {
	ref := func(id string) ([16]byte, bool) {
		var u [16]byte
		if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' || strings.ContainsAny(id, "ABCDEF") {
			return u, false
		}
		b, err := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
		if err != nil || len(b) != 16 {
			return u, false
		}
		copy(u[:], b)
		return u, true
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		var raw [16]byte
		for j := range raw {
			raw[j] = byte(rng.Uint32())
		}
		h := hex.EncodeToString(raw[:])
		id := []byte(h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32])
		if i%2 == 1 {
			id[rng.IntN(len(id))] = "0aAfFg-{ /"[rng.IntN(10)]
		}
		wu, wok := ref(string(id))
		gu, gok := parseUUID(string(id))
		bu, bok := parseUUID(id)
		if gok != wok || bok != wok || (wok && (gu != wu || bu != wu)) {
			t.Fatalf("parseUUID(%q) = %x %v / bytes %x %v, want %x %v", id, gu, gok, bu, bok, wu, wok)
		}
	}
}

// TestIDIndexPregrow: pregrowOne grows one table at a time, only tables
// an append of n ids could push past their thresholds, and keeps every id
// where it was.
func TestIDIndexPregrow(t *testing.T) {
	x := newIDIndex()
	const n = 20000
	keys := make([]idKey, n)
	for i := range keys {
		keys[i] = keyOf(fmt.Sprintf("%08x-0000-4000-8000-%012x", i>>12, i&0xfff))
		x.lookupOrInsert(keys[i], uint64(i+1))
	}
	crowded := func(r int) int {
		c := 0
		for i := range x.shards {
			if x.crowded(i, r) {
				c++
			}
		}
		return c
	}
	const batch = 1000
	r := 2*batch/idShards + 4
	before := crowded(r)
	if before < 2 {
		t.Fatalf("only %d shards are near full: the test needs more", before)
	}
	var was [idShards]int
	for i := range x.shards {
		was[i] = len(x.shards[i].slots)
	}
	if x.pregrowOne(batch, new(sync.Mutex)) == 0 {
		t.Fatal("pregrowOne grew nothing")
	}
	grown := 0
	for i := range x.shards {
		switch n := len(x.shards[i].slots); {
		case n == 2*was[i]:
			grown++
		case n != was[i]:
			t.Fatalf("table %d went from %d to %d slots", i, was[i], n)
		}
	}
	if grown != 1 {
		t.Fatalf("pregrowOne grew %d tables, want 1", grown)
	}
	for x.pregrowOne(batch, new(sync.Mutex)) > 0 {
	}
	if got := crowded(r); got != 0 {
		t.Fatalf("pregrowOne until done left %d crowded shards", got)
	}
	for i, k := range keys {
		if p, ok := x.lookup(k); !ok || p != uint64(i+1) {
			t.Fatalf("key %d at %d, %v after pregrow", i, p, ok)
		}
	}
	if x.Len() != n {
		t.Fatalf("Len %d, want %d", x.Len(), n)
	}
}
