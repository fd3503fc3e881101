package main

import (
	"bytes"
	"testing"

	"github.com/epochledger/epochledger/domain"
)

// FuzzImportParse feeds arbitrary files to import's parser: it must never
// panic, and every line it accepts must survive export's encoding and be
// parsed back to the same event, data byte for byte.
func FuzzImportParse(f *testing.F) {
	var buf bytes.Buffer
	if err := week().WriteJSONL(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte("{}\n"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, file []byte) {
		lines, err := parseImport(bytes.NewReader(file), "fuzz.jsonl")
		if err != nil {
			return
		}
		for _, l := range lines {
			back, err := domain.ParseEnvelope(l.env.AppendJSON(nil))
			if err != nil {
				t.Fatalf("line %d: its export does not parse: %v", l.n, err)
			}
			if back.ID != l.env.ID || back.Type != l.env.Type || back.Stream != l.env.Stream || back.Time != l.env.Time || !bytes.Equal(back.Data, l.env.Data) {
				t.Fatalf("line %d changed through export", l.n)
			}
		}
	})
}
