package filestore

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// sleepFS is nullFS whose fdatasync blocks its thread in the kernel for a
// fixed time, as a disk's does, and keeps no bytes: the 64-writer commit
// cycle with a disk that never varies, to measure changes to the append
// path without the disk's noise (on the virtual disks measured so far a
// commit's fdatasync moved 2x within minutes).
type sleepFS struct {
	nullFS
	sync time.Duration
}

func (f sleepFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	file, err := f.nullFS.OpenFile(name, flag, perm)
	if nf, ok := file.(*nullFile); ok {
		return sleepFile{nf, f.sync}, err
	}
	return file, err
}

type sleepFile struct {
	*nullFile
	sync time.Duration
}

// Datasync sleeps in nanosleep(2), not in the Go scheduler, so that the
// flusher's thread leaves the runtime as it does in fdatasync(2).
func (f sleepFile) Datasync() error {
	ts := syscall.NsecToTimespec(int64(f.sync))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
	return nil
}

// BenchmarkConcurrent64Sleep is BenchmarkConcurrent64 with a 250 µs
// sleep for each fdatasync and no bytes written: its rest-us is the part
// of a commit cycle that is not the disk's.
func BenchmarkConcurrent64Sleep(b *testing.B) {
	fs := sleepFS{nullFS{newMemFS()}, 250 * time.Microsecond}
	s, err := Open("/log", &Options{FS: fs, SegmentSize: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	concurrent64(b, s)
	reportCommitCycle(b, s.Stats())
}
