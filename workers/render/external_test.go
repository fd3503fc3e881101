package render

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSplitArgs(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"blender -b {scene} -f {frame} -o {out}", []string{"blender", "-b", "{scene}", "-f", "{frame}", "-o", "{out}"}},
		{"  a\t b  ", []string{"a", "b"}},
		{`a 'b c' "d e" f'g h'i`, []string{"a", "b c", "d e", "fg hi"}},
		{`'it''s' "say \"hi\" \\ \n"`, []string{"its", `say "hi" \ \n`}},
		{`a\ b '' ""`, []string{"a b", "", ""}},
		{`'$HOME' *.png ; |`, []string{"$HOME", "*.png", ";", "|"}},
		{"", nil},
	}
	for _, c := range cases {
		got, err := SplitArgs(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("SplitArgs(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`a 'b`, `a "b`, `"a\"`} {
		if _, err := SplitArgs(bad); err == nil {
			t.Errorf("SplitArgs(%q) accepted", bad)
		}
	}
}

func TestRunExternalCopies(t *testing.T) {
	cp, err := exec.LookPath("cp")
	if err != nil {
		t.Skip("no cp")
	}
	dir := t.TempDir()
	// A scene path with a space and a quote: substitution happens after
	// splitting, so it stays one argument.
	scene := filepath.Join(dir, "my scene's.blend")
	want := mustRender(t, Scene{Seed: 9, Width: 8, Height: 8}, 0)
	writeFile(t, scene, want)
	out := filepath.Join(dir, "out {frame}.png")
	writeFile(t, out, []byte("stale")) // must be removed before running

	got, err := RunExternal(context.Background(), cp+" -- {scene} '{out}'", scene, 12, out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("RunExternal returned different bytes")
	}
}

func TestRunExternalPlaceholders(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "o.txt")
	// sh is only the renderer under test here; RunExternal itself runs no shell.
	tmpl := sh + ` -c 'printf "%s|%s|%s|%s" "$1" "$2" "$3" "$4" > "$5"' renderer {scene} {frame} {width}x{height} "f={frame}" {out}`
	got, err := RunExternalJob(context.Background(), ExternalJob{Template: tmpl, Scene: "s {frame} $x", Frame: 42, Out: out, Width: 640, Height: 480})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "s {frame} $x|42|640x480|f=42" {
		t.Fatalf("got %q", got)
	}
	if _, err := RunExternal(context.Background(), "true {width}", "s", 1, out); err == nil {
		t.Error("{width} without a size accepted")
	}
}

func TestRunExternalErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.png")
	if _, err := RunExternal(context.Background(), "", "s", 0, out); err == nil {
		t.Error("empty template accepted")
	}
	if _, err := RunExternal(context.Background(), "x", "s", 0, ""); err == nil {
		t.Error("empty out accepted")
	}
	if _, err := RunExternal(context.Background(), "/nonexistent/renderer {out}", "s", 0, out); err == nil {
		t.Error("missing program accepted")
	}
	if sh, err := exec.LookPath("sh"); err == nil {
		_, err := RunExternal(context.Background(), sh+` -c 'echo scene is broken >&2; exit 3'`, "s", 0, out)
		if err == nil || !strings.Contains(err.Error(), "scene is broken") || !strings.Contains(err.Error(), "exit status 3") {
			t.Errorf("failure error = %v", err)
		}
	}
	if tr, err := exec.LookPath("true"); err == nil {
		_, err := RunExternal(context.Background(), tr, "s", 0, out)
		if err == nil || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("no output: err = %v", err)
		}
	}
}

func TestRunExternalCancel(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = RunExternal(ctx, sleep+" 30", "s", 0, filepath.Join(t.TempDir(), "o"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancel took %v", d)
	}
}
