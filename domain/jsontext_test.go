package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestScannerAgreesWithEncodingJSON: on valid UTF-8 input without
// duplicate keys, the scanner accepts exactly what encoding/json accepts.
func TestScannerAgreesWithEncodingJSON(t *testing.T) {
	inputs := []string{
		`{}`, ` { } `, `{"a":1}`, `{"a":[1,2,{"b":null}],"c":true,"d":false}`,
		`{"a":-0}`, `{"a":-0.0e-0}`, `{"a":1E+2}`, `{"a":01}`, `{"a":1.}`, `{"a":.1}`, `{"a":+1}`,
		`{"a":1e}`, `{"a":--1}`, `{"a":"\u00e9\ud83d\ude00"}`, `{"a":"\ud83d"}`, `{"a":"\ude00"}`,
		`{"a":"\x"}`, `{"a":"tab	inside"}`, `{"a":"\/"}`, `{"a" 1}`, `{"a":1,}`, `{,}`, `{"a":[1,]}`,
		`{"a":tru}`, `{"a":nul}`, `{"a":[}`, `{"a":{}}`, `{"a":{"a":{"a":[]}}}`, `{"a":1}}`, `{1:2}`,
		`{"a":"` + "\u2028" + `"}`, `{"":""}`, `{"a":"\u0000"}`, `{"a":1 }`, "{\"a\":\n1}",
		`{"a":123456789012345678901234567890e999999}`, `{"a":"\uD834\uDD1E"}`, `{"a":"\uDD1E\uD834"}`,
	}
	for _, in := range inputs {
		_, err := forEachMember([]byte(in), nil)
		std := json.Valid([]byte(in))
		if (err == nil) != std && !strings.Contains(in, `\ud83d"`) && !strings.Contains(in, `\ude00"`) && !strings.Contains(in, `\uDD1E\uD834`) {
			t.Errorf("%q: scanner err=%v, json.Valid=%v", in, err, std)
		}
	}
	// Lone surrogates: encoding/json replaces them with U+FFFD; we refuse.
	for _, in := range []string{`{"a":"\ud83d"}`, `{"a":"\ude00"}`, `{"a":"\uDD1E\uD834"}`, `{"a":"\ud83dx"}`} {
		_, err := forEachMember([]byte(in), nil)
		require.Error(t, err, in)
	}
	// Invalid UTF-8 and raw control characters are refused.
	for _, in := range []string{"{\"a\":\"\xff\"}", "{\"a\":\"\xc3\"}", "{\"a\":\"\x01\"}", "{\"\xff\":1}"} {
		_, err := forEachMember([]byte(in), nil)
		require.Error(t, err, in)
	}
}

func TestUnescape(t *testing.T) {
	for _, in := range []string{`"plain"`, `"a\"b\\c\/d\be\ff\ng\rh\ti"`, `"\u00e9\u4e2d\ud83d\ude00"`, `"\u0000"`} {
		var want string
		require.NoError(t, json.Unmarshal([]byte(in), &want))
		sc := scanner{data: []byte(in)}
		v, err := sc.value(0)
		require.NoError(t, err)
		assert.Equal(t, want, stringValue(v), in)
	}
}

func TestScannerDepthAndManyKeys(t *testing.T) {
	deep := strings.Repeat(`{"a":`, maxJSONDepth+1) + "1" + strings.Repeat("}", maxJSONDepth+1)
	_, err := forEachMember([]byte(deep), nil)
	assert.ErrorContains(t, err, "nesting too deep")
	ok := strings.Repeat(`[`, 1000) + strings.Repeat(`]`, 1000)
	_, err = forEachMember([]byte(`{"a":`+ok+`}`), nil)
	require.NoError(t, err)

	// Many keys go through the set; duplicates are still found, fast.
	var b bytes.Buffer
	b.WriteString(`{"x0":0`)
	for i := 1; i < 200_000; i++ {
		b.WriteString(`,"x` + itoa(i) + `":0`)
	}
	_, err = forEachMember(append(bytes.Clone(b.Bytes()), '}'), nil)
	require.NoError(t, err)
	b.WriteString(`,"x\u0030":1}`) // an escaped repeat of "x0"
	_, err = forEachMember(b.Bytes(), nil)
	assert.ErrorContains(t, err, `duplicate key "x0"`)
}

func itoa(i int) string {
	var buf [20]byte
	n := len(buf)
	for {
		n--
		buf[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(buf[n:])
		}
	}
}

// FuzzParseEnvelope: ParseEnvelope never panics; what it accepts is valid
// JSON, re-encodes to a line that parses to the same envelope, and keeps
// data byte for byte. Decoding the data never panics either, and an event
// it accepts re-encodes to data that decodes to the same event.
func FuzzParseEnvelope(f *testing.F) {
	for _, line := range goldenLines(f) {
		f.Add(line)
	}
	f.Add([]byte(`{"id":"0190A6F0-0000-7000-8000-000000000001","type":"EpochClosed","stream":"s","time":"2024-01-02T03:04:05Z","data":{"epoch":1,"emission":"1"}}`))
	f.Add([]byte(`{"id":"x","type":"EpochClosed","data":{"epoch":1,"epoch":2}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		env, err := ParseEnvelope(line)
		if err != nil {
			if _, ok := err.(*ValidationError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if !json.Valid(line) || !utf8.Valid(line) {
			t.Fatalf("accepted invalid JSON %q", line)
		}
		if !bytes.Contains(line, env.Data) {
			t.Fatalf("data not kept verbatim")
		}
		out := env.AppendJSON(nil)
		if !json.Valid(out) || bytes.ContainsAny(out, "\r\n") {
			t.Fatalf("AppendJSON wrote an invalid line %q", out)
		}
		env2, err := ParseEnvelope(out)
		if err != nil {
			t.Fatalf("re-parse of %q: %v", out, err)
		}
		if string(env2.AppendJSON(nil)) != string(out) {
			t.Fatalf("not stable: %q", out)
		}
		if err := env.Validate(); err != nil {
			t.Fatalf("parsed envelope does not validate: %v", err)
		}
		ev, err := env.Event()
		if err != nil {
			return
		}
		data, err := EncodeEvent(ev)
		if err != nil {
			t.Fatalf("valid event does not encode: %v", err)
		}
		ev2, err := DecodeEvent(env.Type, data)
		if err != nil {
			t.Fatalf("re-encoded event %s does not decode: %v", data, err)
		}
		data2, _ := EncodeEvent(ev2)
		if !bytes.Equal(data, data2) {
			t.Fatalf("event encoding not stable: %s vs %s", data, data2)
		}
	})
}

// FuzzDecodeEvent: DecodeEvent never panics, refuses only with a
// *ValidationError, decides exactly as the general scanner does (the
// canonical-form path) and as the borrowing decoder does, and what it
// accepts round-trips through EncodeEvent.
func FuzzDecodeEvent(f *testing.F) {
	for _, line := range goldenLines(f) {
		env, err := ParseEnvelope(line)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(slicesIndex(KnownTypes, env.Type)), []byte(env.Data))
		if ev, err := env.Event(); err == nil {
			canon, _ := EncodeEvent(ev)
			f.Add(uint8(slicesIndex(KnownTypes, env.Type)), canon)
		}
	}
	outcome := func(ev Event, err error) string {
		if err != nil {
			return "error: " + err.Error()
		}
		return fmt.Sprintf("%T %+v", ev, ev)
	}
	f.Fuzz(func(t *testing.T, typ uint8, data []byte) {
		name := KnownTypes[int(typ)%len(KnownTypes)]
		noCanonicalPath = true
		want := outcome(DecodeEvent(name, data))
		noCanonicalPath = false
		if got := outcome(DecodeEventBorrowed(name, bytes.Clone(data), new(FrameArena))); got != want {
			t.Fatalf("borrowing decoder: %s\ngeneral scanner: %s", got, want)
		}
		ev, err := DecodeEvent(name, data)
		if got := outcome(ev, err); got != want {
			t.Fatalf("canonical path: %s\ngeneral scanner: %s", got, want)
		}
		if err != nil {
			if _, ok := err.(*ValidationError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		out, err := EncodeEvent(ev)
		if err != nil {
			t.Fatalf("accepted event does not encode: %v", err)
		}
		if _, err := DecodeEvent(name, out); err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", out, err)
		}
	})
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// FuzzParseUSD: ParseUSD agrees with big.Rat on every decimal text it
// accepts, and String round-trips.
func FuzzParseUSD(f *testing.F) {
	for _, s := range []string{"0", "12.50", "1e-18", "0.25", "340282366920938463463.374607431768211455", "1.5E+3", "-1", "01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUSD(s)
		if err != nil {
			return
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok && u.IsZero() {
			return // "0e99999999999": big.Rat refuses the exponent, the value is 0
		}
		if !ok || r.Sign() < 0 {
			t.Fatalf("accepted %q that big.Rat refuses", s)
		}
		r.Mul(r, new(big.Rat).SetInt(attoPerUSD))
		if !r.IsInt() || r.Num().Cmp(u.Atto()) != 0 {
			t.Fatalf("%q: got %s atto, want %s", s, u.Atto(), r.RatString())
		}
		back, err := ParseUSD(u.String())
		if err != nil || back != u {
			t.Fatalf("%q: String %q does not round-trip", s, u.String())
		}
	})
}

// TestNeedsLookNeverMisses checks the eight-byte string scan against the
// byte-by-byte rule: every word holding a byte the slow loop must see is
// flagged (each byte value in each position, and random words).
func TestNeedsLookNeverMisses(t *testing.T) {
	must := func(c byte) bool { return c < 0x20 || c == '"' || c == '\\' || c >= 0x80 }
	check := func(w uint64) {
		want := false
		for i := 0; i < 8; i++ {
			want = want || must(byte(w>>(8*i)))
		}
		if want && !needsLook(w) {
			t.Fatalf("needsLook(%016x) = false, but a byte needs a look", w)
		}
		if !want && needsLook(w) {
			t.Fatalf("needsLook(%016x) = true for plain ASCII", w)
		}
	}
	for pos := 0; pos < 8; pos++ {
		for c := 0; c < 256; c++ {
			for _, fill := range []uint64{0x6161616161616161, 0x2020202020202020, 0x7e7e7e7e7e7e7e7e, 0x2121212121212121} {
				w := fill&^(0xff<<(8*pos)) | uint64(c)<<(8*pos)
				check(w)
			}
		}
	}
	rng := rand.New(rand.NewPCG(8, 8))
	for i := 0; i < 1_000_000; i++ {
		w := rng.Uint64()
		if i%2 == 0 {
			w = w&0x3f3f3f3f3f3f3f3f | 0x2020202020202020 // mostly printable
		}
		check(w)
	}
}
