package durable

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(dir); err != nil {
		t.Fatalf("SyncDir(%s): %v", dir, err)
	}
	err := SyncDir(filepath.Join(dir, "missing"))
	if runtime.GOOS != "windows" && !os.IsNotExist(err) {
		t.Fatalf("Sync of a missing directory: %v, want a not-exist error", err)
	}
}
