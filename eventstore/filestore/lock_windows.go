package filestore

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockFile takes an exclusive LockFileEx lock on f without waiting; busy
// reports that another process holds it. Windows locks are mandatory for
// the bytes they cover, so the lock is on one byte at 4 GiB, far past the
// holder's pid that a refused opener reads from the start of the file.
func lockFile(f *os.File) (busy bool, err error) {
	ol := windows.Overlapped{OffsetHigh: 1}
	err = windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	return errors.Is(err, windows.ERROR_LOCK_VIOLATION), err
}
