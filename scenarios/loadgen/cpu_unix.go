//go:build unix

package loadgen

import "syscall"

// processCPU returns the CPU time (user + system) of this process so far,
// in seconds: the coordinator and the load generator together when both
// run in it, as in `epochledger bench coordinator`.
func processCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
