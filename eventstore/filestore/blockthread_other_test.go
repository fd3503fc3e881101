//go:build !linux

package filestore

import "time"

// blockThread waits for d; see the Linux version, which blocks the thread
// in the kernel instead.
func blockThread(d time.Duration) { time.Sleep(d) }
