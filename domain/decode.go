package domain

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"
)

// DecodeEvent decodes the data of an event of type typ strictly and
// validates it: unknown, repeated and missing fields are refused, each JSON
// type must be the one of the catalogue, and then the event's Validate
// rules apply. Every refusal is a *ValidationError naming the field. The
// returned event does not alias data.
func DecodeEvent(typ string, data []byte) (Event, error) {
	return decodeEvent(typ, data, false, nil)
}

// DecodeEventBorrowed is DecodeEvent for a caller that keeps data
// unchanged for as long as it uses the event (a replay folding a batch it
// owns): the string fields of the frame events (FrameAssigned,
// FrameRendered, FrameAccepted, FrameRejected), most of a log, point into
// data instead of being copied, and FrameRendered's telemetry is a slice of
// data. Whoever keeps such a field after data changes must copy it. With
// an arena, the frame events' structs come from it (valid until its
// Reset). Other event types are decoded as by DecodeEvent.
func DecodeEventBorrowed(typ string, data []byte, arena *FrameArena) (Event, error) {
	switch typ {
	case TypeFrameAssigned, TypeFrameRendered, TypeFrameAccepted, TypeFrameRejected:
		return decodeEvent(typ, data, true, arena)
	}
	return decodeEvent(typ, data, false, arena)
}

// FrameArena holds the structs of the frame events a replay decodes into
// one batch, so that batch after batch reuses them instead of allocating a
// struct per event, and the decoder every event of the batch is decoded
// with. An event decoded into the arena is valid until Reset.
type FrameArena struct {
	assigned []FrameAssigned
	rendered []FrameRendered
	accepted []FrameAccepted
	rejected []FrameRejected
	d        decoder
}

// Reset makes every struct of the arena free for the next batch.
func (a *FrameArena) Reset() {
	a.assigned, a.rendered, a.accepted, a.rejected = a.assigned[:0], a.rendered[:0], a.accepted[:0], a.rejected[:0]
}

// next returns a zeroed T from the end of *slab. A slab that grows leaves
// the structs already handed out where they are.
func next[T any](slab *[]T) *T {
	var zero T
	*slab = append(*slab, zero)
	return &(*slab)[len(*slab)-1]
}

// The arena's allocators; a nil arena allocates.
func (a *FrameArena) newAssigned() *FrameAssigned {
	if a == nil {
		return new(FrameAssigned)
	}
	return next(&a.assigned)
}

func (a *FrameArena) newRendered() *FrameRendered {
	if a == nil {
		return new(FrameRendered)
	}
	return next(&a.rendered)
}

func (a *FrameArena) newAccepted() *FrameAccepted {
	if a == nil {
		return new(FrameAccepted)
	}
	return next(&a.accepted)
}

func (a *FrameArena) newRejected() *FrameRejected {
	if a == nil {
		return new(FrameRejected)
	}
	return next(&a.rejected)
}

func decodeEvent(typ string, data []byte, borrow bool, arena *FrameArena) (Event, error) {
	ev, err := decodeData(typ, data, borrow, arena)
	if err != nil {
		return nil, err
	}
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	return ev, nil
}

// decodeData decodes without Validate; borrow: strings alias data; arena:
// where frame events' structs come from (nil: new ones). Each event type's
// members are its table (fieldsOf), kept beside its struct and Validate.
func decodeData(typ string, data []byte, borrow bool, arena *FrameArena) (Event, error) {
	var d *decoder
	if arena != nil {
		d = &arena.d
	} else {
		d = decoders.Get().(*decoder)
		defer decoders.Put(d)
	}
	*d = decoder{event: typ, borrow: borrow}
	var ev Event
	switch typ {
	case TypeNodeRegistered:
		ev = decodeObject(d, data, nodeRegisteredFields, new(NodeRegistered))
	case TypeOperatorWalletSet:
		ev = decodeObject(d, data, operatorWalletSetFields, new(OperatorWalletSet))
	case TypeJobSubmitted:
		ev = decodeObject(d, data, jobSubmittedFields, new(JobSubmitted))
	case TypeFrameAssigned:
		ev = decodeObject(d, data, frameAssignedFields, arena.newAssigned())
	case TypeFrameRendered:
		ev = decodeObject(d, data, frameRenderedFields, arena.newRendered())
	case TypeFrameAccepted:
		ev = decodeObject(d, data, frameAcceptedFields, arena.newAccepted())
	case TypeFrameRejected:
		ev = decodeObject(d, data, frameRejectedFields, arena.newRejected())
	case TypeComputeWorkCompleted:
		ev = decodeObject(d, data, computeWorkCompletedFields, new(ComputeWorkCompleted))
	case TypeComputeClientRegistered:
		ev = decodeObject(d, data, computeClientRegisteredFields, new(ComputeClientRegistered))
	case TypeJobCompleted:
		ev = decodeObject(d, data, jobCompletedFields, new(JobCompleted))
	case TypeBurnRecorded:
		ev = decodeObject(d, data, burnRecordedFields, new(BurnRecorded))
	case TypeEpochClosed:
		ev = decodeObject(d, data, epochClosedFields, new(EpochClosed))
	case TypeBridgeConverted:
		ev = decodeObject(d, data, bridgeConvertedFields, new(BridgeConverted))
	case TypeSettlementPlanned:
		ev = decodeObject(d, data, settlementPlannedFields, new(SettlementPlanned))
	case TypePayoutSubmitted:
		ev = decodeObject(d, data, payoutSubmittedFields, new(PayoutSubmitted))
	case TypePayoutConfirmed:
		ev = decodeObject(d, data, payoutConfirmedFields, new(PayoutConfirmed))
	case TypePayoutExpired:
		ev = decodeObject(d, data, payoutExpiredFields, new(PayoutExpired))
	case TypeEmissionScheduleSet:
		ev = decodeObject(d, data, emissionScheduleSetFields, new(EmissionScheduleSet))
	case TypeNodeAvailability:
		ev = decodeObject(d, data, nodeAvailabilityFields, new(NodeAvailability))
	case TypeLookupTableCreated:
		ev = decodeObject(d, data, lookupTableCreatedFields, new(LookupTableCreated))
	case TypeLookupTableExtended:
		ev = decodeObject(d, data, lookupTableExtendedFields, new(LookupTableExtended))
	default:
		return nil, invalid(typ, "type", "unknown event type")
	}
	if d.err != nil {
		return nil, d.err
	}
	return ev, nil
}

// decoders holds the decoders of calls without an arena. A decoder's
// address goes to the field tables' setters (calls through a func value),
// so it cannot live on the stack; reusing one keeps decoding free of an
// allocation per event.
var decoders = sync.Pool{New: func() any { return new(decoder) }}

// field is one JSON member of a T (an event, or an object nested in one):
// its name, whether it may be left out (or written as null), and set,
// which decodes its value into the T. set reports a bad value with
// d.fail; d.field already names the member.
type field[T any] struct {
	name     string
	optional bool
	set      func(d *decoder, e *T, v jsonValue)
}

// required and optional are the fields of a table.
func required[T any](name string, set func(d *decoder, e *T, v jsonValue)) field[T] {
	return field[T]{name: name, set: set}
}

func optional[T any](name string, set func(d *decoder, e *T, v jsonValue)) field[T] {
	return field[T]{name: name, optional: true, set: set}
}

// fieldTable is the members of a T in catalogue order, the order
// EncodeEvent writes them (the canonical path relies on it), built once
// by fieldsOf: the scanner matches names, and set[i] decodes names[i].
type fieldTable[T any] struct {
	fieldSet
	set []func(d *decoder, e *T, v jsonValue)
}

// fieldsOf builds the table of fields. A table of more than 64 members or
// with a name twice is a programming error, found when the package loads.
func fieldsOf[T any](fields ...field[T]) *fieldTable[T] {
	if len(fields) > 64 {
		panic("domain: a field table holds at most 64 members")
	}
	t := &fieldTable[T]{fieldSet: fieldSet{names: make([]string, len(fields))}, set: make([]func(*decoder, *T, jsonValue), len(fields))}
	for i, f := range fields {
		if slices.Contains(t.names[:i], f.name) {
			panic("domain: field " + strconv.Quote(f.name) + " is listed twice")
		}
		t.names[i], t.set[i] = f.name, f.set
		if f.optional {
			t.optional |= 1 << i
		}
	}
	return t
}

// decodeObject decodes data, which must be a JSON object of the members
// of t, into e and returns e.
func decodeObject[T any](d *decoder, data []byte, t *fieldTable[T], e *T) *T {
	var vals [maxCanonical]jsonValue
	if n := len(t.names); n <= len(vals) && !noCanonicalPath {
		if m, ok := canonical(data, &t.fieldSet, vals[:n]); ok {
			// Set directly, without the general path's callback.
			for i, v := range vals[:m] {
				if v.kind == kindNull && t.optional&(1<<i) != 0 {
					continue // an optional field written as null is absent
				}
				d.field = t.names[i]
				t.set[i](d, e, v)
				if d.err != nil {
					break
				}
			}
			return e
		}
	}
	d.scanObject(data, &t.fieldSet, func(i int, v jsonValue) { t.set[i](d, e, v) })
	return e
}

// decodeNested decodes a member object v (an element of payouts or
// recipients, loaded_addresses) of the members of t into e.
func decodeNested[T any](d *decoder, v jsonValue, t *fieldTable[T], e *T) {
	d.nested(v, &t.fieldSet, func(i int, f jsonValue) { t.set[i](d, e, f) })
}

// maxCanonical is the most members an object may have for the canonical
// path (the vals array on the stack); wider ones take the general path.
const maxCanonical = 8

// fieldSet lists the JSON fields of one object in catalogue order; the bit
// i of optional marks names[i] optional.
type fieldSet struct {
	names    []string
	optional uint64
}

// optionalFrom reports whether names[i:] are all optional.
func (fs *fieldSet) optionalFrom(i int) bool {
	n := len(fs.names)
	mask := (uint64(1)<<n - 1) &^ (uint64(1)<<i - 1)
	return fs.optional&mask == mask
}

// decoder decodes the members of one event's data, keeping the first
// error. field is the path of the member being decoded, for errors.
type decoder struct {
	event  string
	field  string
	err    *ValidationError
	borrow bool // str returns strings that alias the data
}

// errStop ends a scan once d.err is set.
var errStop = errors.New("stop")

func (d *decoder) fail(rule string) {
	if d.err == nil {
		d.err = invalid(d.event, d.field, rule)
	}
}

// scanObject decodes data, which must be a JSON object, with the general
// scanner, calling set for each known member with its index in fs.
func (d *decoder) scanObject(data []byte, fs *fieldSet, set func(i int, v jsonValue)) {
	var seen uint64
	hint := 0
	_, err := forEachMember(data, func(key []byte, v jsonValue) error {
		return d.member(fs, &seen, &hint, "", key, v, set)
	})
	if d.err != nil {
		return
	}
	if err != nil {
		var se *syntaxError
		if errors.As(err, &se) {
			d.field = "data"
			if bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{")) {
				d.fail(se.Error())
			} else {
				d.fail(ruleObject)
			}
		}
		return
	}
	d.missing(fs, seen, "")
}

// noCanonicalPath (tests only) sends every object through the general
// scanner, to check the canonical path decides exactly as it does.
var noCanonicalPath bool

// canonical matches data against the form the ledger writes an event's
// data in: every field of fs, in catalogue order, no whitespace, strings
// of printable ASCII without escapes, numbers as plain unsigned integers
// (any other value is scanned by the strict scanner); optional fields at
// the end of fs may be left out (an event written before they existed). It
// fills vals with the fields' values and reports how many it matched and
// whether data has that form. Data of this
// form holds no duplicate, unknown or missing field and no syntax error,
// so the general path would call set with the same values in the same
// order; data of any other form goes through the general path. Nearly
// every stored event is canonical, and matching it directly costs a
// fraction of the general scan.
func canonical(data []byte, fs *fieldSet, vals []jsonValue) (int, bool) {
	p := 0
	for i, name := range fs.names {
		if i > 0 && p+1 == len(data) && data[p] == '}' && fs.optionalFrom(i) {
			return i, true // the optional fields left out are absent
		}
		sep := byte(',')
		if i == 0 {
			sep = '{'
		}
		n := len(name)
		if p+n+4 >= len(data) || data[p] != sep || data[p+1] != '"' || string(data[p+2:p+2+n]) != name || data[p+2+n] != '"' || data[p+3+n] != ':' {
			return 0, false
		}
		p += n + 4
		start := p
		switch c := data[p]; {
		case c == '"':
			p++
			for p+8 <= len(data) && !needsLook(binary.LittleEndian.Uint64(data[p:])) {
				p += 8
			}
			for p < len(data) && data[p] >= 0x20 && data[p] < utf8.RuneSelf && data[p] != '"' && data[p] != '\\' {
				p++
			}
			if p >= len(data) || data[p] != '"' {
				return 0, false
			}
			p++
			vals[i] = jsonValue{raw: data[start:p], kind: kindString}
		case c == '0':
			p++
			vals[i] = jsonValue{raw: data[start:p], kind: kindNumber}
		case c >= '1' && c <= '9':
			for p < len(data) && data[p] >= '0' && data[p] <= '9' {
				p++
			}
			vals[i] = jsonValue{raw: data[start:p], kind: kindNumber}
		default:
			sc := scanner{data: data, pos: p}
			v, err := sc.value(1) // the depth of a member of the top object
			if err != nil {
				return 0, false
			}
			p = sc.pos
			vals[i] = v
		}
	}
	return len(fs.names), p+1 == len(data) && data[p] == '}'
}

// nested decodes a member object (an element of payouts or recipients).
func (d *decoder) nested(v jsonValue, fs *fieldSet, set func(i int, v jsonValue)) {
	if d.err != nil {
		return
	}
	prefix := d.field + "."
	if v.kind != kindObject {
		d.fail(ruleObject)
		return
	}
	var seen uint64
	hint := 0
	_ = forEachMemberOf(v, func(key []byte, m jsonValue) error {
		return d.member(fs, &seen, &hint, prefix, key, m, set)
	})
	if d.err == nil {
		d.missing(fs, seen, prefix)
	}
}

// elements decodes a member array, naming each element field[i].
func (d *decoder) elements(v jsonValue, each func(i int, el jsonValue)) {
	if d.err != nil {
		return
	}
	if v.kind != kindArray {
		d.fail(ruleArray)
		return
	}
	base := d.field
	_ = forEachElement(v, func(i int, el jsonValue) error {
		d.field = base + "[" + strconv.Itoa(i) + "]"
		each(i, el)
		if d.err != nil {
			return errStop
		}
		return nil
	})
	d.field = base
}

// member decodes one member. hint is the index after the previous
// member's: canonical JSON lists the fields in catalogue order, so it is
// tried first.
func (d *decoder) member(fs *fieldSet, seen *uint64, hint *int, prefix string, key []byte, v jsonValue, set func(int, jsonValue)) error {
	i := *hint
	if i >= len(fs.names) || fs.names[i] != string(key) {
		i = 0
		for i < len(fs.names) && fs.names[i] != string(key) {
			i++
		}
	}
	*hint = i + 1
	if i == len(fs.names) {
		d.field = prefix + string(key)
		d.fail(ruleUnknown)
		return errStop
	}
	// Duplicate keys are refused by the scanner before we get here.
	*seen |= 1 << i
	if v.kind == kindNull && fs.optional&(1<<i) != 0 {
		return nil // an optional field written as null is absent
	}
	if prefix == "" {
		d.field = fs.names[i]
	} else {
		d.field = prefix + fs.names[i]
	}
	set(i, v)
	if d.err != nil {
		return errStop
	}
	return nil
}

func (d *decoder) missing(fs *fieldSet, seen uint64, prefix string) {
	for i, name := range fs.names {
		if seen&(1<<i) == 0 && fs.optional&(1<<i) == 0 {
			d.field = prefix + name
			d.fail(ruleRequired)
			return
		}
	}
}

func (d *decoder) str(v jsonValue) string {
	if v.kind != kindString {
		d.fail(ruleString)
		return ""
	}
	if d.borrow {
		return borrowedString(v)
	}
	return stringValue(v)
}

func (d *decoder) uint(v jsonValue) uint64 {
	if v.kind != kindNumber {
		d.fail(ruleInteger)
		return 0
	}
	u, e := parseUintText(string(v.raw))
	switch e {
	case decOK:
		return u
	case decRange:
		d.fail("is too large")
	default:
		d.fail(ruleInteger)
	}
	return 0
}

func (d *decoder) uint32(v jsonValue, max uint64, rangeRule string) uint32 {
	if v.kind != kindNumber {
		d.fail(ruleInteger)
		return 0
	}
	u, e := parseUintText(string(v.raw))
	switch {
	case e == decOK && u <= max:
		return uint32(u)
	case e == decOK || e == decRange || e == decNegative:
		d.fail(rangeRule)
	default:
		d.fail(ruleInteger)
	}
	return 0
}

// baseUnits reads an amount of base units: a string of digits or a JSON
// integer.
func (d *decoder) baseUnits(v jsonValue) BaseUnits {
	var text string
	switch v.kind {
	case kindString:
		text = stringValue(v)
	case kindNumber:
		text = string(v.raw)
	default:
		d.fail(decNotInteger.rule(0))
		return 0
	}
	u, e := parseUintText(text)
	if e != decOK {
		if e == decNotInteger {
			d.fail("must be an integer number of base units (a string of digits or a JSON integer)")
		} else {
			d.fail(e.rule(0))
		}
		return 0
	}
	return BaseUnits(u)
}

// decimal reads a decimal from a JSON string or number, exactly from its
// text, scaled by 10^scale.
func (d *decoder) decimal(v jsonValue, scale int) (hi, lo uint64) {
	var text string
	switch v.kind {
	case kindString:
		text = stringValue(v)
	case kindNumber:
		text = string(v.raw)
	default:
		d.fail(decSyntax.rule(scale))
		return 0, 0
	}
	hi, lo, e := parseScaled(text, scale)
	if e != decOK {
		d.fail(e.rule(scale))
		return 0, 0
	}
	return hi, lo
}

func (d *decoder) usd(v jsonValue) USD {
	hi, lo := d.decimal(v, USDDecimals)
	return USD{hi: hi, lo: lo}
}

// EncodeEvent validates ev and returns its data as canonical JSON: fields
// in catalogue order, amounts and decimals as strings, no HTML escaping.
func EncodeEvent(ev Event) ([]byte, error) {
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	if sp, ok := ev.(*SettlementPlanned); ok && sp.Payouts == nil {
		c := *sp
		c.Payouts = []Payout{} // "payouts" is required: write [] rather than null
		ev = &c
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
