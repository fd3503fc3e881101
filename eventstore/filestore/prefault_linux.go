package filestore

import (
	"syscall"
	"unsafe"
)

// madvPopulateWrite is MADV_POPULATE_WRITE (Linux 5.14): fault a range's
// pages in, writable, in one system call, without changing their bytes.
const madvPopulateWrite = 23

// prefaultMin is the smallest array advised. Chosen, not tuned: the
// tables and indexes that cost were far larger (hundreds of KiB to MiB),
// and smaller arrays are often reused heap memory already mapped.
const prefaultMin = 64 << 10

// prefault asks the kernel to map the pages of a new array (s up to its
// capacity) in one call, before it is filled. Filling a fresh array faults
// each 4 KiB page in separately, and on a virtual machine a fault is slow
// (12–14 µs a page on the one these figures come from, 3.3 µs populated):
// the indexes staging grows, while it holds its lock, are the arrays this
// is for. Older kernels refuse the advice; the pages then fault in as
// before.
func prefault[T any](s []T) {
	var zero T
	n := uintptr(cap(s)) * unsafe.Sizeof(zero)
	if n < prefaultMin {
		return
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	page := uintptr(syscall.Getpagesize())
	// madvise takes page-aligned ranges: advise the whole pages inside the
	// array (those at its ends may hold other objects too).
	first := (start + page - 1) &^ (page - 1)
	last := (start + n) &^ (page - 1)
	if last <= first {
		return
	}
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, first, last-first, madvPopulateWrite)
}
