package domain

import (
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"
)

// BaseUnits is an amount of RENDER in base units: 1 RENDER = 10^8 base
// units, the 8 decimals of the SPL mint. In JSON it is written as a string
// of digits ("4700000000000"); a JSON integer is accepted on input.
type BaseUnits uint64

// BaseUnitsPerRender is the number of base units in one RENDER.
const BaseUnitsPerRender = 100_000_000

// RenderDecimals is the number of decimals of the RENDER SPL mint.
const RenderDecimals = 8

// DefaultEmission is the weekly emission to node operators announced at
// launch (47,000 RENDER, RNP-001). It is a default for configuration only:
// the emission of an epoch is the one recorded in its EpochClosed.
const DefaultEmission BaseUnits = 47_000 * BaseUnitsPerRender

// Precision of the decimal quantities, in decimal places.
const (
	OBScoreDecimals = 2  // ob_score
	USDDecimals     = 18 // usd, usd_per_obh, render_usd_price
)

// decimalError classifies why a decimal text was refused.
type decimalError uint8

const (
	decOK decimalError = iota
	decSyntax
	decNegative
	decPrecision
	decRange
	decNotInteger
	decLeadingZero
)

// rule is the user-facing rule broken, for ValidationError.Rule.
func (e decimalError) rule(decimals int) string {
	switch e {
	case decSyntax:
		return "must be a decimal number (a JSON number or a string such as \"12.5\")"
	case decNegative:
		return "must not be negative"
	case decPrecision:
		return "must have at most " + strconv.Itoa(decimals) + " decimal places"
	case decRange:
		return "is too large"
	case decNotInteger:
		return "must be an integer (a string of digits or a JSON integer)"
	case decLeadingZero:
		return "must be an integer without leading zeros"
	}
	return "invalid"
}

// parseScaled parses s, a decimal in the grammar of a JSON number (an
// exponent is allowed; a sign only as '-', which is refused), and returns
// its value × 10^scale as a 128-bit integer. The number of decimal places of
// the text (after applying the exponent) may not exceed scale. Everything is
// integer arithmetic on the digits: no value passes through a float.
func parseScaled(s string, scale int) (hi, lo uint64, e decimalError) {
	sc := scanner{data: []byte(s)}
	if len(s) == 0 || sc.number() != nil || sc.pos != len(s) {
		return 0, 0, decSyntax
	}
	if s[0] == '-' {
		return 0, 0, decNegative
	}
	mant := s
	exp := int64(0)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		es := s[i+1:]
		neg := false
		if es[0] == '+' || es[0] == '-' {
			neg = es[0] == '-'
			es = es[1:]
		}
		es = strings.TrimLeft(es, "0")
		if len(es) > 9 {
			es = "999999999" // clamp: far beyond any precision or range
		}
		if es != "" {
			v, _ := strconv.ParseInt(es, 10, 64)
			exp = v
		}
		if neg {
			exp = -exp
		}
	}
	intPart, frac := mant, ""
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		intPart, frac = mant[:i], mant[i+1:]
	}
	// value = digits × 10^(exp − len(frac)); decimals = max(0, len(frac) − exp)
	shift := exp - int64(len(frac)) + int64(scale)
	if shift < 0 {
		return 0, 0, decPrecision
	}
	for _, part := range [2]string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			var ok bool
			if hi, lo, ok = mulAdd128(hi, lo, 10, uint64(part[i]-'0')); !ok {
				return 0, 0, decRange
			}
		}
	}
	if hi == 0 && lo == 0 {
		return 0, 0, decOK
	}
	if shift > 39 {
		return 0, 0, decRange
	}
	for ; shift > 0; shift-- {
		var ok bool
		if hi, lo, ok = mulAdd128(hi, lo, 10, 0); !ok {
			return 0, 0, decRange
		}
	}
	return hi, lo, decOK
}

// mulAdd128 returns (hi,lo)×m + a and false on overflow of 128 bits.
func mulAdd128(hi, lo, m, a uint64) (uint64, uint64, bool) {
	h1, l := bits.Mul64(lo, m)
	h2o, h2 := bits.Mul64(hi, m)
	if h2o != 0 {
		return 0, 0, false
	}
	h, c := bits.Add64(h1, h2, 0)
	if c != 0 {
		return 0, 0, false
	}
	l, c = bits.Add64(l, a, 0)
	h, c = bits.Add64(h, 0, c)
	if c != 0 {
		return 0, 0, false
	}
	return h, l, true
}

// parseDecimal is parseScaled done by shopspring/decimal: the same grammar,
// the same refusals and the same value. The text parsers at the edges
// (ParseRender, ParseOBScore, ParseUSD: flags, configuration and scenario
// files, schedules, API requests) use it; the decoder on the replay path and
// the UnmarshalJSON methods keep parseScaled, which allocates nothing.
// TestParsersAgreeWithDecimalOracle holds both against an independent
// decimal oracle.
func parseDecimal(s string, scale int) (hi, lo uint64, e decimalError) {
	// decimal.NewFromString is laxer than JSON ("+1", ".5", "1.", "01"):
	// the grammar is checked first, by the decoder's own scanner.
	sc := scanner{data: []byte(s)}
	if len(s) == 0 || sc.number() != nil || sc.pos != len(s) {
		return 0, 0, decSyntax
	}
	if s[0] == '-' {
		return 0, 0, decNegative // "-0" too: the rule is on the text
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		// The text is a JSON number, so decimal refused only the size of its
		// exponent (beyond decimal.MaxDecodeExponent): the value is 0 or lies
		// far outside every scale and range. parseScaled classifies it.
		return parseScaled(s, scale)
	}
	// NewFromString keeps the text's places ("1.50" has exponent -2), the
	// rule being on the text as written, not on the value.
	if -int64(d.Exponent()) > int64(scale) {
		return 0, 0, decPrecision
	}
	if d.IsZero() {
		return 0, 0, decOK
	}
	// Bound the size before Shift makes the integer: n digits × 10^(exp +
	// scale) ≥ 10^39 > 2^128 when n + exp + scale > 39.
	if int64(d.NumDigits())+int64(d.Exponent())+int64(scale) > 39 {
		return 0, 0, decRange
	}
	v := d.Shift(int32(scale)).BigInt() // exact: the exponent is ≥ 0 now
	if v.BitLen() > 128 {
		return 0, 0, decRange
	}
	var buf [16]byte
	v.FillBytes(buf[:])
	return be64(buf[:8]), be64(buf[8:]), decOK
}

// parseUintText parses an unsigned decimal integer written as digits only,
// without sign, leading zeros, fraction or exponent.
func parseUintText(s string) (uint64, decimalError) {
	if len(s) == 0 {
		return 0, decNotInteger
	}
	if s[0] == '-' {
		if len(s) > 1 && s[1] >= '0' && s[1] <= '9' {
			return 0, decNegative
		}
		return 0, decNotInteger
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, decNotInteger
		}
		if i > 0 && s[0] == '0' {
			return 0, decLeadingZero
		}
		hi, lo := bits.Mul64(v, 10)
		if hi != 0 {
			return 0, decRange
		}
		var carry uint64
		v, carry = bits.Add64(lo, uint64(c-'0'), 0)
		if carry != 0 {
			return 0, decRange
		}
	}
	return v, decOK
}

// ParseRender parses a RENDER amount in decimal text ("47000", "1.5",
// "0.00000001") into base units. More than 8 decimal places, a sign, an
// exponent and amounts beyond uint64 base units are refused. It reads
// configuration (flags, scenario and schedule files) with shopspring/decimal
// (parseDecimal); the decoder reads the RENDER amounts of events with
// parseScaled under the same rules.
func ParseRender(s string) (BaseUnits, error) {
	if strings.ContainsAny(s, "eE") {
		return 0, fmt.Errorf("domain: RENDER amount %q: must be plain decimal text", s)
	}
	hi, lo, e := parseDecimal(s, RenderDecimals)
	if e == decOK && hi != 0 {
		e = decRange
	}
	if e != decOK {
		return 0, fmt.Errorf("domain: RENDER amount %q: %s", s, e.rule(RenderDecimals))
	}
	return BaseUnits(lo), nil
}

// ParseBaseUnits parses an integer number of base units ("4700000000000").
func ParseBaseUnits(s string) (BaseUnits, error) {
	v, e := parseUintText(s)
	if e != decOK {
		return 0, fmt.Errorf("domain: base units %q: %s", s, e.rule(0))
	}
	return BaseUnits(v), nil
}

// String returns the amount in base units as decimal digits, the form used
// in JSON.
func (b BaseUnits) String() string { return strconv.FormatUint(uint64(b), 10) }

// RenderString returns the amount in RENDER: "47000", "1.5", "0.00000001";
// no exponent, no trailing zeros. A negative exponent never takes
// decimal's scientific form; the trimming is decimal.TrimTrailingZeros,
// true unless a program changes it (this module never does).
func (b BaseUnits) RenderString() string {
	return decimal.NewFromUint64(uint64(b)).Shift(-RenderDecimals).String()
}

// MarshalJSON writes the amount as a JSON string of digits.
func (b BaseUnits) MarshalJSON() ([]byte, error) {
	b2 := strconv.AppendUint(append(make([]byte, 0, 22), '"'), uint64(b), 10)
	return append(b2, '"'), nil
}

// UnmarshalJSON accepts a JSON string of digits or a JSON integer.
func (b *BaseUnits) UnmarshalJSON(data []byte) error {
	v, ok, err := jsonTokenText(data)
	if err != nil || !ok {
		return err
	}
	u, e := parseUintText(v)
	if e != decOK {
		return errors.New("domain: base units: " + e.rule(0))
	}
	*b = BaseUnits(u)
	return nil
}

// AddBaseUnits returns a+b and false on overflow.
func AddBaseUnits(a, b BaseUnits) (BaseUnits, bool) {
	s, c := bits.Add64(uint64(a), uint64(b), 0)
	return BaseUnits(s), c == 0
}

// OBScore is an OctaneBench score in hundredths ("860.5" is 86050). In JSON
// it is a decimal string; a JSON number is accepted on input and parsed
// from its text.
type OBScore uint64

// ParseOBScore parses an OctaneBench score: a decimal with at most 2
// decimal places. Zero is accepted here; events require ob_score > 0. Text
// from configuration and requests goes through shopspring/decimal.
func ParseOBScore(s string) (OBScore, error) { return parseOBScore(s, parseDecimal) }

// parseOBScore is ParseOBScore with the parser given: parseDecimal at the
// edges, parseScaled for JSON.
func parseOBScore(s string, parse func(string, int) (uint64, uint64, decimalError)) (OBScore, error) {
	hi, lo, e := parse(s, OBScoreDecimals)
	if e == decOK && hi != 0 {
		e = decRange
	}
	if e != decOK {
		return 0, fmt.Errorf("domain: OctaneBench score %q: %s", s, e.rule(OBScoreDecimals))
	}
	return OBScore(lo), nil
}

// String returns the score as decimal text without trailing zeros.
func (o OBScore) String() string {
	whole, frac := uint64(o)/100, uint64(o)%100
	switch {
	case frac == 0:
		return strconv.FormatUint(whole, 10)
	case frac%10 == 0:
		return strconv.FormatUint(whole, 10) + "." + strconv.FormatUint(frac/10, 10)
	default:
		return strconv.FormatUint(whole, 10) + "." + strconv.FormatUint(frac+100, 10)[1:]
	}
}

// MarshalJSON writes the score as a JSON string.
func (o OBScore) MarshalJSON() ([]byte, error) { return strconv.AppendQuote(nil, o.String()), nil }

// UnmarshalJSON accepts a JSON string or number.
func (o *OBScore) UnmarshalJSON(data []byte) error {
	v, ok, err := jsonTokenText(data)
	if err != nil || !ok {
		return err
	}
	p, err := parseOBScore(v, parseScaled)
	if err != nil {
		return err
	}
	*o = p
	return nil
}

// USD is an exact non-negative amount of US dollars with 18 decimal places,
// held as a 128-bit count of 10^-18 USD (up to about 3.4 × 10^20 USD). In
// JSON it is a decimal string; a JSON number is accepted on input and parsed
// from its text, never through a float.
type USD struct{ hi, lo uint64 }

// ParseUSD parses a non-negative decimal with at most 18 decimal places.
// Text from configuration and requests goes through shopspring/decimal.
func ParseUSD(s string) (USD, error) { return parseUSD(s, parseDecimal) }

// parseUSD is ParseUSD with the parser given: parseDecimal at the edges,
// parseScaled for JSON.
func parseUSD(s string, parse func(string, int) (uint64, uint64, decimalError)) (USD, error) {
	hi, lo, e := parse(s, USDDecimals)
	if e != decOK {
		return USD{}, fmt.Errorf("domain: USD amount %q: %s", s, e.rule(USDDecimals))
	}
	return USD{hi: hi, lo: lo}, nil
}

// USDFromAtto returns the amount of atto units (10^-18 USD) given.
func USDFromAtto(atto *big.Int) (USD, error) {
	if atto.Sign() < 0 || atto.BitLen() > 128 {
		return USD{}, fmt.Errorf("domain: USD amount out of range: %s atto", atto)
	}
	var buf [16]byte
	atto.FillBytes(buf[:])
	return USD{hi: be64(buf[:8]), lo: be64(buf[8:])}, nil
}

func be64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

// Atto returns the amount in units of 10^-18 USD.
func (u USD) Atto() *big.Int {
	x := new(big.Int).SetUint64(u.hi)
	x.Lsh(x, 64)
	return x.Or(x, new(big.Int).SetUint64(u.lo))
}

// IsZero reports whether the amount is zero.
func (u USD) IsZero() bool { return u.hi == 0 && u.lo == 0 }

// Cmp compares u and v: -1, 0 or +1.
func (u USD) Cmp(v USD) int {
	switch {
	case u.hi < v.hi || (u.hi == v.hi && u.lo < v.lo):
		return -1
	case u == v:
		return 0
	}
	return 1
}

var attoPerUSD = big.NewInt(1_000_000_000_000_000_000)

// String returns the amount as decimal text: no exponent, no trailing zeros.
func (u USD) String() string {
	if u.hi == 0 {
		whole, frac := u.lo/1e18, u.lo%1e18
		return joinDecimal(strconv.FormatUint(whole, 10), frac, 18)
	}
	q, r := new(big.Int).QuoRem(u.Atto(), attoPerUSD, new(big.Int))
	return joinDecimal(q.String(), r.Uint64(), 18)
}

// joinDecimal writes whole[.frac] with frac < 10^digits, trailing zeros cut.
func joinDecimal(whole string, frac uint64, digits int) string {
	if frac == 0 {
		return whole
	}
	fs := strconv.FormatUint(frac, 10)
	return whole + "." + strings.TrimRight(strings.Repeat("0", digits-len(fs))+fs, "0")
}

// MarshalJSON writes the amount as a JSON string.
func (u USD) MarshalJSON() ([]byte, error) { return strconv.AppendQuote(nil, u.String()), nil }

// UnmarshalJSON accepts a JSON string or number.
func (u *USD) UnmarshalJSON(data []byte) error {
	v, ok, err := jsonTokenText(data)
	if err != nil || !ok {
		return err
	}
	p, err := parseUSD(v, parseScaled)
	if err != nil {
		return err
	}
	*u = p
	return nil
}

// BurnedBaseUnits returns the RENDER to burn for a payment of usd at
// renderUSDPrice USD per RENDER: ceil(usd × 10^8 / render_usd_price) base
// units, so the network never under-burns.
func BurnedBaseUnits(usd, renderUSDPrice USD) (BaseUnits, error) {
	if renderUSDPrice.IsZero() {
		return 0, errors.New("domain: burn: render_usd_price must be > 0")
	}
	num := usd.Atto()
	num.Mul(num, big.NewInt(BaseUnitsPerRender))
	den := renderUSDPrice.Atto()
	q, r := num.QuoRem(num, den, new(big.Int))
	if r.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsUint64() {
		return 0, errors.New("domain: burn: amount exceeds the range of base units")
	}
	return BaseUnits(q.Uint64()), nil
}

// jsonTokenText returns the text of a JSON string or number token for the
// UnmarshalJSON methods; ok is false for null (leave the value unchanged).
func jsonTokenText(data []byte) (string, bool, error) {
	sc := scanner{data: data}
	sc.skipWS()
	v, err := sc.value(0)
	if err == nil {
		sc.skipWS()
		if sc.pos != len(data) {
			err = sc.fail("unexpected data after value")
		}
	}
	if err != nil {
		return "", false, err
	}
	switch v.kind {
	case kindString:
		return stringValue(v), true, nil
	case kindNumber:
		return string(v.raw), true, nil
	case kindNull:
		return "", false, nil
	}
	return "", false, errors.New("domain: expected a JSON string or number, found " + v.kind.String())
}
