package domain

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"math/bits"
	"strconv"

	"github.com/shopspring/decimal"
)

// WorkDenominator converts work units to OctaneBench-hours: a frame's work
// in units is ob_hundredths × duration_ms, and
//
//	OBh = ob_score × duration_ms / 3_600_000 = units / 360_000_000.
const WorkDenominator = 100 * MillisPerHour

// MillisPerHour is the number of milliseconds in an hour.
const MillisPerHour = 3_600_000

// valueScale is ValueDenominator / 10^18: the factor that turns a USD amount
// in atto units into value units.
const valueScale = WorkDenominator

// ValueDenominator returns the denominator of value units, 3_600_000 × 100 ×
// 10^18: a frame's value in units is ob_hundredths × duration_ms ×
// usd_per_obh_atto, and a compute task's is usd_atto × 360_000_000, so that
//
//	USD = units / ValueDenominator()
//
// exactly, for both kinds of work. It returns a new big.Int on every call.
func ValueDenominator() *big.Int {
	d := new(big.Int).Set(attoPerUSD)
	return d.Mul(d, big.NewInt(valueScale))
}

// U256 is an unsigned 256-bit integer (little-endian 64-bit words), the
// allocation-free result of FrameWork, FrameValue and ComputeValue. Every
// such product fits whatever its inputs: work < 2^128 (2^94 for durations
// of at most 7 days), frame value < 2^256, compute value < 2^157.
type U256 [4]uint64

// IsZero reports whether x is zero.
func (x U256) IsZero() bool { return x == U256{} }

// Big returns x as a new big.Int.
func (x U256) Big() *big.Int {
	var buf [32]byte
	for i := range 4 {
		binary.BigEndian.PutUint64(buf[24-8*i:], x[i])
	}
	return new(big.Int).SetBytes(buf[:])
}

// FrameWork returns the work of one frame in work units:
// ob_hundredths × duration_ms (divide by WorkDenominator for OBh).
func FrameWork(ob OBScore, durationMS uint64) U256 {
	hi, lo := bits.Mul64(uint64(ob), durationMS)
	return U256{lo, hi}
}

// FrameValue returns the USD value of one frame in value units:
// ob_hundredths × duration_ms × usd_per_obh (in 10^-18 USD); divide by
// ValueDenominator() for USD.
func FrameValue(ob OBScore, durationMS uint64, usdPerOBh USD) U256 {
	hi, lo := bits.Mul64(uint64(ob), durationMS)
	return mul128(hi, lo, usdPerOBh.hi, usdPerOBh.lo)
}

// ComputeValue returns the value of compute work worth usd, in value units
// (usd in 10^-18 USD × 360_000_000).
func ComputeValue(usd USD) U256 {
	return mul128(0, valueScale, usd.hi, usd.lo)
}

// mul128 returns the full 256-bit product of two 128-bit numbers.
func mul128(ah, al, bh, bl uint64) U256 {
	h00, l00 := bits.Mul64(al, bl)
	h01, l01 := bits.Mul64(al, bh)
	h10, l10 := bits.Mul64(ah, bl)
	h11, l11 := bits.Mul64(ah, bh)

	var r U256
	r[0] = l00
	var c1, c2 uint64
	r[1], c1 = bits.Add64(h00, l01, 0)
	r[1], c2 = bits.Add64(r[1], l10, 0)
	// Carries into word 2 (at most 2) and the high halves of the middle terms.
	r[2], c1 = bits.Add64(h01, h10, c1)
	var c3 uint64
	r[2], c3 = bits.Add64(r[2], l11, c2)
	r[3] = h11 + c1 + c3 // cannot overflow: the product fits in 256 bits
	return r
}

// Sum accumulates U256 values exactly without allocating. It has 320 bits,
// so it cannot overflow before 2^64 additions. The zero value is an empty
// sum.
type Sum struct{ w [5]uint64 }

// Add adds x to the sum.
func (s *Sum) Add(x U256) {
	var c uint64
	s.w[0], c = bits.Add64(s.w[0], x[0], 0)
	s.w[1], c = bits.Add64(s.w[1], x[1], c)
	s.w[2], c = bits.Add64(s.w[2], x[2], c)
	s.w[3], c = bits.Add64(s.w[3], x[3], c)
	s.w[4] += c
}

// AddSum adds another sum to s.
func (s *Sum) AddSum(o *Sum) {
	var c uint64
	for i := range 4 {
		s.w[i], c = bits.Add64(s.w[i], o.w[i], c)
	}
	s.w[4] += o.w[4] + c
}

// IsZero reports whether the sum is zero.
func (s *Sum) IsZero() bool { return s.w == [5]uint64{} }

// Big returns the sum as a new big.Int.
func (s *Sum) Big() *big.Int {
	var buf [40]byte
	for i := range 5 {
		binary.BigEndian.PutUint64(buf[32-8*i:], s.w[i])
	}
	return new(big.Int).SetBytes(buf[:])
}

// FormatOBh formats work units as OctaneBench-hours with FormatRat9.
func FormatOBh(work *big.Int) string {
	return FormatRat9(work, big.NewInt(WorkDenominator))
}

// FormatValueUSD formats value units as USD with FormatRat9.
func FormatValueUSD(value *big.Int) string {
	return FormatRat9(value, ValueDenominator())
}

// FormatRat9 returns num/den rounded half-even to 9 decimal places, written
// without exponent or trailing zeros: "0", "1.5", "0.000000001", "-2.25".
// It panics if den is not positive. shopspring/decimal divides and writes
// the text; the tie rule is ours, as decimal's DivRound rounds half away
// from zero and RoundBank needs the exact quotient.
func FormatRat9(num, den *big.Int) string {
	if den.Sign() <= 0 {
		panic("domain: FormatRat9: denominator must be positive")
	}
	d := decimal.NewFromBigInt(den, 0)
	// q is num/den truncated toward zero to 9 places, r what is left:
	// |r| < den × 10^-9, so the tie test is 2|r| × 10^9 against den.
	q, r := decimal.NewFromBigInt(num, 0).QuoRem(d, 9)
	switch c := r.Abs().Shift(9).Mul(decimalTwo).Cmp(d); {
	case c > 0, c == 0 && q.Shift(9).BigInt().Bit(0) == 1:
		q = q.Add(decimal.New(int64(num.Sign()), -9)) // away from zero
	}
	return q.String() // "0", never "-0": decimal's zero has no sign
}

var decimalTwo = decimal.NewFromInt(2)

// MarshalJSON writes the sum as a decimal integer string (checkpoints).
func (s Sum) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, s.Big().String()), nil
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (s *Sum) UnmarshalJSON(b []byte) error {
	str, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("domain: sum: %w", err)
	}
	v, ok := new(big.Int).SetString(str, 10)
	if !ok || v.Sign() < 0 || v.BitLen() > 320 {
		return fmt.Errorf("domain: sum %q is not a non-negative 320-bit integer", str)
	}
	var buf [40]byte
	v.FillBytes(buf[:])
	for i := range 5 {
		s.w[i] = binary.BigEndian.Uint64(buf[32-8*i:])
	}
	return nil
}
