package filestore

import (
	"slices"
	"testing"
)

// TestPrefaultKeepsBytes: faulting an array's pages in (on Linux, with
// MADV_POPULATE_WRITE) changes none of its bytes, written or not.
func TestPrefaultKeepsBytes(t *testing.T) {
	s := make([]uint64, 64<<10) // 512 KiB: past prefaultMin
	for i := range s[:len(s)/2] {
		s[i] = uint64(i)*0x9e3779b97f4a7c15 + 1
	}
	prefault(s)
	for i, v := range s {
		want := uint64(0)
		if i < len(s)/2 {
			want = uint64(i)*0x9e3779b97f4a7c15 + 1
		}
		if v != want {
			t.Fatalf("element %d is %#x after prefault, want %#x", i, v, want)
		}
	}
	prefault(s[:0])    // an empty slice with room
	prefault([]byte{}) // and none: nothing to do
}

// TestGrowFaulted: room for n more, the elements kept, the array reused
// while it has room and doubled when it is full.
func TestGrowFaulted(t *testing.T) {
	var s []uint32
	for i := range 100000 {
		before := cap(s)
		s = growFaulted(s, 1)
		if cap(s)-len(s) < 1 {
			t.Fatalf("no room after growFaulted(len %d, cap %d)", len(s), cap(s))
		}
		if before > len(s) && cap(s) != before {
			t.Fatalf("array replaced while it had room (cap %d -> %d)", before, cap(s))
		}
		if before == len(s) && before > 0 && cap(s) != 2*before {
			t.Fatalf("full array of %d grew to %d, want double", before, cap(s))
		}
		s = append(s, uint32(i))
	}
	for i, v := range s {
		if v != uint32(i) {
			t.Fatalf("element %d is %d after growing", i, v)
		}
	}
	big := growFaulted(s, 1<<20)
	if !slices.Equal(big, s) || cap(big)-len(big) < 1<<20 {
		t.Fatalf("growFaulted(len %d, n 1M): len %d cap %d", len(s), len(big), cap(big))
	}
}
