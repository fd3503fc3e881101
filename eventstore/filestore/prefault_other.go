//go:build !linux

package filestore

// prefault does nothing where MADV_POPULATE_WRITE is not offered.
func prefault[T any]([]T) {}
