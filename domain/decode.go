package domain

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
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
	return decodeEvent(typ, data, false, nil)
}

// FrameArena holds the structs of the frame events a replay decodes into
// one batch, so that batch after batch reuses them instead of allocating a
// struct per event. An event decoded into the arena is valid until Reset.
type FrameArena struct {
	assigned []FrameAssigned
	rendered []FrameRendered
	accepted []FrameAccepted
	rejected []FrameRejected
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
// where frame events' structs come from (nil: new ones).
func decodeData(typ string, data []byte, borrow bool, arena *FrameArena) (Event, error) {
	d := decoder{event: typ, borrow: borrow}
	var ev Event
	switch typ {
	case TypeNodeRegistered:
		e := new(NodeRegistered)
		ev = e
		d.fields(data, nodeRegisteredFields, func(i int, v jsonValue) {
			switch i {
			case 0:
				e.NodeID = d.str(v)
			case 1:
				e.OperatorID = d.str(v)
			case 2:
				e.NodePubkey = d.str(v)
			case 3:
				e.GPU = d.str(v)
			case 4:
				hi, lo := d.decimal(v, OBScoreDecimals)
				if hi != 0 {
					d.fail(decRange.rule(0))
				}
				e.OBScore = OBScore(lo)
			case 5:
				if u := d.uint32(v, MaxVRAMGB, ruleVRAM); u == 0 {
					d.fail(ruleVRAM)
				} else {
					e.VRAMGB = u
				}
			}
		})
	case TypeOperatorWalletSet:
		e := new(OperatorWalletSet)
		ev = e
		d.fields(data, operatorWalletSetFields, func(i int, v jsonValue) {
			switch i {
			case 0:
				e.OperatorID = d.str(v)
			case 1:
				e.Wallet = d.str(v)
			case 2:
				e.EthAddress = d.str(v)
			}
		})
	case TypeJobSubmitted:
		e := new(JobSubmitted)
		ev = e
		d.fields(data, jobSubmittedFields, func(i int, v jsonValue) {
			switch i {
			case 0:
				e.JobID = d.str(v)
			case 1:
				e.Artist = d.str(v)
			case 2:
				e.SceneHash = d.str(v)
			case 3:
				e.Frames = d.uint32(v, MaxFrames, ruleFrames)
			case 4:
				e.USDPerOBh = d.usd(v)
			}
		})
	case TypeFrameAssigned:
		e := arena.newAssigned()
		ev = e
		d.fields(data, frameAssignedFields, func(i int, v jsonValue) {
			switch i {
			case 0:
				e.JobID = d.str(v)
			case 1:
				e.Frame = d.uint32(v, MaxFrames-1, ruleFrame)
			case 2:
				e.NodeID = d.str(v)
			case 3:
				e.LeaseUntil = d.str(v)
			case 4:
				e.MaxLeases = d.uint32(v, MaxLeases, ruleMaxLeases)
			}
		})
	case TypeFrameRendered:
		e := arena.newRendered()
		ev = e
		d.fields(data, frameRenderedFields, func(i int, v jsonValue) {
			switch i {
			case 0:
				e.JobID = d.str(v)
			case 1:
				e.Frame = d.uint32(v, MaxFrames-1, ruleFrame)
			case 2:
				e.NodeID = d.str(v)
			case 3:
				e.OutputHash = d.str(v)
			case 4:
				e.DurationMS = d.uint(v)
			case 5:
				if v.kind != kindObject {
					d.fail(ruleObject)
				}
				if d.borrow {
					e.Telemetry = v.raw
				} else {
					e.Telemetry = bytes.Clone(v.raw)
				}
			case 6:
				e.Signature = d.str(v)
			}
		})
	case TypeFrameAccepted:
		e := arena.newAccepted()
		ev = e
		d.fields(data, frameAcceptedFields, func(i int, v jsonValue) {
			switch i {
			case 0:
				e.JobID = d.str(v)
			case 1:
				e.Frame = d.uint32(v, MaxFrames-1, ruleFrame)
			case 2:
				e.NodeID = d.str(v)
			}
		})
	case TypeFrameRejected:
		e := arena.newRejected()
		ev = e
		d.fields(data, frameRejectedFields, func(i int, v jsonValue) {
			switch i {
			case 0:
				e.JobID = d.str(v)
			case 1:
				e.Frame = d.uint32(v, MaxFrames-1, ruleFrame)
			case 2:
				e.NodeID = d.str(v)
			case 3:
				e.Reason = d.str(v)
			}
		})
	case TypeComputeWorkCompleted:
		e := new(ComputeWorkCompleted)
		ev = e
		d.fields(data, computeWorkCompletedFields, func(i int, v jsonValue) {
			switch i {
			case 0:
				e.TaskID = d.str(v)
			case 1:
				e.NodeID = d.str(v)
			case 2:
				e.Client = d.str(v)
			case 3:
				e.DurationMS = d.uint(v)
			case 4:
				e.USD = d.usd(v)
			case 5:
				e.OutputHash = d.str(v)
			case 6:
				e.Signature = d.str(v)
			case 7:
				e.ClientSignature = d.str(v)
			}
		})
	case TypeComputeClientRegistered:
		ev = decodeComputeClientRegistered(&d, data)
	case TypeJobCompleted:
		e := new(JobCompleted)
		ev = e
		d.fields(data, jobCompletedFields, func(i int, v jsonValue) {
			switch i {
			case 0:
				e.JobID = d.str(v)
			case 1:
				e.ProvenanceRoot = d.str(v)
			}
		})
	case TypeBurnRecorded:
		e := new(BurnRecorded)
		ev = e
		d.fields(data, burnRecordedFields, func(i int, v jsonValue) {
			switch i {
			case 0:
				e.JobID = d.str(v)
			case 1:
				e.USD = d.usd(v)
			case 2:
				e.RenderUSDPrice = d.usd(v)
			case 3:
				e.Burned = d.baseUnits(v)
			case 4:
				e.TxSignature = d.str(v)
			}
		})
	case TypeEpochClosed:
		e := new(EpochClosed)
		ev = e
		d.fields(data, epochClosedFields, func(i int, v jsonValue) {
			switch i {
			case 0:
				e.Epoch = d.uint(v)
			case 1:
				e.Emission = d.baseUnits(v)
			case 2:
				e.Channels = d.channels(v, d.baseUnits)
			}
		})
	case TypeBridgeConverted:
		e := new(BridgeConverted)
		ev = e
		d.fields(data, bridgeConvertedFields, func(i int, v jsonValue) {
			switch i {
			case 0:
				e.EthTx = d.str(v)
			case 1:
				e.LogIndex = d.uint(v)
			case 2:
				e.EthAddress = d.str(v)
			case 3:
				switch v.kind {
				case kindString:
					e.RNDRWei = stringValue(v)
				case kindNumber:
					e.RNDRWei = string(v.raw) // checked by Validate: digits only
				default:
					d.fail(ruleWei)
				}
			case 4:
				e.Render = d.baseUnits(v)
			}
		})
	case TypeSettlementPlanned:
		e := new(SettlementPlanned)
		ev = e
		d.fields(data, settlementPlannedFields, func(i int, v jsonValue) {
			switch i {
			case 0:
				e.Epoch = d.uint(v)
			case 1:
				e.Root = d.str(v)
			case 2:
				e.Total = d.baseUnits(v)
			case 3:
				e.Payouts = []Payout{} // present, possibly empty
				d.elements(v, func(j int, el jsonValue) {
					var p Payout
					d.nested(el, payoutFields, func(k int, f jsonValue) {
						switch k {
						case 0:
							p.OperatorID = d.str(f)
						case 1:
							p.Wallet = d.str(f)
						case 2:
							p.Amount = d.baseUnits(f)
						case 3:
							d.elements(f, func(_ int, x jsonValue) {
								p.Epochs = append(p.Epochs, d.uint(x))
							})
						}
					})
					e.Payouts = append(e.Payouts, p)
				})
			case 4:
				e.Part = d.uint(v)
			case 5:
				e.Parts = d.uint(v)
			case 6:
				e.LogHead = d.str(v)
			}
		})
	case TypePayoutSubmitted:
		e := new(PayoutSubmitted)
		ev = e
		d.fields(data, payoutSubmittedFields, func(i int, v jsonValue) {
			switch i {
			case 0:
				e.Epoch = d.uint(v)
			case 1:
				e.Signature = d.str(v)
			case 2:
				e.Recipients = []Recipient{}
				d.elements(v, func(j int, el jsonValue) {
					var r Recipient
					d.nested(el, recipientFields, func(k int, f jsonValue) {
						switch k {
						case 0:
							r.OperatorID = d.str(f)
						case 1:
							r.Wallet = d.str(f)
						case 2:
							r.Amount = d.baseUnits(f)
						}
					})
					e.Recipients = append(e.Recipients, r)
				})
			case 3:
				e.Blockhash = d.str(v)
			case 4:
				e.LastValidBlockHeight = d.uint(v)
			case 5:
				e.Transaction = d.str(v)
			case 6:
				e.LookupTables = d.strs(v)
			case 7:
				e.LoadedAddresses = d.loadedAddresses(v)
			}
		})
	case TypePayoutConfirmed:
		e := new(PayoutConfirmed)
		ev = e
		d.fields(data, payoutConfirmedFields, func(i int, v jsonValue) {
			switch i {
			case 0:
				e.Epoch = d.uint(v)
			case 1:
				e.Signature = d.str(v)
			case 2:
				e.Slot = d.uint(v)
			}
		})
	case TypePayoutExpired:
		e := new(PayoutExpired)
		ev = e
		d.fields(data, payoutExpiredFields, func(i int, v jsonValue) {
			switch i {
			case 0:
				e.Epoch = d.uint(v)
			case 1:
				e.Signature = d.str(v)
			}
		})
	case TypeEmissionScheduleSet:
		ev = decodeEmissionScheduleSet(&d, data)
	case TypeNodeAvailability:
		ev = decodeNodeAvailability(&d, data)
	case TypeLookupTableCreated:
		ev = decodeLookupTableCreated(&d, data)
	case TypeLookupTableExtended:
		ev = decodeLookupTableExtended(&d, data)
	default:
		return nil, invalid(typ, "type", "unknown event type")
	}
	if d.err != nil {
		return nil, d.err
	}
	return ev, nil
}

// fieldSet lists the JSON fields of one object in catalogue order; the bit
// i of optional marks names[i] optional.
type fieldSet struct {
	names    []string
	optional uint64
}

var (
	nodeRegisteredFields       = fieldSet{names: []string{"node_id", "operator_id", "node_pubkey", "gpu", "ob_score", "vram_gb"}, optional: 1 << 5}
	operatorWalletSetFields    = fieldSet{names: []string{"operator_id", "wallet", "eth_address"}, optional: 1 << 2}
	jobSubmittedFields         = fieldSet{names: []string{"job_id", "artist", "scene_hash", "frames", "usd_per_obh"}}
	frameAssignedFields        = fieldSet{names: []string{"job_id", "frame", "node_id", "lease_until", "max_leases"}, optional: 1 << 4}
	frameRenderedFields        = fieldSet{names: []string{"job_id", "frame", "node_id", "output_hash", "duration_ms", "telemetry", "signature"}}
	frameAcceptedFields        = fieldSet{names: []string{"job_id", "frame", "node_id"}}
	frameRejectedFields        = fieldSet{names: []string{"job_id", "frame", "node_id", "reason"}}
	computeWorkCompletedFields = fieldSet{names: []string{"task_id", "node_id", "client", "duration_ms", "usd", "output_hash", "signature", "client_signature"}, optional: 1 << 7}
	jobCompletedFields         = fieldSet{names: []string{"job_id", "provenance_root"}}
	burnRecordedFields         = fieldSet{names: []string{"job_id", "usd", "render_usd_price", "burned", "tx_signature"}}
	epochClosedFields          = fieldSet{names: []string{"epoch", "emission", "channels"}, optional: 1 << 2}
	bridgeConvertedFields      = fieldSet{names: []string{"eth_tx", "log_index", "eth_address", "rndr_wei", "render"}}
	settlementPlannedFields    = fieldSet{names: []string{"epoch", "root", "total", "payouts", "part", "parts", "log_head"}, optional: 1<<4 | 1<<5 | 1<<6}
	payoutFields               = fieldSet{names: []string{"operator_id", "wallet", "amount", "epochs"}, optional: 1 << 3}
	payoutSubmittedFields      = fieldSet{names: []string{"epoch", "signature", "recipients", "blockhash", "last_valid_block_height", "transaction", "lookup_tables", "loaded_addresses"}, optional: 1<<5 | 1<<6 | 1<<7}
	recipientFields            = fieldSet{names: []string{"operator_id", "wallet", "amount"}}
	payoutConfirmedFields      = fieldSet{names: []string{"epoch", "signature", "slot"}}
	payoutExpiredFields        = fieldSet{names: []string{"epoch", "signature"}}
)

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

// fields decodes data, which must be a JSON object, calling set for each
// known member with its index in fs.
func (d *decoder) fields(data []byte, fs fieldSet, set func(i int, v jsonValue)) {
	var vals [8]jsonValue
	if n := len(fs.names); n <= len(vals) && !noCanonicalPath {
		if m, ok := canonical(data, &fs, vals[:n]); ok {
			d.setAll(fs, vals[:m], set)
			return
		}
	}
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

// setAll calls set for each value the canonical path matched, in order.
func (d *decoder) setAll(fs fieldSet, vals []jsonValue, set func(i int, v jsonValue)) {
	for i, v := range vals {
		if v.kind == kindNull && fs.optional&(1<<i) != 0 {
			continue // an optional field written as null is absent
		}
		d.field = fs.names[i]
		set(i, v)
		if d.err != nil {
			return
		}
	}
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
func (d *decoder) nested(v jsonValue, fs fieldSet, set func(i int, v jsonValue)) {
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
func (d *decoder) member(fs fieldSet, seen *uint64, hint *int, prefix string, key []byte, v jsonValue, set func(int, jsonValue)) error {
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

func (d *decoder) missing(fs fieldSet, seen uint64, prefix string) {
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
