package durable

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// onlyEntries fails when dir holds anything but names (a temporary file
// left behind).
func onlyEntries(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != len(names) {
		t.Fatalf("%s holds %v, want only %v", dir, ents, names)
	}
	for i, e := range ents {
		if e.Name() != names[i] {
			t.Fatalf("%s holds %v, want only %v", dir, ents, names)
		}
	}
}

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "f")
	if err := WriteFile(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, p); got != "two" {
		t.Fatalf("content %q, want two", got)
	}
	onlyEntries(t, filepath.Dir(p), "f")
}

// WriteFilePerm sets the mode it is given, also over an existing file of
// another mode.
func TestWriteFilePerm(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "key")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFilePerm(p, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || readString(t, p) != "secret" {
		t.Fatalf("mode %v content %q, want 0600 secret", st.Mode().Perm(), readString(t, p))
	}
	onlyEntries(t, dir, "key")
}

// CreateFile makes a new file with its mode, and refuses an existing one
// with fs.ErrExist, leaving it as it was.
func TestCreateFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "key")
	if err := CreateFile(p, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || readString(t, p) != "first" {
		t.Fatalf("mode %v content %q", st.Mode().Perm(), readString(t, p))
	}
	err = CreateFile(p, []byte("second"), 0o600)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second create: %v, want fs.ErrExist", err)
	}
	if got := readString(t, p); got != "first" {
		t.Fatalf("refused create changed the file: %q", got)
	}
	onlyEntries(t, dir, "key")
	if err := CreateFile(filepath.Join(dir, "missing", "key"), []byte("x"), 0o600); err == nil {
		t.Fatal("create in a missing directory succeeded")
	}
}
