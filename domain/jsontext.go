package domain

import (
	"encoding/binary"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// This file holds a small strict JSON scanner. Envelopes and event data are
// read with it instead of encoding/json because the ledger needs what the
// standard decoder does not give: duplicate keys refused (two parsers must
// never read different values from one line), invalid UTF-8 refused, the
// exact text of numbers (amounts are parsed from it, never through float64),
// the raw bytes of a value (data is stored byte for byte), and speed without
// reflection on the replay path.

// valueKind is the JSON type of a scanned value.
type valueKind uint8

const (
	kindString valueKind = iota + 1
	kindNumber
	kindObject
	kindArray
	kindTrue
	kindFalse
	kindNull
)

func (k valueKind) String() string {
	switch k {
	case kindString:
		return "string"
	case kindNumber:
		return "number"
	case kindObject:
		return "object"
	case kindArray:
		return "array"
	case kindTrue, kindFalse:
		return "boolean"
	case kindNull:
		return "null"
	}
	return "invalid"
}

// maxJSONDepth bounds nesting, as encoding/json does.
const maxJSONDepth = 10000

// jsonValue is one scanned value: its raw bytes and kind. For strings,
// escaped says whether raw (quotes included) holds backslash escapes.
type jsonValue struct {
	raw     []byte
	kind    valueKind
	escaped bool
}

// syntaxError describes malformed JSON at a byte offset.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string {
	return "invalid JSON at byte " + strconv.Itoa(e.off) + ": " + e.msg
}

type scanner struct {
	data []byte
	pos  int
}

func (s *scanner) fail(msg string) error { return &syntaxError{off: s.pos, msg: msg} }

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (s *scanner) skipWS() {
	for s.pos < len(s.data) && isWS(s.data[s.pos]) {
		s.pos++
	}
}

// value scans the value at s.pos (no leading whitespace) and returns it.
func (s *scanner) value(depth int) (jsonValue, error) {
	if s.pos >= len(s.data) {
		return jsonValue{}, s.fail("unexpected end of input")
	}
	start := s.pos
	switch c := s.data[s.pos]; {
	case c == '"':
		escaped, err := s.str()
		return jsonValue{raw: s.data[start:s.pos], kind: kindString, escaped: escaped}, err
	case c == '{':
		err := s.object(depth+1, nil)
		return jsonValue{raw: s.data[start:s.pos], kind: kindObject}, err
	case c == '[':
		err := s.array(depth+1, nil)
		return jsonValue{raw: s.data[start:s.pos], kind: kindArray}, err
	case c == '-' || (c >= '0' && c <= '9'):
		err := s.number()
		return jsonValue{raw: s.data[start:s.pos], kind: kindNumber}, err
	case c == 't':
		return jsonValue{raw: s.data[start : start+min(4, len(s.data)-start)], kind: kindTrue}, s.literal("true")
	case c == 'f':
		return jsonValue{raw: s.data[start : start+min(5, len(s.data)-start)], kind: kindFalse}, s.literal("false")
	case c == 'n':
		return jsonValue{raw: s.data[start : start+min(4, len(s.data)-start)], kind: kindNull}, s.literal("null")
	default:
		return jsonValue{}, s.fail("unexpected character " + strconv.QuoteRune(rune(c)))
	}
}

func (s *scanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return s.fail("invalid literal")
	}
	s.pos += len(lit)
	return nil
}

// str scans a string starting at the opening quote. It refuses control
// characters, bad escapes, lone surrogates and invalid UTF-8.
// needsLook reports whether any byte of w (eight bytes of a string) is a
// control character, '"', '\\' or not ASCII: the bytes the byte-by-byte
// loop must see. It may not say which; it never misses one.
func needsLook(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	hasZero := func(v uint64) uint64 { return (v - ones) &^ v & highs }
	less20 := (w - 0x20*ones) &^ w & highs // a byte below 0x20 (exact when no high bit is set)
	return (w&highs)|less20|hasZero(w^('"'*ones))|hasZero(w^('\\'*ones)) != 0
}

func (s *scanner) str() (escaped bool, err error) {
	s.pos++ // opening quote
	for {
		// Fast run over plain ASCII, eight bytes at a time while none of
		// them needs a look (hashes and signatures are long plain runs).
		for s.pos+8 <= len(s.data) && !needsLook(binary.LittleEndian.Uint64(s.data[s.pos:])) {
			s.pos += 8
		}
		for s.pos < len(s.data) {
			c := s.data[s.pos]
			if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
				break
			}
			s.pos++
		}
		if s.pos >= len(s.data) {
			return escaped, s.fail("unterminated string")
		}
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			return escaped, nil
		case c < 0x20:
			return escaped, s.fail("control character in string")
		case c == '\\':
			escaped = true
			if s.pos+1 >= len(s.data) {
				return escaped, s.fail("unterminated string")
			}
			switch s.data[s.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos += 2
			case 'u':
				r, ok := hex4(s.data, s.pos+2)
				if !ok {
					return escaped, s.fail("invalid \\u escape")
				}
				s.pos += 6
				if utf16.IsSurrogate(r) {
					// A high surrogate must be followed by an escaped low one.
					if r >= 0xDC00 || s.pos+1 >= len(s.data) || s.data[s.pos] != '\\' || s.data[s.pos+1] != 'u' {
						return escaped, s.fail("lone surrogate in \\u escape")
					}
					r2, ok := hex4(s.data, s.pos+2)
					if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
						return escaped, s.fail("lone surrogate in \\u escape")
					}
					s.pos += 6
				}
			default:
				return escaped, s.fail("invalid escape")
			}
		default: // multi-byte UTF-8
			r, size := utf8.DecodeRune(s.data[s.pos:])
			if r == utf8.RuneError && size <= 1 {
				return escaped, s.fail("invalid UTF-8 in string")
			}
			s.pos += size
		}
	}
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// number scans a number with the grammar of RFC 8259.
func (s *scanner) number() error {
	d := s.data
	if s.pos < len(d) && d[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(d) && d[s.pos] == '0':
		s.pos++
	case s.pos < len(d) && d[s.pos] >= '1' && d[s.pos] <= '9':
		for s.pos < len(d) && d[s.pos] >= '0' && d[s.pos] <= '9' {
			s.pos++
		}
	default:
		return s.fail("invalid number")
	}
	if s.pos < len(d) && d[s.pos] == '.' {
		s.pos++
		n := s.pos
		for s.pos < len(d) && d[s.pos] >= '0' && d[s.pos] <= '9' {
			s.pos++
		}
		if s.pos == n {
			return s.fail("invalid number")
		}
	}
	if s.pos < len(d) && (d[s.pos] == 'e' || d[s.pos] == 'E') {
		s.pos++
		if s.pos < len(d) && (d[s.pos] == '+' || d[s.pos] == '-') {
			s.pos++
		}
		n := s.pos
		for s.pos < len(d) && d[s.pos] >= '0' && d[s.pos] <= '9' {
			s.pos++
		}
		if s.pos == n {
			return s.fail("invalid number")
		}
	}
	return nil
}

// object scans an object starting at '{'. When fn is not nil it is called
// for every member with the key (unescaped; valid only during the call) and
// the value. Duplicate keys are refused at every depth.
func (s *scanner) object(depth int, fn func(key []byte, v jsonValue) error) error {
	if depth > maxJSONDepth {
		return s.fail("nesting too deep")
	}
	s.pos++ // '{'
	s.skipWS()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	// Seen keys, for duplicate detection: a short list while small (no
	// allocation for unescaped keys, which point into the input), a set
	// beyond that so huge objects stay linear.
	var (
		scratch [16][]byte
		keys    = scratch[:0]
		keySet  map[string]struct{}
		keyBuf  []byte
	)
	for {
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.fail("expected string key")
		}
		kStart := s.pos
		escaped, err := s.str()
		if err != nil {
			return err
		}
		key := s.data[kStart+1 : s.pos-1]
		if escaped {
			keyBuf = unescape(keyBuf[:0], key)
			key = keyBuf
		}
		dup := false
		if keySet != nil {
			if _, dup = keySet[string(key)]; !dup {
				keySet[string(key)] = struct{}{}
			}
		} else {
			for _, k := range keys {
				if string(k) == string(key) {
					dup = true
					break
				}
			}
			if !dup {
				if len(keys) == cap(keys) {
					keySet = make(map[string]struct{}, 2*len(keys))
					for _, k := range keys {
						keySet[string(k)] = struct{}{}
					}
					keySet[string(key)] = struct{}{}
				} else if escaped {
					keys = append(keys, append([]byte(nil), key...))
				} else {
					keys = append(keys, key)
				}
			}
		}
		if dup {
			return &syntaxError{off: kStart, msg: "duplicate key " + strconv.Quote(string(key))}
		}
		s.skipWS()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return s.fail("expected ':' after key")
		}
		s.pos++
		s.skipWS()
		v, err := s.value(depth)
		if err != nil {
			return err
		}
		if fn != nil {
			if err := fn(key, v); err != nil {
				return err
			}
		}
		s.skipWS()
		if s.pos >= len(s.data) {
			return s.fail("unterminated object")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.skipWS()
		case '}':
			s.pos++
			return nil
		default:
			return s.fail("expected ',' or '}' in object")
		}
	}
}

// array scans an array starting at '['. When fn is not nil it is called for
// every element with its index.
func (s *scanner) array(depth int, fn func(i int, v jsonValue) error) error {
	if depth > maxJSONDepth {
		return s.fail("nesting too deep")
	}
	s.pos++ // '['
	s.skipWS()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return nil
	}
	for i := 0; ; i++ {
		v, err := s.value(depth)
		if err != nil {
			return err
		}
		if fn != nil {
			if err := fn(i, v); err != nil {
				return err
			}
		}
		s.skipWS()
		if s.pos >= len(s.data) {
			return s.fail("unterminated array")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.skipWS()
		case ']':
			s.pos++
			return nil
		default:
			return s.fail("expected ',' or ']' in array")
		}
	}
}

// forEachMember scans data, which must hold exactly one JSON object
// (surrounding whitespace allowed), and calls fn for each member. It returns
// the raw bytes of the object without the surrounding whitespace. A
// *syntaxError reports malformed input; errors of fn are returned as is.
func forEachMember(data []byte, fn func(key []byte, v jsonValue) error) ([]byte, error) {
	s := scanner{data: data}
	s.skipWS()
	if s.pos >= len(data) || data[s.pos] != '{' {
		if s.pos >= len(data) {
			return nil, s.fail("expected an object, found end of input")
		}
		return nil, s.fail("expected an object")
	}
	start := s.pos
	if err := s.object(1, fn); err != nil {
		return nil, err
	}
	end := s.pos
	s.skipWS()
	if s.pos != len(data) {
		return nil, s.fail("unexpected data after the object")
	}
	return data[start:end], nil
}

// forEachElement calls fn for each element of a scanned array value.
func forEachElement(v jsonValue, fn func(i int, e jsonValue) error) error {
	s := scanner{data: v.raw}
	return s.array(1, fn)
}

// forEachMemberOf calls fn for each member of a scanned object value.
func forEachMemberOf(v jsonValue, fn func(key []byte, m jsonValue) error) error {
	s := scanner{data: v.raw}
	return s.object(1, fn)
}

// stringValue returns the unescaped content of a scanned string value.
func stringValue(v jsonValue) string {
	inner := v.raw[1 : len(v.raw)-1]
	if !v.escaped {
		return string(inner)
	}
	return string(unescape(nil, inner))
}

// borrowedString is stringValue without the copy when the string holds no
// escapes: the result shares v.raw's bytes (see DecodeEventBorrowed).
func borrowedString(v jsonValue) string {
	inner := v.raw[1 : len(v.raw)-1]
	if v.escaped {
		return string(unescape(nil, inner))
	}
	if len(inner) == 0 {
		return ""
	}
	return unsafe.String(&inner[0], len(inner))
}

// unescape appends the decoded form of the inside of a string that str()
// accepted (so every escape is well formed).
func unescape(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		c := src[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch src[i+1] {
		case '"', '\\', '/':
			dst = append(dst, src[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(src, i+2)
			if utf16.IsSurrogate(r) {
				r2, _ := hex4(src, i+8)
				r = utf16.DecodeRune(r, r2)
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
			i += 6
			continue
		}
		i += 2
	}
	return dst
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD
// so the output is always valid JSON.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size > 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			const hexDigits = "0123456789abcdef"
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
