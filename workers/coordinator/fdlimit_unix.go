//go:build unix

package coordinator

import "syscall"

// fdReserve is kept for the event store (segments, index, lock), the
// replay floor, logs and the process's other files.
const fdReserve = 256

// ConnCap lowers want to the process's soft file descriptor limit less
// fdReserve, so that connections alone can never take the descriptors the
// store needs to create a segment (a failure that used to stop appends).
func ConnCap(want int) int {
	var rl syscall.Rlimit // a limit above 2^31 is "unlimited" for this purpose
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<31 {
		return want
	}
	if room := int64(rl.Cur) - fdReserve; room < int64(want) {
		return int(max(room, 16))
	}
	return want
}
