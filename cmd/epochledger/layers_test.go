package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// floors is the house's layering (README, "Where the code lives"): a package may import
// packages of its own floor or lower ones, never a higher one, and
// internal/ holds only leaf helpers that import no other package of this
// module outside internal/. Test files are free: a lower package's tests
// may build logs with scenarios/simlog.
var floors = map[string]int{
	"internal":    0,
	"domain":      1,
	"eventstore":  2,
	"projections": 3,
	"settlement":  4,
	"workers":     5,
	"scenarios":   6,
	"cmd":         7,
}

const module = "github.com/epochledger/epochledger"

// TestImportLayers reads the imports of every non-test Go file of the
// module (all build tags, so a Windows-only file is held to the rule too)
// and fails on an import from a lower floor to a higher one.
func TestImportLayers(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		pkg := filepath.ToSlash(filepath.Dir(rel))
		top, _, _ := strings.Cut(pkg, "/")
		from, ok := floors[top]
		if !ok {
			t.Errorf("%s: top-level folder %q is not one of the house's floors", rel, top)
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		files++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			target, ok := strings.CutPrefix(p, module+"/")
			if !ok {
				continue
			}
			ttop, _, _ := strings.Cut(target, "/")
			to := floors[ttop]
			switch {
			case to > from:
				t.Errorf("%s imports %s: %s (floor %d) may not import %s (floor %d)", rel, p, top, from, ttop, to)
			case top == "internal" && ttop != "internal":
				t.Errorf("%s imports %s: internal/ holds leaf helpers only", rel, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("read only %d Go files under %s: is the walk looking in the right place?", files, root)
	}
}
