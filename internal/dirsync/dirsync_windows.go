package dirsync

func syncDir(string) error { return nil }
