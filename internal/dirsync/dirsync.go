// Package dirsync makes a directory's entries durable: after a file is
// created in it or renamed into it, the new name survives a crash only
// once the directory itself is synced.
package dirsync

// Sync makes the entries of dir (creations, renames) durable. On Windows
// it does nothing: a directory cannot be synced there (FlushFileBuffers
// refuses a directory handle) and NTFS journals its own entries.
func Sync(dir string) error { return syncDir(dir) }
