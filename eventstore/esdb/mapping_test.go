package esdb

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/epochledger/epochledger/eventstore"
)

func TestExpectedRevisionMapping(t *testing.T) {
	cases := []struct {
		in        eventstore.ExpectedRevision
		want      esdbclient.ExpectedRevision
		slot      uint64
		slotFixed bool
	}{
		{eventstore.Any(), esdbclient.Any{}, 0, false},
		{eventstore.NoStream(), esdbclient.NoStream{}, 0, true},
		{eventstore.Exact(0), esdbclient.StreamRevision{Value: 0}, 1, true},
		{eventstore.Exact(41), esdbclient.StreamRevision{Value: 41}, 42, true},
	}
	for _, c := range cases {
		if got := toClientExpected(c.in); got != c.want {
			t.Errorf("toClientExpected(%s) = %#v, want %#v", c.in, got, c.want)
		}
		slot, fixed := slotStart(c.in)
		if slot != c.slot || fixed != c.slotFixed {
			t.Errorf("slotStart(%s) = %d %v, want %d %v", c.in, slot, fixed, c.slot, c.slotFixed)
		}
	}
}

func TestPositionMapping(t *testing.T) {
	if p, err := eventPosition(esdbclient.Position{Commit: 5120, Prepare: 5120}); err != nil || p != 5120 {
		t.Errorf("gRPC-written event: %d %v", p, err)
	}
	// Legacy explicit transaction: one commit position, distinct prepares.
	p1, _ := eventPosition(esdbclient.Position{Commit: 9000, Prepare: 8000})
	p2, _ := eventPosition(esdbclient.Position{Commit: 9000, Prepare: 8500})
	if p1 != 8000 || p2 != 8500 {
		t.Errorf("transaction events: %d %d, want their prepare positions", p1, p2)
	}
	for _, bad := range []esdbclient.Position{{}, {Commit: math.MaxUint64, Prepare: math.MaxUint64}, {Commit: math.MaxUint64, Prepare: 10}} {
		if _, err := eventPosition(bad); !errors.Is(err, ErrNoPosition) {
			t.Errorf("eventPosition(%+v): %v, want ErrNoPosition", bad, err)
		}
	}
}

func TestEventEncoding(t *testing.T) {
	s := &Store{filter: filter{streamPrefix: "t/"}, opts: Options{StreamPrefix: "t/"}}
	upper := "5F1B1A4E-9C1D-4C8E-8A55-2C7B3F0E9D11"
	evs := []eventstore.EventData{
		{ID: "5f1b1a4e-9c1d-4c8e-8a55-2c7b3f0e9d10", Type: "A", Time: "2024-01-02T03:04:05Z", Data: []byte(` {"a": 1} `)},
		{ID: upper, Type: "B", Time: "", Data: []byte{0, 1, 2}},
		{ID: "5f1b1a4e-9c1d-4c8e-8a55-2c7b3f0e9d12", Type: "C", Data: []byte(`[1,2]`)},
		{ID: "5f1b1a4e-9c1d-4c8e-8a55-2c7b3f0e9d13", Type: "D"},
	}
	p, err := s.prepare("job-1", evs)
	if err != nil {
		t.Fatal(err)
	}
	wantCT := []esdbclient.ContentType{esdbclient.ContentTypeJson, esdbclient.ContentTypeBinary, esdbclient.ContentTypeBinary, esdbclient.ContentTypeBinary}
	for i, d := range p.data {
		if d.ContentType != wantCT[i] {
			t.Errorf("event %d: content type %v, want %v", i, d.ContentType, wantCT[i])
		}
		if string(d.Data) != string(evs[i].Data) || d.EventType != evs[i].Type {
			t.Errorf("event %d: data or type changed", i)
		}
		var m eventMeta
		if err := json.Unmarshal(d.Metadata, &m); err != nil || m.Time != evs[i].Time {
			t.Errorf("event %d: metadata %s", i, d.Metadata)
		}
		// Read back as the server would return it.
		rec, err := s.convert(&esdbclient.RecordedEvent{EventID: d.EventID, EventType: d.EventType, StreamID: "t/job-1", EventNumber: uint64(i),
			Position: esdbclient.Position{Commit: 100 + uint64(i), Prepare: 100 + uint64(i)}, Data: d.Data, UserMetadata: d.Metadata})
		if err != nil {
			t.Fatal(err)
		}
		if rec.ID != evs[i].ID || rec.Time != evs[i].Time || rec.Stream != "job-1" || rec.Type != evs[i].Type || string(rec.Data) != string(evs[i].Data) || rec.Revision != uint64(i) || rec.Position != 100+uint64(i) {
			t.Errorf("event %d: round trip %+v", i, rec)
		}
	}
	if p.ids[1] != uuid.MustParse(upper) {
		t.Error("upper-case id is not the same UUID")
	}
	// The same UUID twice, spelled differently.
	_, err = s.prepare("job-1", []eventstore.EventData{{ID: upper, Type: "A"}, {ID: "5f1b1a4e-9c1d-4c8e-8a55-2c7b3f0e9d11", Type: "A"}})
	if !errors.Is(err, eventstore.ErrDuplicateID) {
		t.Errorf("same UUID twice: %v", err)
	}
	// Foreign events: metadata that is not ours.
	rec, err := s.convert(&esdbclient.RecordedEvent{EventID: p.ids[0], EventType: "X", StreamID: "t/x", Position: esdbclient.Position{Commit: 1, Prepare: 1}, UserMetadata: []byte("garbage")})
	if err != nil || rec.ID != p.ids[0].String() || rec.Time != "" {
		t.Errorf("foreign event: %+v %v", rec, err)
	}
}

func TestFilterPredicates(t *testing.T) {
	plain := filter{chainStream: ChainStreamName}
	cases := []struct {
		stream, typ string
		want        bool
	}{
		{"job-1", "FrameAccepted", true},
		{"job-1", "$metadata", false},
		{"$users", "UserCreated", false},
		{"$$job-1", "$metadata", false},
		{ChainStreamName, ChainCheckpointType, false},
	}
	for _, c := range cases {
		if got := plain.visible(c.stream, c.typ, false); got != c.want {
			t.Errorf("visible(%q, %q) = %v", c.stream, c.typ, got)
		}
	}
	if f := plain.server(false); f.Type != esdbclient.EventFilterType || f.Regex != `^[^\$].*` {
		t.Errorf("default server filter %+v", f)
	}
	pre := filter{streamPrefix: "t1/", chainStream: "t1/" + ChainStreamName, typePrefixes: []string{"Frame"}}
	if pre.visible("t2/job", "FrameAccepted", false) || !pre.visible("t1/job", "FrameAccepted", false) || pre.visible("t1/job", "Burn", false) || !pre.visible("t1/job", "Burn", true) {
		t.Error("prefixed filter")
	}
	if f := pre.server(false); f.Type != esdbclient.StreamFilterType || len(f.Prefixes) != 1 || f.Prefixes[0] != "t1/" {
		t.Errorf("prefixed server filter %+v", f)
	}
	typed := filter{chainStream: ChainStreamName, typePrefixes: []string{"Frame", "Burn"}}
	if f := typed.server(false); f.Type != esdbclient.EventFilterType || len(f.Prefixes) != 2 {
		t.Errorf("typed server filter %+v", f)
	}
	if f := typed.server(true); f.Regex == "" {
		t.Errorf("chain reads must see every type: %+v", f)
	}
}
