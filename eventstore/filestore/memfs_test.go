package filestore

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/epochledger/epochledger/eventstore"
)

// memFS is an in-memory FS that knows which bytes are durable and can
// inject faults: it models a disk whose fsynced content survives a crash
// and whose unsynced tail survives only in part.
type memFS struct {
	mu     sync.Mutex
	files  map[string]*memNode
	dirs   map[string]bool
	locked map[string]bool

	// Faults, checked on every write or sync.
	writeBudget int64 // bytes that may still be written; <0 = unlimited
	budgetErr   error // returned by the write that exhausts the budget (nil: short write)
	failSync    error // returned by every Sync while set
	writes      int64 // bytes written so far
}

type memNode struct {
	data    []byte
	durable []byte // content as of the last Sync
}

func newMemFS() *memFS {
	return &memFS{files: map[string]*memNode{}, dirs: map[string]bool{}, locked: map[string]bool{}, writeBudget: -1}
}

// crashCopy returns the disk as a crash leaves it: every file holds its
// durable content plus the first keep bytes of what was written after its
// last fsync (keep < 0: all of it, as after a process kill).
func (m *memFS) crashCopy(keep int64) *memFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := newMemFS()
	for d := range m.dirs {
		c.dirs[d] = true
	}
	for name, n := range m.files {
		data := append([]byte(nil), n.durable...)
		if strings.HasPrefix(string(n.data), string(n.durable)) {
			extra := n.data[len(n.durable):]
			if keep >= 0 && int64(len(extra)) > keep {
				extra = extra[:keep]
			}
			data = append(data, extra...)
		}
		c.files[name] = &memNode{data: data, durable: append([]byte(nil), data...)}
	}
	return c
}

type memFile struct {
	fs     *memFS
	name   string
	node   *memNode
	append bool
	rd     int64
	closed bool
}

func (m *memFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.files[name]
	if !ok {
		if flag&os.O_CREATE == 0 {
			return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
		}
		n = &memNode{}
		m.files[name] = n
	}
	if flag&os.O_TRUNC != 0 {
		n.durable = append([]byte(nil), n.durable...)
		n.data = n.data[:0]
	}
	return &memFile{fs: m, name: name, node: n, append: flag&os.O_APPEND != 0}, nil
}

func (m *memFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[name]; !ok {
		return &os.PathError{Op: "remove", Path: name, Err: os.ErrNotExist}
	}
	delete(m.files, name)
	return nil
}

func (m *memFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.files[oldname]
	if !ok {
		return &os.PathError{Op: "rename", Path: oldname, Err: os.ErrNotExist}
	}
	delete(m.files, oldname)
	m.files[newname] = n
	return nil
}

func (m *memFS) MkdirAll(dir string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dirs[filepath.Clean(dir)] = true
	return nil
}

func (m *memFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir = filepath.Clean(dir)
	if !m.dirs[dir] {
		return nil, &os.PathError{Op: "open", Path: dir, Err: os.ErrNotExist}
	}
	var out []string
	for name := range m.files {
		if filepath.Dir(name) == dir {
			out = append(out, filepath.Base(name))
		}
	}
	sort.Strings(out)
	return out, nil
}

func (m *memFS) SyncDir(dir string) error { return nil }

type memLock struct {
	fs   *memFS
	name string
}

func (l memLock) Close() error {
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	delete(l.fs.locked, l.name)
	return nil
}

func (m *memFS) Lock(name string) (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locked[name] {
		return nil, eventstore.ErrLocked
	}
	m.locked[name] = true
	return memLock{m, name}, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	n := len(p)
	var err error
	if f.fs.writeBudget >= 0 && int64(n) > f.fs.writeBudget {
		n = int(f.fs.writeBudget)
		err = f.fs.budgetErr
	}
	if f.fs.writeBudget >= 0 {
		f.fs.writeBudget -= int64(n)
	}
	f.node.data = append(f.node.data, p[:n]...)
	f.fs.writes += int64(n)
	return n, err
}

func (f *memFile) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.rd)
	f.rd += int64(n)
	return n, err
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.fs.failSync != nil {
		return f.fs.failSync
	}
	// Share the bytes instead of copying them (Truncate copies when it
	// would overwrite them): appends never touch what is already written.
	f.node.durable = f.node.data[:len(f.node.data):len(f.node.data)]
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if size > int64(len(f.node.data)) {
		return errors.New("memfs: truncate beyond end")
	}
	if size < int64(len(f.node.durable)) {
		f.node.durable = append([]byte(nil), f.node.durable...)
	}
	f.node.data = f.node.data[:size]
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return int64(len(f.node.data)), nil
}

func (f *memFile) Close() error { return nil }

var errENOSPC = &os.PathError{Op: "write", Path: "segment", Err: syscall.ENOSPC}
