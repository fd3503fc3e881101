// Package durable is the one home of crash-safe file writing: WriteFile and
// WriteFunc replace a whole file so that a crash leaves either the old file
// or the new one, never a mix (temporary file, fsync, rename, fsync of the
// directory), and SyncDir makes a directory's entries durable (after a file
// is created in it or renamed into it, the new name survives a crash only
// once the directory itself is synced).
package durable

// SyncDir makes the entries of dir (creations, renames) durable. On Windows
// it does nothing: a directory cannot be synced there (FlushFileBuffers
// refuses a directory handle) and NTFS journals its own entries.
func SyncDir(dir string) error { return syncDir(dir) }
