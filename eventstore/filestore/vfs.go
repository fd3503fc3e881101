package filestore

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/internal/durable"
)

// FS is the file system the store runs on. The default is the operating
// system's; tests substitute one that injects short writes, fsync failures,
// ENOSPC and crashes at any byte.
type FS interface {
	// OpenFile opens name like os.OpenFile.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	Rename(oldname, newname string) error
	MkdirAll(dir string, perm os.FileMode) error
	// List returns the names of the entries of dir, sorted.
	List(dir string) ([]string, error)
	// SyncDir makes the entries of dir (creations, renames) durable.
	SyncDir(dir string) error
	// Lock takes an exclusive lock on name for this process, failing at
	// once if another holds it.
	Lock(name string) (io.Closer, error)
}

// File is an open file of an FS.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Closer
	Sync() error
	// Datasync is fdatasync(2): the file's data and the metadata needed to
	// read it back (its size) are made durable, not its times. Overwriting
	// bytes already on disk then needs no file-system journal commit.
	Datasync() error
	Truncate(size int64) error
	Size() (int64, error)
}

// OSFS is the operating system's file system.
type OSFS struct{}

type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (OSFS) Remove(name string) error                    { return os.Remove(name) }
func (OSFS) Rename(oldname, newname string) error        { return os.Rename(oldname, newname) }
func (OSFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

func (OSFS) List(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

func (OSFS) SyncDir(dir string) error { return durable.SyncDir(dir) }

// Lock takes an operating-system lock that is released when the process
// dies (flock(2), or LockFileEx on Windows: see lockFile), so a crashed
// process never leaves a stale lock behind. The holder's pid is written
// into the file to make the "locked" error useful.
func (OSFS) Lock(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if busy, err := lockFile(f); err != nil {
		holder, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		if busy {
			who := strings.TrimSpace(string(holder))
			if who != "" {
				who = " (pid " + who + ")"
			}
			return nil, fmt.Errorf("%w: %s is held by another process%s; stop it or use another --data directory", eventstore.ErrLocked, filepath.Dir(name), who)
		}
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}
