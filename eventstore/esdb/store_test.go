package esdb

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/eventstoretest"
)

// harness opens stores on the server at url.
func harness(url string, mod func(o *Options)) eventstoretest.Harness {
	open := func(t *testing.T) eventstore.Store {
		t.Helper()
		o := DefaultOptions()
		if mod != nil {
			mod(o)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := Open(ctx, url, o)
		if err != nil {
			t.Fatalf("Open(%s): %v", Redact(url), err)
		}
		return s
	}
	return eventstoretest.Harness{
		New: open,
		Reopen: func(t *testing.T, s eventstore.Store) eventstore.Store {
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return open(t)
		},
		GapFree: false, // positions are byte offsets in the server's log
	}
}

// TestConformance runs the eventstore conformance suite against a real
// EventStoreDB / KurrentDB, e.g.
//
//	EPOCHLEDGER_ESDB_URL='esdb://localhost:2113?tls=false' go test ./eventstore/esdb/
//
// The suite names its streams uniquely, so a shared server will do.
func TestConformance(t *testing.T) {
	url := os.Getenv("EPOCHLEDGER_ESDB_URL")
	if url == "" {
		t.Skip("EPOCHLEDGER_ESDB_URL not set: skipping the EventStoreDB conformance suite (no server on this machine)")
	}
	eventstoretest.Run(t, harness(url, nil))
}

// TestConformanceFakeServer runs the suite through the real client library
// against the in-process fake of the Streams service (fakeserver_test.go).
func TestConformanceFakeServer(t *testing.T) {
	f := startFake(t)
	eventstoretest.Run(t, harness(f.url(), nil))
}

// Without caught-up messages (servers before 23.10), ReadAll must stop at
// the head it found.
func TestConformanceFakeServerNoCaughtUp(t *testing.T) {
	f := startFake(t)
	f.set(func(f *fakeServer) { f.caughtUp = false })
	eventstoretest.Run(t, harness(f.url(), nil))
}

// With a stream prefix the server filters on the stream name.
func TestConformanceFakeServerStreamPrefix(t *testing.T) {
	f := startFake(t)
	// Another tenant's events must stay invisible.
	f.set(func(f *fakeServer) { f.write("other-x", "TestEvent", []byte(`{}`)) })
	eventstoretest.Run(t, harness(f.url(), func(o *Options) { o.StreamPrefix = "tenant1/" }))
}
