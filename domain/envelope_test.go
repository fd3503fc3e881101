package domain

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func goldenLines(t testing.TB) [][]byte {
	t.Helper()
	f, err := os.ReadFile("testdata/events.golden.jsonl")
	require.NoError(t, err)
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(f))
	sc.Buffer(nil, 1<<21)
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	require.NoError(t, sc.Err())
	return lines
}

// TestGoldenRoundTrip: every line of the golden log parses, decodes,
// validates, and AppendJSON gives back the line byte for byte (data
// whitespace, number spellings and escapes included).
func TestGoldenRoundTrip(t *testing.T) {
	lines := goldenLines(t)
	require.Equal(t, len(KnownTypes), len(lines), "one golden line per event type")
	seen := map[string]bool{}
	for i, line := range lines {
		env, err := ParseEnvelope(line)
		require.NoError(t, err, "line %d", i+1)
		assert.Equal(t, string(line), string(env.AppendJSON(nil)), "line %d", i+1)
		assert.Equal(t, uint64(i+1), env.Position)
		require.NoError(t, env.Validate())

		ev, err := env.Event()
		require.NoError(t, err, "line %d", i+1)
		assert.Equal(t, env.Type, ev.EventType())
		seen[env.Type] = true

		// Canonical re-encoding decodes to the same event.
		data, err := EncodeEvent(ev)
		require.NoError(t, err)
		ev2, err := DecodeEvent(env.Type, data)
		require.NoError(t, err, "%s", data)
		if fr, ok := ev.(*FrameRendered); ok {
			// encoding/json compacts raw telemetry; the rest is identical.
			var buf bytes.Buffer
			require.NoError(t, json.Compact(&buf, fr.Telemetry))
			c := *fr
			c.Telemetry = buf.Bytes()
			ev = &c
		}
		assert.Equal(t, ev, ev2)
		// And it is stable.
		data2, err := EncodeEvent(ev2)
		require.NoError(t, err)
		assert.Equal(t, string(data), string(data2))

		// With a trailing newline too.
		env2, err := ParseEnvelope(append(append([]byte(nil), line...), '\n'))
		require.NoError(t, err)
		assert.Equal(t, env, env2)
	}
	for _, typ := range KnownTypes {
		assert.True(t, seen[typ], "golden log lacks %s", typ)
	}
}

func TestGoldenValues(t *testing.T) {
	events := map[string]Event{}
	for _, line := range goldenLines(t) {
		env, err := ParseEnvelope(line)
		require.NoError(t, err)
		ev, err := env.Event()
		require.NoError(t, err)
		events[env.Type] = ev
	}
	node := events[TypeNodeRegistered].(*NodeRegistered)
	assert.Equal(t, OBScore(86050), node.OBScore)

	fr := events[TypeFrameRendered].(*FrameRendered)
	require.NoError(t, VerifyProof(node.NodePubkey, fr.ProofMessage(), fr.Signature))
	assert.JSONEq(t, `{"device":"cpu","nvml":"absent: libnvidia-ml.so.1 not found","util":[0.5, 1e-3]}`, string(fr.Telemetry))

	cw := events[TypeComputeWorkCompleted].(*ComputeWorkCompleted)
	assert.Equal(t, "12.5", cw.USD.String())
	require.NoError(t, VerifyProof(node.NodePubkey, cw.ProofMessage(), cw.Signature))

	job := events[TypeJobSubmitted].(*JobSubmitted)
	assert.Equal(t, "0.25", job.USDPerOBh.String(), "JSON number parsed from its text")
	assert.Equal(t, uint32(240), job.Frames)

	rej := events[TypeFrameRejected].(*FrameRejected)
	assert.Equal(t, `output hash differs from verifier "re-render" é`, rej.Reason)

	br := events[TypeBridgeConverted].(*BridgeConverted)
	assert.Equal(t, "3456789012", br.Dust().String())
	assert.Equal(t, "0x88df016429689c079f3b2f6ad39fa052532c56795b733da78a91ebe6a713944b:3", br.Key())

	ec := events[TypeEpochClosed].(*EpochClosed)
	assert.Equal(t, DefaultEmission, ec.Emission)

	sp := events[TypeSettlementPlanned].(*SettlementPlanned)
	assert.Equal(t, []uint64{1}, sp.Payouts[0].Epochs)
	assert.Equal(t, []uint64(nil), sp.Payouts[1].Epochs)
	assert.Equal(t, strings.Repeat("c0ffee", 10)+"c0ff", sp.LogHead) // optional trailing field

	// Provenance root of one frame is its output hash.
	jc := events[TypeJobCompleted].(*JobCompleted)
	root, err := ProvenanceRoot([]string{fr.OutputHash})
	require.NoError(t, err)
	assert.Equal(t, jc.ProvenanceRoot, HashHex(root))
}

func TestAppendJSONEscapes(t *testing.T) {
	env := &Envelope{
		Revision: 3,
		ID:       "0190a6f0-0000-7000-8000-000000000001",
		Type:     TypeEpochClosed,
		Stream:   "weird \"stream\" \\ \u00e9 \u2028",
		Time:     "2024-01-02T03:04:05Z",
		Data:     json.RawMessage(`{"epoch":1,"emission":"0"}`),
	}
	line := env.AppendJSON([]byte("prefix:"))
	assert.True(t, bytes.HasPrefix(line, []byte("prefix:")))
	line = line[len("prefix:"):]
	assert.Equal(t, `{"revision":3,"id":"0190a6f0-0000-7000-8000-000000000001","type":"EpochClosed","stream":"weird \"stream\" \\ é `+"\u2028"+`","time":"2024-01-02T03:04:05Z","data":{"epoch":1,"emission":"0"}}`, string(line))
	back, err := ParseEnvelope(line)
	require.NoError(t, err)
	assert.Equal(t, env, back)

	// Control characters and invalid UTF-8 are escaped so the output stays
	// one valid JSON line whatever the struct holds.
	env.Stream = "a\nb\x01c\xffd\te"
	line = env.AppendJSON(nil)
	assert.Contains(t, string(line), `"stream":"a\nb\u0001c\ufffdd\te"`)
	assert.True(t, json.Valid(line))
	var m map[string]any
	require.NoError(t, json.Unmarshal(line, &m))
	assert.Equal(t, "a\nb\x01c\ufffdd\te", m["stream"])
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	// For strings without HTML characters, AppendJSON escapes as
	// encoding/json would parse back to the same string.
	for _, s := range []string{"", "plain", "quote\"back\\slash", "tab\tnl\ncr\r", "\x00\x1f\x7f", "日本語", "\u2028\u2029"} {
		b := appendJSONString(nil, s)
		var got string
		require.NoError(t, json.Unmarshal(b, &got), "%q", b)
		assert.Equal(t, s, got)
	}
}

func TestParseEnvelopeErrors(t *testing.T) {
	const (
		id   = `"id":"0190a6f0-0000-7000-8000-000000000001"`
		typ  = `"type":"EpochClosed"`
		strm = `"stream":"epoch-1"`
		tm   = `"time":"2024-01-02T03:04:05Z"`
		data = `"data":{"epoch":1,"emission":"5"}`
	)
	join := func(parts ...string) string { return "{" + strings.Join(parts, ",") + "}" }
	tests := []struct {
		name, line, field, rule string
	}{
		{"unknown member", join(id, typ, strm, tm, data, `"extra":1`), "extra", "unknown field"},
		{"missing id", join(typ, strm, tm, data), "id", "required"},
		{"missing type", join(id, strm, tm, data), "type", "required"},
		{"missing stream", join(id, typ, tm, data), "stream", "required"},
		{"missing time", join(id, typ, strm, data), "time", "required"},
		{"missing data", join(id, typ, strm, tm), "data", "required"},
		{"bad uuid", join(`"id":"0190a6f0-0000-7000-8000-00000000000g"`, typ, strm, tm, data), "id", "must be a UUID"},
		{"uuid no hyphens", join(`"id":"0190a6f00000700080000000000000010000"`, typ, strm, tm, data), "id", "must be a UUID"},
		{"unknown type", join(id, `"type":"FrameEaten"`, strm, tm, data), "type", "unknown event type"},
		{"empty stream", join(id, typ, `"stream":""`, tm, data), "stream", "must be 1 to 255 bytes"},
		{"control in stream", join(id, typ, `"stream":"a\u0007b"`, tm, data), "stream", "without control characters"},
		{"long stream", join(id, typ, `"stream":"`+strings.Repeat("s", 256)+`"`, tm, data), "stream", "must be 1 to 255 bytes"},
		{"bad time", join(id, typ, strm, `"time":"2024-01-02 03:04:05"`, data), "time", "RFC 3339"},
		{"data not object", join(id, typ, strm, tm, `"data":[1]`), "data", "must be a JSON object"},
		{"data string", join(id, typ, strm, tm, `"data":"{}"`), "data", "must be a JSON object"},
		{"data line break", join(id, typ, strm, tm, "\"data\":{\"epoch\":1,\n\"emission\":\"5\"}"), "data", "line break"},
		{"negative position", join(`"position":-1`, id, typ, strm, tm, data), "position", "non-negative JSON integer"},
		{"fractional revision", join(`"revision":1.5`, id, typ, strm, tm, data), "revision", "non-negative JSON integer"},
		{"id number", join(`"id":1`, typ, strm, tm, data), "id", "must be a string"},
		{"duplicate member", join(id, id, typ, strm, tm, data), "", "duplicate key \"id\""},
		{"duplicate inside data", join(id, typ, strm, tm, `"data":{"epoch":1,"epoch":2}`), "", "duplicate key \"epoch\""},
		{"not json", `{"id":`, "", "invalid JSON"},
		{"trailing garbage", join(id, typ, strm, tm, data) + "x", "", "unexpected data after the object"},
		{"two objects", join(id, typ, strm, tm, data) + "{}", "", "unexpected data after the object"},
		{"array", `[]`, "", "expected an object"},
		{"empty", ``, "", "end of input"},
		{"invalid utf8", join(id, typ, "\"stream\":\"a\xffb\"", tm, data), "", "invalid UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseEnvelope([]byte(tc.line))
			require.Error(t, err)
			var ve *ValidationError
			assert.True(t, errors.As(err, &ve), "%T %v", err, err)
			assert.True(t, errors.Is(err, ErrInvalid))
			assert.Equal(t, EnvelopeSubject, ve.Event)
			assert.Equal(t, tc.field, ve.Field, "%v", err)
			assert.Contains(t, ve.Rule, tc.rule)
		})
	}
	// The data of a valid envelope is not decoded by ParseEnvelope.
	env, err := ParseEnvelope([]byte(join(id, typ, strm, tm, `"data":{"bogus":true}`)))
	require.NoError(t, err)
	_, err = env.Event()
	assert.EqualError(t, err, `EpochClosed: field "bogus": unknown field`)
}

func TestParseEnvelopeUppercaseID(t *testing.T) {
	line := `{"id":"0190A6F0-ABCD-7000-8000-00000000000F","type":"EpochClosed","stream":"epoch-1","time":"2024-01-02T03:04:05Z","data":{"epoch":1,"emission":"5"}}`
	env, err := ParseEnvelope([]byte(line))
	require.NoError(t, err)
	assert.Equal(t, "0190a6f0-abcd-7000-8000-00000000000f", env.ID, "ids are stored lowercase so retries dedupe")
	assert.Equal(t, uint64(0), env.Position)
	assert.Equal(t, `{"revision":0,"id":"0190a6f0-abcd-7000-8000-00000000000f","type":"EpochClosed","stream":"epoch-1","time":"2024-01-02T03:04:05Z","data":{"epoch":1,"emission":"5"}}`,
		string(env.AppendJSON(nil)))
}

func TestParseEnvelopeDoesNotAlias(t *testing.T) {
	line := []byte(`{"id":"0190a6f0-0000-7000-8000-000000000001","type":"EpochClosed","stream":"epoch-1","time":"2024-01-02T03:04:05Z","data":{"epoch":1,"emission":"5"}}`)
	env, err := ParseEnvelope(line)
	require.NoError(t, err)
	want := env.AppendJSON(nil)
	for i := range line {
		line[i] = 'x'
	}
	assert.Equal(t, string(want), string(env.AppendJSON(nil)))
}

func TestNewEnvelope(t *testing.T) {
	env, err := NewEnvelope("0190A6F0-0000-7000-8000-000000000001", "epoch-3",
		time.Date(2024, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600)),
		&EpochClosed{Epoch: 3, Emission: DefaultEmission})
	require.NoError(t, err)
	assert.Equal(t, `{"revision":0,"id":"0190a6f0-0000-7000-8000-000000000001","type":"EpochClosed","stream":"epoch-3","time":"2024-01-02T02:04:05.0000006Z","data":{"epoch":3,"emission":"4700000000000"}}`,
		string(env.AppendJSON(nil)))

	_, err = NewEnvelope("not-a-uuid", "epoch-3", time.Now(), &EpochClosed{Epoch: 3})
	assert.ErrorContains(t, err, `envelope: field "id"`)
	_, err = NewEnvelope("0190a6f0-0000-7000-8000-000000000001", "epoch-0", time.Now(), &EpochClosed{Epoch: 0})
	assert.EqualError(t, err, `EpochClosed: field "epoch": must be at least 1`)

	// SettlementPlanned with no payouts encodes "payouts":[] and decodes back.
	sp := &SettlementPlanned{Epoch: 2, Root: HashHex([32]byte{})}
	env, err = NewEnvelope("0190a6f0-0000-7000-8000-000000000002", "epoch-2", time.Unix(0, 0), sp)
	require.NoError(t, err)
	assert.Equal(t, `{"epoch":2,"root":"0000000000000000000000000000000000000000000000000000000000000000","total":"0","payouts":[]}`, string(env.Data))
	_, err = env.Event()
	require.NoError(t, err)
}

func TestEnvelopeJSONMethods(t *testing.T) {
	line := goldenLines(t)[0]
	var env Envelope
	require.NoError(t, json.Unmarshal(line, &env))
	assert.Equal(t, TypeNodeRegistered, env.Type)
	b, err := json.Marshal(&env)
	require.NoError(t, err)
	assert.Equal(t, string(line), string(b))
	require.Error(t, json.Unmarshal([]byte(`{"id":1}`), &env))
}

func TestEnvelopeValidate(t *testing.T) {
	good := Envelope{ID: "0190a6f0-0000-7000-8000-000000000001", Type: TypeEpochClosed, Stream: "s", Time: "2024-01-02T03:04:05Z", Data: json.RawMessage(`{"epoch":1,"emission":"1"}`)}
	require.NoError(t, good.Validate())
	for name, mut := range map[string]func(*Envelope){
		"upper id":   func(e *Envelope) { e.ID = strings.ToUpper(e.ID) },
		"no data":    func(e *Envelope) { e.Data = nil },
		"data ws":    func(e *Envelope) { e.Data = json.RawMessage(` {"epoch":1} `) },
		"data nl":    func(e *Envelope) { e.Data = json.RawMessage("{\"epoch\":1,\n\"e\":1}") },
		"data array": func(e *Envelope) { e.Data = json.RawMessage(`[]`) },
		"bad utf8":   func(e *Envelope) { e.Stream = "\xff" },
		"big data":   func(e *Envelope) { e.Data = json.RawMessage(`{"a":"` + strings.Repeat("x", MaxDataLen) + `"}`) },
	} {
		e := good
		mut(&e)
		require.Error(t, e.Validate(), name)
	}
}

func BenchmarkParseEnvelope(b *testing.B) {
	line := goldenLines(b)[5] // FrameAccepted
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseEnvelope(line); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	env, err := ParseEnvelope(goldenLines(b)[4]) // FrameRendered
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(env.AppendJSON(nil))))
	b.ReportAllocs()
	for b.Loop() {
		buf = env.AppendJSON(buf[:0])
	}
}

func BenchmarkDecodeFrameAccepted(b *testing.B) {
	data := []byte(`{"job_id":"job-1","frame":7,"node_id":"n1"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvent(TypeFrameAccepted, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeFrameRendered is the heaviest event of a replay: a hash,
// a signature and a telemetry object to scan and validate.
func BenchmarkDecodeFrameRendered(b *testing.B) {
	env, err := ParseEnvelope(goldenLines(b)[4])
	if err != nil || env.Type != TypeFrameRendered {
		b.Fatalf("golden line 5 is not a FrameRendered: %v", err)
	}
	b.SetBytes(int64(len(env.Data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvent(TypeFrameRendered, env.Data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeFrameRenderedReplay decodes the same event as a replay
// does: its canonical form (as the ledger writes it), strings borrowed and
// the struct from an arena. Compare with BenchmarkDecodeFrameRendered.
func BenchmarkDecodeFrameRenderedReplay(b *testing.B) {
	env, err := ParseEnvelope(goldenLines(b)[4])
	if err != nil || env.Type != TypeFrameRendered {
		b.Fatalf("golden line 5 is not a FrameRendered: %v", err)
	}
	ev, err := env.Event()
	if err != nil {
		b.Fatal(err)
	}
	data, err := EncodeEvent(ev)
	if err != nil {
		b.Fatal(err)
	}
	var arena FrameArena
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEventBorrowed(TypeFrameRendered, data, &arena); err != nil {
			b.Fatal(err)
		}
		arena.Reset()
	}
}
