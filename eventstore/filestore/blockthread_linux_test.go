package filestore

import (
	"syscall"
	"time"
)

// blockThread blocks the calling thread in nanosleep(2) for d, as
// fdatasync(2) blocks it: the Go scheduler sees a system call, not a
// parked goroutine, so the flusher leaves and re-enters the runtime as it
// does with a disk.
func blockThread(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
