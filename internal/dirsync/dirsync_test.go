package dirsync

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestSync(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Sync(dir); err != nil {
		t.Fatalf("Sync(%s): %v", dir, err)
	}
	err := Sync(filepath.Join(dir, "missing"))
	if runtime.GOOS != "windows" && !os.IsNotExist(err) {
		t.Fatalf("Sync of a missing directory: %v, want a not-exist error", err)
	}
}
