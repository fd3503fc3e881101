//go:build !windows

package dirsync

func syncDir(dir string) error { return openAndSync(dir) }
