package filestore

import (
	"testing"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/eventstoretest"
)

func TestConformance(t *testing.T) {
	dirs := map[eventstore.Store]string{}
	eventstoretest.Run(t, eventstoretest.Harness{
		GapFree: true,
		New: func(t *testing.T) eventstore.Store {
			dir := t.TempDir()
			s, err := Open(dir, &Options{SegmentSize: 4096})
			if err != nil {
				t.Fatal(err)
			}
			dirs[s] = dir
			return s
		},
		Reopen: func(t *testing.T, old eventstore.Store) eventstore.Store {
			dir := dirs[old]
			if err := old.Close(); err != nil {
				t.Fatal(err)
			}
			s, err := Open(dir, &Options{SegmentSize: 4096})
			if err != nil {
				t.Fatal(err)
			}
			dirs[s] = dir
			return s
		},
	})
}
