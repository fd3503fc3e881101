package filestore

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
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
	// failOpen and failWrite, when set, may refuse an OpenFile or a write
	// (nothing is written) with the error they return.
	failOpen  func(name string, flag int) error
	failWrite func(name string, off int64, p []byte) error
}

type memNode struct {
	data    []byte
	durable []byte  // content as of the last Sync
	pending []memOp // changes since the last Sync, in the order made
}

// memOp is a change not yet synced: bytes written at off, or (trunc) the
// file cut or extended to off.
type memOp struct {
	off   int64
	data  []byte
	trunc bool
}

func newMemFS() *memFS {
	return &memFS{files: map[string]*memNode{}, dirs: map[string]bool{}, locked: map[string]bool{}, writeBudget: -1}
}

// crashCopy returns the disk as a crash leaves it: every file holds its
// durable content with the first keep bytes of the writes made after its
// last fsync applied in order (keep < 0: all of them, as after a process
// kill).
func (m *memFS) crashCopy(keep int64) *memFS {
	return m.crash(func() func(memOp, func(int64, []byte)) bool {
		left := keep
		return func(op memOp, apply func(off int64, b []byte)) bool {
			n := int64(len(op.data))
			if left >= 0 && n > left {
				n = left
			}
			apply(op.off, op.data[:n])
			if left >= 0 {
				left -= n
				return left > 0
			}
			return true
		}
	})
}

// crashSectors returns the disk as a power cut may leave it when the
// device persists unsynced writes in any order: each 512-byte sector an
// unsynced write touched holds its new bytes or its old ones, as keep
// decides.
func (m *memFS) crashSectors(keep func() bool) *memFS {
	return m.crash(func() func(memOp, func(int64, []byte)) bool { return sectorsKept(keep) })
}

func sectorsKept(keep func() bool) func(memOp, func(int64, []byte)) bool {
	return func(op memOp, apply func(off int64, b []byte)) bool {
		for start := int64(0); start < int64(len(op.data)); {
			end := min((op.off+start)/512*512+512-op.off, int64(len(op.data)))
			if keep() {
				apply(op.off+start, op.data[start:end])
			}
			start = end
		}
		return true
	}
}

// crash builds the image of every file from its durable content and the
// part of each unsynced write that the file's writer (from perFile)
// applies; a writer returns false to stop applying the file's later
// changes. Truncations before that point are kept.
func (m *memFS) crash(perFile func() func(op memOp, apply func(off int64, b []byte)) bool) *memFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := newMemFS()
	for d := range m.dirs {
		c.dirs[d] = true
	}
	for name, n := range m.files {
		data := append([]byte(nil), n.durable...)
		apply := func(off int64, b []byte) {
			if end := off + int64(len(b)); end > int64(len(data)) {
				data = resize(data, end)
			}
			copy(data[off:], b)
		}
		write := perFile()
		for _, op := range n.pending {
			if op.trunc {
				data = resize(data, op.off)
				continue
			}
			if !write(op, apply) {
				break
			}
		}
		c.files[name] = &memNode{data: data, durable: append([]byte(nil), data...)}
	}
	return c
}

// resize cuts b to n bytes or extends it with zeros.
func resize(b []byte, n int64) []byte {
	if n <= int64(len(b)) {
		return b[:n]
	}
	return append(b, make([]byte, n-int64(len(b)))...)
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
	if m.failOpen != nil {
		if err := m.failOpen(name, flag); err != nil {
			return nil, err
		}
	}
	n, ok := m.files[name]
	if !ok {
		if flag&os.O_CREATE == 0 {
			return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
		}
		n = &memNode{}
		m.files[name] = n
	}
	if flag&os.O_TRUNC != 0 {
		n.truncate(0)
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
	return f.writeAt(p, int64(len(f.node.data)))
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if f.append {
		return 0, errors.New("memfs: WriteAt on a file opened with O_APPEND")
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return f.writeAt(p, off)
}

// writeAt writes p at off (extending the file with zeros up to off),
// charging the fault budget.
func (f *memFile) writeAt(p []byte, off int64) (int, error) {
	if f.fs.failWrite != nil {
		if err := f.fs.failWrite(f.name, off, p); err != nil {
			return 0, err
		}
	}
	n := len(p)
	var err error
	if f.fs.writeBudget >= 0 && int64(n) > f.fs.writeBudget {
		n = int(f.fs.writeBudget)
		err = f.fs.budgetErr
	}
	if f.fs.writeBudget >= 0 {
		f.fs.writeBudget -= int64(n)
	}
	nd := f.node
	if off < int64(len(nd.durable)) {
		// durable may share data's bytes (see Sync): copy before overwriting.
		nd.durable = append([]byte(nil), nd.durable...)
	}
	if end := off + int64(n); end > int64(len(nd.data)) {
		nd.data = resize(nd.data, end)
	}
	copy(nd.data[off:], p[:n])
	nd.pending = append(nd.pending, memOp{off: off, data: append([]byte(nil), p[:n]...)})
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
	// Share the bytes instead of copying them (writes below the durable
	// length copy them first): appends never touch what is already written.
	f.node.durable = f.node.data[:len(f.node.data):len(f.node.data)]
	f.node.pending = nil
	return nil
}

// Datasync is Sync: the model keeps no file times.
func (f *memFile) Datasync() error { return f.Sync() }

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.node.truncate(size)
	return nil
}

// truncate cuts or extends the file to size, as an unsynced change.
func (nd *memNode) truncate(size int64) {
	if size < int64(len(nd.durable)) {
		nd.durable = append([]byte(nil), nd.durable...)
	}
	if size > int64(len(nd.data)) {
		nd.data = resize(nd.data, size)
	} else {
		// Fresh bytes if the file grows again: the cut ones may be durable.
		nd.data = append([]byte(nil), nd.data[:size]...)
	}
	nd.pending = append(nd.pending, memOp{off: size, trunc: true})
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return int64(len(f.node.data)), nil
}

func (f *memFile) Close() error { return nil }

var errENOSPC = &os.PathError{Op: "write", Path: "segment", Err: syscall.ENOSPC}
