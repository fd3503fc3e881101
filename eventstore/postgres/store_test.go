//go:build unix

package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/eventstoretest"
	"github.com/epochledger/epochledger/internal/pgcluster"
)

// The tests start their own servers (internal/pgcluster): a primary with
// a synchronous standby where replication matters, a lone primary where
// it does not. They fail, never skip, when a server cannot start.

func openT(t *testing.T, url string, opts *Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func schemaURL(url, schema string) string { return url + "&schema=" + schema }

// TestConformance runs the eventstore contract on a primary whose every
// commit waits for its synchronous standby.
func TestConformance(t *testing.T) {
	c := pgcluster.Start(t, true)
	url := schemaURL(c.URL(), "conformance")
	open := func(t *testing.T) eventstore.Store {
		s, err := Open(context.Background(), url, nil)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	}
	eventstoretest.Run(t, eventstoretest.Harness{
		New: open,
		Reopen: func(t *testing.T, s eventstore.Store) eventstore.Store {
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return open(t)
		},
		GapFree: true,
	})
	s := openT(t, url, nil)
	rep, err := s.Verify(context.Background(), nil)
	if err != nil || !rep.OK() {
		t.Fatalf("after the suite: verify %+v %v", rep.Problem, err)
	}
}

// TestSchemaVersioned: the backend creates its tables itself, records the
// version, and refuses a log written by a newer version.
func TestSchemaVersioned(t *testing.T) {
	c := pgcluster.Start(t, false)
	url := schemaURL(c.Primary.URL(), "versioned")
	s := openT(t, url, nil)
	if _, err := s.Append(context.Background(), "a", eventstore.NoStream(), eventstoretest.Events(1)...); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openT(t, url, nil) // reopening an existing schema
	s.Close()
	exec(t, c.Primary.URL(), `UPDATE versioned.meta SET value = '99' WHERE key = 'schema_version'`)
	if _, err := Open(context.Background(), url, nil); err == nil || !strings.Contains(err.Error(), "version 99") {
		t.Fatalf("open of a newer schema: %v, want a refusal naming version 99", err)
	}
}

func exec(t *testing.T, url, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestDataByteForByte: data is bytea and comes back as written, whatever
// its bytes; text fields that a text column cannot hold are refused,
// naming the event and the field, and nothing is stored.
func TestDataByteForByte(t *testing.T) {
	c := pgcluster.Start(t, false)
	s := openT(t, schemaURL(c.Primary.URL(), "bytes"), nil)
	ctx := context.Background()
	all := make([]byte, 512)
	for i := range all {
		all[i] = byte(i)
	}
	evs := []eventstore.EventData{
		{ID: eventstoretest.NewID(), Type: "Bin", Data: all},
		{ID: eventstoretest.NewID(), Type: "Empty", Data: nil},
		{ID: eventstoretest.NewID(), Type: "JSON", Time: "2024-01-02T03:04:05.123456789+01:00", Data: []byte("{ \"b\": 1,\n  \"a\" : \"\\u00e9\" }  ")},
	}
	if _, err := s.Append(ctx, "bytes", eventstore.NoStream(), evs...); err != nil {
		t.Fatal(err)
	}
	i := 0
	err := s.ReadStream(ctx, "bytes", 0, func(e *eventstore.RecordedEvent) error {
		if string(e.Data) != string(evs[i].Data) || e.Time != evs[i].Time || e.Type != evs[i].Type {
			t.Errorf("event %d: data %q time %q, want %q %q", i, e.Data, e.Time, evs[i].Data, evs[i].Time)
		}
		i++
		return nil
	})
	if err != nil || i != 3 {
		t.Fatalf("read %d events: %v", i, err)
	}
	for _, bad := range []eventstore.EventData{
		{ID: eventstoretest.NewID(), Type: "Nul\x00"},
		{ID: eventstoretest.NewID(), Type: "X", Time: "\xff\xfe"},
	} {
		_, err := s.Append(ctx, "bytes", eventstore.Any(), bad)
		if !errors.Is(err, eventstore.ErrInvalidEvent) || !strings.Contains(err.Error(), bad.ID) {
			t.Fatalf("append of %q: %v, want ErrInvalidEvent naming the event", bad.Type, err)
		}
	}
	if h, _ := s.Head(ctx); h != 3 {
		t.Fatalf("head %d after refused appends, want 3", h)
	}
}

// TestVerifyFindsTampering alters, deletes, renumbers and reorders rows
// behind the store's back; Verify names the first bad row each time.
func TestVerifyFindsTampering(t *testing.T) {
	c := pgcluster.Start(t, false)
	ctx := context.Background()
	cases := []struct {
		name string
		sql  string
		want uint64 // first bad position
	}{
		{"altered", `UPDATE %s.events SET data = '{"i":99}' WHERE position = 7`, 7},
		{"deleted", `DELETE FROM %s.events WHERE position = 5`, 5},
		{"deleted_renumbered", `DELETE FROM %[1]s.events WHERE position = 5; UPDATE %[1]s.events SET position = position + 1000 WHERE position > 5; UPDATE %[1]s.events SET position = position - 1001 WHERE position > 1000`, 5},
		{"reordered", `UPDATE %[1]s.events SET position = position + 1000 WHERE position IN (8, 9); UPDATE %[1]s.events SET position = 1017 - position WHERE position > 1000`, 8},
		{"last_altered", `UPDATE %s.events SET type = 'Other' WHERE position = 12`, 12},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			schema := "tamper_" + tc.name
			s := openT(t, schemaURL(c.Primary.URL(), schema), nil)
			for i := 0; i < 4; i++ {
				for _, st := range []string{"a", "b", "c"} {
					if _, err := s.Append(ctx, st, eventstore.Any(), eventstoretest.Events(1)...); err != nil {
						t.Fatal(err)
					}
				}
			}
			rep, err := s.Verify(ctx, nil)
			if err != nil || !rep.OK() || rep.Events != 12 {
				t.Fatalf("intact log: %+v %v", rep, err)
			}
			// The reorder swaps two rows of different streams (8 is b, 9 is c).
			exec(t, c.Primary.URL(), fmt.Sprintf(tc.sql, schema))
			rep, err = s.Verify(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() || rep.Problem.Position != tc.want {
				t.Fatalf("verify after %s: %+v, want the problem at position %d", tc.name, rep.Problem, tc.want)
			}
			t.Logf("%s: %s", tc.name, rep.Problem.Reason)
		})
	}
}

// TestTwoStoresShareLog: two stores on one database, as two processes
// are, append concurrently; the table lock keeps positions gap-free and
// the chain whole, and ids stay idempotent across them.
func TestTwoStoresShareLog(t *testing.T) {
	c := pgcluster.Start(t, false)
	url := schemaURL(c.Primary.URL(), "shared")
	a, b := openT(t, url, nil), openT(t, url, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			s := a
			if w%2 == 1 {
				s = b
			}
			for i := 0; i < 25; i++ {
				if _, err := s.Append(ctx, fmt.Sprintf("w%d", w), eventstore.Any(), eventstoretest.Events(1+i%3)...); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := uint64(0)
	for i := 0; i < 25; i++ {
		want += 16 * uint64(1+i%3)
	}
	evs := eventstoretest.Events(2)
	r1, err := a.Append(ctx, "retry", eventstore.NoStream(), evs...)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := b.Append(ctx, "retry", eventstore.NoStream(), evs...)
	if err != nil || !r2.Duplicate || r2.FirstPosition != r1.FirstPosition {
		t.Fatalf("retry through the other store: %+v %v (first %+v)", r2, err, r1)
	}
	rep, err := a.Verify(ctx, nil)
	if err != nil || !rep.OK() || rep.Events != want+2 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

// TestGroupCommit: 64 concurrent appenders share transactions (one WAL
// flush and one standby round trip for many appends).
func TestGroupCommit(t *testing.T) {
	c := pgcluster.Start(t, true)
	s := openT(t, schemaURL(c.URL(), "group"), nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if _, err := s.Append(ctx, fmt.Sprintf("g%d", w), eventstore.Any(), eventstoretest.Events(1)...); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	st := s.Stats()
	t.Logf("%d events in %d commits (%.1f per commit)", st.Events, st.Commits, float64(st.Events)/float64(st.Commits))
	if st.Events != 64*20 || st.Commits*2 > st.Events {
		t.Fatalf("stats %+v: want 1280 events in at most 640 commits", st)
	}
}

// TestSubscribeWokenByNotify: a subscription on one store sees what
// another store appends, woken by NOTIFY (its poll is an hour).
func TestSubscribeWokenByNotify(t *testing.T) {
	c := pgcluster.Start(t, false)
	url := schemaURL(c.Primary.URL(), "notify")
	opts := DefaultOptions()
	opts.PollInterval = time.Hour
	reader, writer := openT(t, url, opts), openT(t, url, nil)
	ctx := context.Background()
	if _, err := writer.Append(ctx, "n", eventstore.NoStream(), eventstoretest.Events(3)...); err != nil {
		t.Fatal(err)
	}
	sub, err := reader.Subscribe(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	got := 0
	deadline := time.After(60 * time.Second)
	for got < 10 {
		select {
		case e, ok := <-sub.C():
			if !ok {
				t.Fatalf("subscription ended: %v", sub.Err())
			}
			got++
			if e.Position != uint64(got) {
				t.Fatalf("event %d at position %d", got, e.Position)
			}
			if got == 3 {
				go func() {
					for i := 0; i < 7; i++ {
						if _, err := writer.Append(ctx, "n", eventstore.Any(), eventstoretest.Events(1)...); err != nil {
							t.Error(err)
						}
					}
				}()
			}
		case <-deadline:
			t.Fatalf("got %d of 10 events", got)
		}
	}
}
