package projections

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/epochledger/epochledger/domain"
)

// TestGoldenEpochs folds the golden logs under testdata/golden and compares
// every closed epoch's shares document, byte for byte, with the one the
// independent exact-fraction calculation in testdata/golden/expect.py wrote
// (design-example is DESIGN.md's worked example: E = 10, three equal
// operators → 4, 3, 3).
func TestGoldenEpochs(t *testing.T) {
	logs, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.jsonl"))
	if len(logs) == 0 {
		t.Fatal("no golden logs")
	}
	for _, path := range logs {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			l := New(Config{})
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for pos := uint64(1); sc.Scan(); pos++ {
				env, err := domain.ParseEnvelope(sc.Bytes())
				if err != nil {
					t.Fatal(err)
				}
				ev, err := env.Event()
				if err != nil {
					t.Fatal(err)
				}
				if err := l.Check(env.Time, ev); err != nil {
					t.Fatalf("line %d refused: %v", pos, err)
				}
				l.Apply(pos, ev)
			}
			if err := l.Audit(); err != nil {
				t.Fatal(err)
			}
			for n := uint64(1); n <= l.ClosedEpochs(); n++ {
				want, err := os.ReadFile(strings.TrimSuffix(path, ".jsonl") + ".epoch" + itoa(n) + ".json")
				if err != nil {
					t.Fatal(err)
				}
				doc, _, err := l.Shares(n)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := json.Marshal(doc)
				if string(got)+"\n" != string(want) {
					t.Fatalf("epoch %d:\n got %s\nwant %s", n, got, want)
				}
			}
		})
	}
}

func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
