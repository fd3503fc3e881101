//go:build !linux

package filestore

// Datasync falls back to fsync where fdatasync(2) is not offered.
func (f osFile) Datasync() error { return f.Sync() }
