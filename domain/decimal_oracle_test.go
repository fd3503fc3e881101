package domain

import (
	"encoding/json"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The decimal texts of events are read by the hand-written parseScaled and
// parseUintText (the replay path); configuration and requests by
// parseDecimal (shopspring/decimal). These tests hold both against an
// oracle written here from the rules alone: encoding/json for the grammar,
// shopspring/decimal and math/big for the value.

// decimalOracle classifies s as the rules say: the grammar of a JSON
// number; no '-' (even "-0"); at most scale places as written (after the
// exponent); value × 10^scale below 2^128.
func decimalOracle(s string, scale int) (hi, lo uint64, e decimalError) {
	if s == "" || strings.TrimLeft(s, " \t\r\n") != s || strings.TrimRight(s, " \t\r\n") != s ||
		!json.Valid([]byte(s)) || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return 0, 0, decSyntax
	}
	if s[0] == '-' {
		return 0, 0, decNegative
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return hugeExponentOracle(s, scale)
	}
	if int(-d.Exponent()) > scale {
		return 0, 0, decPrecision
	}
	v := d.Shift(int32(scale)).BigInt()
	if v.BitLen() > 128 {
		return 0, 0, decRange
	}
	return new(big.Int).Rsh(v, 64).Uint64(), v.Uint64(), decOK
}

// hugeExponentOracle classifies a JSON number whose exponent decimal
// refuses (|exponent| beyond decimal.MaxDecodeExponent), in big integers:
// places = len(fraction) − exponent; a non-zero value is then ≥ 10^10000.
func hugeExponentOracle(s string, scale int) (hi, lo uint64, e decimalError) {
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		panic("oracle: decimal refused " + s + " without an exponent")
	}
	mant, exp := s[:i], new(big.Int)
	if _, ok := exp.SetString(strings.TrimPrefix(s[i+1:], "+"), 10); !ok {
		panic("oracle: exponent of " + s)
	}
	frac := ""
	if j := strings.IndexByte(mant, '.'); j >= 0 {
		frac = mant[j+1:]
	}
	places := new(big.Int).Sub(big.NewInt(int64(len(frac))), exp)
	switch {
	case places.Cmp(big.NewInt(int64(scale))) > 0:
		return 0, 0, decPrecision
	case strings.Trim(mant, "0.") == "":
		return 0, 0, decOK
	}
	return 0, 0, decRange
}

// uintOracle classifies s as parseUintText's rules say, reading left to
// right: digits only, no sign ('-' and a digit is "negative"), no leading
// zero, value ≤ 2^64 − 1. The first rule broken is the one reported.
func uintOracle(s string) (uint64, decimalError) {
	if s == "" {
		return 0, decNotInteger
	}
	if s[0] == '-' {
		if len(s) > 1 && s[1] >= '0' && s[1] <= '9' {
			return 0, decNegative
		}
		return 0, decNotInteger
	}
	k := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if k < 0 {
		k = len(s)
	}
	if k > 1 && s[0] == '0' {
		return 0, decLeadingZero
	}
	if k > 0 {
		d, err := decimal.NewFromString(s[:k])
		if err != nil {
			panic(err)
		}
		if d.GreaterThan(decimal.NewFromUint64(^uint64(0))) {
			return 0, decRange
		}
		if k == len(s) {
			return d.BigInt().Uint64(), decOK
		}
	}
	return 0, decNotInteger
}

// decimalEdgeCases are the texts at every rule's border.
var decimalEdgeCases = []string{
	"", "0", "-0", "00", "01", "0.0", "0.", ".0", ".5", "1.", "+1", "-1", "--1", "-", "1-",
	"1e", "1e+", "1e-", "e1", "1E2", "1e+2", "1e-2", "1.5e1", "15e-1", "0e0", "0e-2", "0e-3", "0e-19",
	"0.00", "0.000", "1.50", "1.500", "0.01", "0.001", "0.000000001", "1.000000000",
	"18446744073709551615", "18446744073709551616", "184467440737.09551615", "184467440737.09551616",
	"340282366920938463463374607431768211455", "340282366920938463463374607431768211456",
	"3402823669209384634633746074317682114.55", "3402823669209384634633746074317682114.56",
	"340282366920938463463.374607431768211455", "340282366920938463463.374607431768211456",
	"1e38", "1e39", "1e40", "0e40", "1e-18", "1e-19", "10e-19", "100e-20",
	"1e10000", "1e10001", "0e10001", "0.0e10001", "1e-10001", "0e-10001", "0e99999999999",
	"1e99999999999", "0e-99999999999", "1e-99999999999", "0.00e+99999999999999999999",
	"0" + strings.Repeat("0", 50), "1" + strings.Repeat("0", 50), "0." + strings.Repeat("0", 50),
	"0." + strings.Repeat("0", 10500) + "1e10500", "0." + strings.Repeat("0", 10500) + "e5",
	strings.Repeat("9", 39), strings.Repeat("9", 40), " 1", "1 ", "1,5", "1_000", "NaN", "Inf", "0x10",
	"١", "1\u22125", "\u22121",
}

// randomDecimalText writes a text that is mostly a JSON number near some
// rule's border and sometimes not a number at all.
func randomDecimalText(r *rand.Rand) string {
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		return string(b)
	}
	var b strings.Builder
	b.WriteString([]string{"", "", "", "", "-", "+"}[r.IntN(6)])
	switch r.IntN(5) {
	case 0:
		b.WriteString("0")
	case 1:
		b.WriteString(strings.Repeat("0", 1+r.IntN(3)) + digits(r.IntN(4)))
	case 2:
		b.WriteString(strconv.FormatUint(r.Uint64()>>r.IntN(64), 10))
	default:
		b.WriteString(strconv.Itoa(1+r.IntN(9)) + digits(r.IntN(45)))
	}
	if r.IntN(2) == 0 {
		b.WriteString("." + digits(r.IntN(22)))
	}
	if r.IntN(3) == 0 {
		b.WriteString([]string{"e", "E"}[r.IntN(2)] + []string{"", "+", "-"}[r.IntN(3)])
		switch r.IntN(8) {
		case 0:
			b.WriteString(strconv.Itoa(9990 + r.IntN(20)))
		case 1:
			b.WriteString(digits(10 + r.IntN(10)))
		default:
			b.WriteString(digits(r.IntN(3)))
		}
	}
	s := b.String()
	if r.IntN(10) == 0 && len(s) > 0 { // a stray byte somewhere
		i := r.IntN(len(s) + 1)
		s = s[:i] + string(" x,._e-+"[r.IntN(8)]) + s[i:]
	}
	return s
}

// TestParsersAgreeWithDecimalOracle: the fast parseScaled of the replay
// path and the decimal-based parseDecimal of the edges give the oracle's
// value and refusal (syntax, sign, places, range) for every edge case and
// 30,000 random texts at the scales in use (and 0).
func TestParsersAgreeWithDecimalOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 2026))
	inputs := append([]string(nil), decimalEdgeCases...)
	for range 30_000 {
		inputs = append(inputs, randomDecimalText(r))
	}
	seen := map[decimalError]int{}
	for _, s := range inputs {
		for _, scale := range []int{0, OBScoreDecimals, RenderDecimals, USDDecimals} {
			hi, lo, e := decimalOracle(s, scale)
			seen[e]++
			type result struct {
				Hi, Lo uint64
				E      decimalError
			}
			want := result{hi, lo, e}
			fh, fl, fe := parseScaled(s, scale)
			require.Equal(t, want, result{fh, fl, fe}, "parseScaled(%q, %d)", s, scale)
			dh, dl, de := parseDecimal(s, scale)
			require.Equal(t, want, result{dh, dl, de}, "parseDecimal(%q, %d)", s, scale)
		}
	}
	// The inputs reach every outcome, each often.
	for _, e := range []decimalError{decOK, decSyntax, decNegative, decPrecision, decRange} {
		assert.Greater(t, seen[e], 500, "outcome %d", e)
	}
}

// TestParseUintTextAgreesWithOracle: the fast integer parser of base units
// and positions (digits only, no sign, no leading zero, uint64) against the
// oracle, on edge cases and 30,000 random texts.
func TestParseUintTextAgreesWithOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 64))
	inputs := append([]string{"18446744073709551615", "18446744073709551616", "99999999999999999999x",
		"0x", "00x", "01", "-", "-0", "-x", "1-", "10", "0"}, decimalEdgeCases...)
	for range 30_000 {
		inputs = append(inputs, randomDecimalText(r))
	}
	seen := map[decimalError]int{}
	for _, s := range inputs {
		v, e := uintOracle(s)
		seen[e]++
		fv, fe := parseUintText(s)
		require.Equal(t, [2]uint64{v, uint64(e)}, [2]uint64{fv, uint64(fe)}, "parseUintText(%q)", s)
	}
	for _, e := range []decimalError{decOK, decNegative, decNotInteger, decLeadingZero, decRange} {
		assert.Greater(t, seen[e], 100, "outcome %d", e)
	}
}

// TestParseRenderAgreesWithOracle: ParseRender refuses exactly what the
// decoder's RENDER rule refuses (the oracle at 8 places, beyond uint64),
// plus any exponent, and reads the same base units.
func TestParseRenderAgreesWithOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 8))
	inputs := append([]string(nil), decimalEdgeCases...)
	for range 10_000 {
		inputs = append(inputs, randomDecimalText(r))
	}
	for _, s := range inputs {
		hi, lo, e := decimalOracle(s, RenderDecimals)
		if e == decOK && hi != 0 {
			e = decRange
		}
		got, err := ParseRender(s)
		switch {
		case strings.ContainsAny(s, "eE"):
			require.ErrorContains(t, err, "must be plain decimal text", s)
		case e != decOK:
			require.EqualError(t, err, "domain: RENDER amount "+strconv.Quote(s)+": "+e.rule(RenderDecimals), s)
		default:
			require.NoError(t, err, s)
			require.Equal(t, BaseUnits(lo), got, s)
		}
	}
}

// renderStringDigits is RenderString as it was written by hand before
// shopspring/decimal wrote it: the reference for unchanged output bytes.
func renderStringDigits(b BaseUnits) string {
	whole, frac := uint64(b)/BaseUnitsPerRender, uint64(b)%BaseUnitsPerRender
	if frac == 0 {
		return strconv.FormatUint(whole, 10)
	}
	fs := strconv.FormatUint(frac+BaseUnitsPerRender, 10)[1:] // 8 digits, zero padded
	return strconv.FormatUint(whole, 10) + "." + strings.TrimRight(fs, "0")
}

// formatRat9Ints is FormatRat9 as it was written in big integers before
// shopspring/decimal: the reference for unchanged output bytes.
func formatRat9Ints(num, den *big.Int) string {
	pow10to9 := big.NewInt(1_000_000_000)
	neg := num.Sign() < 0
	n := new(big.Int).Abs(num)
	n.Mul(n, pow10to9)
	q, r := n.QuoRem(n, den, new(big.Int))
	r.Lsh(r, 1)
	switch c := r.Cmp(den); {
	case c > 0, c == 0 && q.Bit(0) == 1:
		q.Add(q, big.NewInt(1))
	}
	if q.Sign() == 0 {
		return "0"
	}
	whole, frac := new(big.Int).QuoRem(q, pow10to9, new(big.Int))
	s := joinDecimal(whole.String(), frac.Uint64(), 9)
	if neg {
		return "-" + s
	}
	return s
}

// TestDecimalFormattingKeepsBytes: RenderString and FormatRat9, now
// written by shopspring/decimal, give the bytes the hand-written versions
// gave, on edge values and random ones (ties at 9 places included).
func TestDecimalFormattingKeepsBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 9))
	units := []BaseUnits{0, 1, 9, 10, BaseUnitsPerRender - 1, BaseUnitsPerRender, BaseUnitsPerRender + 1,
		DefaultEmission, MaxSupply, BaseUnits(^uint64(0)), BaseUnits(^uint64(0) >> 1), BaseUnits(1 << 63)}
	for range 20_000 {
		units = append(units, BaseUnits(r.Uint64()>>r.IntN(64)))
	}
	for _, b := range units {
		require.Equal(t, renderStringDigits(b), b.RenderString(), uint64(b))
	}

	big10 := func(e int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(e)), nil) }
	for i := range 20_000 {
		num := new(big.Int).Rsh(new(big.Int).SetUint64(r.Uint64()), uint(r.IntN(64)))
		if i%3 == 0 {
			num.Mul(num, big10(r.IntN(30)))
		}
		var den *big.Int
		switch i % 4 {
		case 0: // a tie or near one at the 10th place
			den = new(big.Int).Mul(big.NewInt(2), big10(9+r.IntN(3)))
		case 1:
			den = big.NewInt(WorkDenominator)
		case 2:
			den = ValueDenominator()
		default:
			den = new(big.Int).SetUint64(1 + r.Uint64()>>r.IntN(64))
		}
		if r.IntN(4) == 0 {
			num.Neg(num)
		}
		require.Equal(t, formatRat9Ints(num, den), FormatRat9(num, den), "%s/%s", num, den)
	}
}

func BenchmarkParseScaledVsDecimal(b *testing.B) {
	for _, p := range []struct {
		name  string
		parse func(string, int) (uint64, uint64, decimalError)
	}{{"fast", parseScaled}, {"decimal", parseDecimal}} {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				p.parse("2884.61538", RenderDecimals)
				p.parse("0.000000000000000125", USDDecimals)
			}
		})
	}
}
