package durable

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data durably, creating its directory if needed.
func WriteFile(path string, data []byte) error {
	return WriteFunc(path, writeAll(data))
}

// WriteFunc replaces path durably with what write writes (buffered): for
// files too large to build in memory first. If write fails, path is left
// as it was.
func WriteFunc(path string, write func(w io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	return commit(f, dir, write, func() error { return os.Rename(tmp, path) })
}

// WriteFilePerm replaces path with data durably, as WriteFile does, with
// the permission bits perm (0600 for a private key) whatever the umask. Its
// temporary file is private to the call and created with mode 0600, so the
// data is never readable by others on the way, and two writers of the same
// path never share one.
func WriteFilePerm(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := tempFile(dir, path, perm)
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // nothing left after the rename
	return commit(f, dir, writeAll(data), func() error { return os.Rename(tmp, path) })
}

// CreateFile writes data durably to path with the permission bits perm,
// as WriteFilePerm does, but only where path does not exist yet: when it
// exists, or appears while the data is written, it returns an error for
// which errors.Is(err, fs.ErrExist) holds and leaves path as it is (the
// temporary file is linked into place, which fails where a rename would
// replace).
func CreateFile(path string, data []byte, perm fs.FileMode) error {
	if _, err := os.Lstat(path); err == nil {
		return &fs.PathError{Op: "create", Path: path, Err: fs.ErrExist}
	}
	dir := filepath.Dir(path)
	f, err := tempFile(dir, path, perm)
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // the link keeps the data under path
	return commit(f, dir, writeAll(data), func() error {
		err := os.Link(tmp, path)
		var le *os.LinkError
		if errors.As(err, &le) && errors.Is(le.Err, fs.ErrExist) {
			return &fs.PathError{Op: "create", Path: path, Err: fs.ErrExist}
		}
		return err
	})
}

func writeAll(data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}
}

// tempFile creates a temporary file for path in dir, with mode perm.
func tempFile(dir, path string, perm fs.FileMode) (*os.File, error) {
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// commit fills f through a buffer, fsyncs and closes it, puts it in place
// and syncs dir. On a failure before put, f is removed.
func commit(f *os.File, dir string, write func(io.Writer) error, put func() error) error {
	bw := bufio.NewWriterSize(f, 1<<20)
	err := write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := put(); err != nil {
		return err
	}
	return SyncDir(dir)
}
