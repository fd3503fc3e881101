package domain

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of an envelope, the same as the event store's so that anything
// ParseEnvelope accepts can be stored by every backend.
const (
	MaxStreamLen = 255     // bytes of a stream name
	MaxDataLen   = 1 << 20 // bytes of one event's data
)

const ruleUUID = "must be a UUID (8-4-4-4-12 hex digits, stored in lowercase)"

const ruleLineBreak = "must not contain a raw line break (JSON Lines: one event per line)"

// Envelope is one event in its canonical text form, a line of JSON Lines as
// `epochledger export` prints and `epochledger import` reads:
//
//	{"position":P,"revision":R,"id":"…","type":"…","stream":"…","time":"…","data":{…}}
//
// Position and Revision are assigned by the store; import ignores them.
// Data is kept byte for byte as given, whitespace included.
type Envelope struct {
	Position uint64          `json:"position,omitempty"`
	Revision uint64          `json:"revision"`
	ID       string          `json:"id"`     // UUID, lowercase 8-4-4-4-12 hex
	Type     string          `json:"type"`   // one of KnownTypes
	Stream   string          `json:"stream"` // e.g. node-<id>, job-<id>, epoch-<n>
	Time     string          `json:"time"`   // RFC 3339 as written; informational only
	Data     json.RawMessage `json:"data"`   // a JSON object
}

// envelopeField names the members of an envelope, in canonical order.
var envelopeFields = fieldSet{
	names:    []string{"position", "revision", "id", "type", "stream", "time", "data"},
	optional: 1<<0 | 1<<1,
}

// ParseEnvelope parses one line of JSON Lines (a trailing newline is
// allowed) strictly: unknown or repeated members are refused; id, type,
// stream, time and data are required; position and revision are optional
// non-negative integers. The envelope is validated (see Validate), the id
// is returned in lowercase, and Data is a copy of the data object's bytes
// exactly as written; a raw line break inside data is refused, since the
// exported line would split. The data is not decoded: see Event. Every refusal is
// a *ValidationError with Event "envelope".
func ParseEnvelope(line []byte) (*Envelope, error) {
	env := new(Envelope)
	d := decoder{event: EnvelopeSubject}
	var (
		seen uint64
		hint int
		data []byte
	)
	_, err := forEachMember(line, func(key []byte, v jsonValue) error {
		return d.member(&envelopeFields, &seen, &hint, "", key, v, func(i int, v jsonValue) {
			switch i {
			case 0:
				env.Position = d.uint(v)
			case 1:
				env.Revision = d.uint(v)
			case 2:
				env.ID = d.str(v)
			case 3:
				if v.kind == kindString && !v.escaped {
					// Share the constant; an unknown type is refused below.
					if t := internType(string(v.raw[1 : len(v.raw)-1])); t != "" {
						env.Type = t
						return
					}
				}
				env.Type = d.str(v)
			case 4:
				env.Stream = d.str(v)
			case 5:
				env.Time = d.str(v)
			case 6:
				if v.kind != kindObject {
					d.fail(ruleObject)
				}
				data = v.raw
			}
		})
	})
	if d.err != nil {
		return nil, d.err
	}
	if err != nil {
		return nil, invalid(EnvelopeSubject, "", err.Error())
	}
	d.missing(&envelopeFields, seen, "")
	if d.err != nil {
		return nil, d.err
	}
	if len(data) > MaxDataLen {
		return nil, invalid(EnvelopeSubject, "data", "must be at most "+strconv.Itoa(MaxDataLen)+" bytes")
	}
	if bytes.ContainsAny(data, "\r\n") {
		return nil, invalid(EnvelopeSubject, "data", ruleLineBreak)
	}
	env.Data = bytes.Clone(data)
	id, ok := canonicalUUID(env.ID)
	if !ok {
		return nil, invalid(EnvelopeSubject, "id", ruleUUID)
	}
	env.ID = id
	if err := env.validateNames(); err != nil {
		return nil, err
	}
	return env, nil
}

// Validate checks the envelope: id is a UUID in lowercase, type is known,
// stream is 1..255 bytes without control characters, time is RFC 3339 and
// data is a JSON object of at most MaxDataLen bytes, without surrounding
// whitespace or a raw line break anywhere (the line would split on export). It does not decode the
// data: see Event.
func (e *Envelope) Validate() error {
	if err := e.validateHeader(); err != nil {
		return err
	}
	if len(e.Data) > MaxDataLen {
		return invalid(EnvelopeSubject, "data", "must be at most "+strconv.Itoa(MaxDataLen)+" bytes")
	}
	if _, err := forEachMember(e.Data, nil); err != nil || e.Data[0] != '{' || e.Data[len(e.Data)-1] != '}' {
		return invalid(EnvelopeSubject, "data", ruleObject)
	}
	if bytes.ContainsAny(e.Data, "\r\n") {
		return invalid(EnvelopeSubject, "data", ruleLineBreak)
	}
	return nil
}

func (e *Envelope) validateHeader() error {
	if id, ok := canonicalUUID(e.ID); !ok || id != e.ID {
		return invalid(EnvelopeSubject, "id", ruleUUID)
	}
	return e.validateNames()
}

// validateNames checks type, stream and time.
func (e *Envelope) validateNames() error {
	if !IsKnownType(e.Type) {
		return invalid(EnvelopeSubject, "type", "unknown event type "+strconv.Quote(e.Type))
	}
	if !validStream(e.Stream) {
		return invalid(EnvelopeSubject, "stream", "must be 1 to 255 bytes without control characters")
	}
	if !validTime(e.Time) {
		return invalid(EnvelopeSubject, "time", ruleTime)
	}
	return nil
}

// Event decodes and validates the envelope's data (DecodeEvent).
func (e *Envelope) Event() (Event, error) { return DecodeEvent(e.Type, e.Data) }

// NewEnvelope builds a validated envelope for ev with canonical data
// (EncodeEvent) and t written in RFC 3339 (UTC, nanoseconds as needed).
func NewEnvelope(id, stream string, t time.Time, ev Event) (*Envelope, error) {
	data, err := EncodeEvent(ev)
	if err != nil {
		return nil, err
	}
	if c, ok := canonicalUUID(id); ok {
		id = c
	}
	e := &Envelope{ID: id, Type: ev.EventType(), Stream: stream, Time: t.UTC().Format(time.RFC3339Nano), Data: data}
	if err := e.validateHeader(); err != nil {
		return nil, err
	}
	return e, nil
}

// AppendJSON appends the envelope's canonical line, without a trailing
// newline:
//
//	{"position":P,"revision":R,"id":"…","type":"…","stream":"…","time":"…","data":<Data verbatim>}
//
// "position" is left out when Position is 0 (not yet stored). Data is
// written as is (null when empty); strings are JSON-escaped.
func (e *Envelope) AppendJSON(dst []byte) []byte {
	if e.Position != 0 {
		dst = append(dst, `{"position":`...)
		dst = strconv.AppendUint(dst, e.Position, 10)
		dst = append(dst, `,"revision":`...)
	} else {
		dst = append(dst, `{"revision":`...)
	}
	dst = strconv.AppendUint(dst, e.Revision, 10)
	dst = append(dst, `,"id":`...)
	dst = appendJSONString(dst, e.ID)
	dst = append(dst, `,"type":`...)
	dst = appendJSONString(dst, e.Type)
	dst = append(dst, `,"stream":`...)
	dst = appendJSONString(dst, e.Stream)
	dst = append(dst, `,"time":`...)
	dst = appendJSONString(dst, e.Time)
	dst = append(dst, `,"data":`...)
	if len(e.Data) == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, e.Data...)
	}
	return append(dst, '}')
}

// MarshalJSON returns AppendJSON's line. (encoding/json compacts what a
// marshaler returns, so use AppendJSON where data must stay byte for byte.)
func (e *Envelope) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

// UnmarshalJSON parses with ParseEnvelope.
func (e *Envelope) UnmarshalJSON(b []byte) error {
	p, err := ParseEnvelope(b)
	if err != nil {
		return err
	}
	*e = *p
	return nil
}

// CanonicalUUID returns s in lowercase if it is a UUID in the 8-4-4-4-12
// hex form (either case), and false otherwise. Any version is accepted.
func CanonicalUUID(s string) (string, bool) { return canonicalUUID(s) }

func canonicalUUID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	upper := false
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", false
			}
			continue
		}
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			upper = true
		default:
			return "", false
		}
	}
	if !upper {
		return s, true
	}
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'F' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b), true
}

func validStream(s string) bool {
	if len(s) == 0 || len(s) > MaxStreamLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return validStreamSlow(s)
		}
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func validStreamSlow(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
