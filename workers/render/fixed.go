package render

import (
	"math"
	"math/bits"
)

// Fixed-point arithmetic.
//
// The renderer never uses floating point for anything that reaches a pixel.
// Every quantity is an int64 holding a Q16.16 number (16 fractional bits):
// integer +, -, *, / and >> behave identically on every architecture and Go
// version (division truncates toward zero, >> on signed values is arithmetic
// and floors), so there is nothing a compiler could fuse, reorder or round
// differently. That is what lets a verifier on arm64 re-render a frame that a
// worker rendered on amd64 and get the same sha256.
//
// Magnitude budget: scene coordinates stay within ±maxDist (256 units, 2^24
// raw); a raw product is then < 2^48 and a three-term dot product of raw
// products < 2^51, far from int64 overflow.

const (
	fracBits = 16
	one      = int64(1) << fracBits // 1.0
	half     = one / 2
)

// fx converts a rational p/q to Q16.16 (truncating). For constants only.
func fx(p, q int64) int64 { return p * one / q }

// mul multiplies two Q16.16 numbers (floor of the exact product).
func mul(a, b int64) int64 { return (a * b) >> fracBits }

// div divides two Q16.16 numbers (truncated toward zero). b must be non-zero.
func div(a, b int64) int64 { return (a << fracBits) / b }

func clamp(v, lo, hi int64) int64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// isqrt returns floor(sqrt(n)) exactly for 0 <= n < 2^62.
//
// It starts from math.Sqrt only as a fast first guess and then corrects the
// guess with integer arithmetic until r*r <= n < (r+1)*(r+1). The result is
// therefore the exact integer square root, whatever the floating-point unit
// did (math.Sqrt is correctly rounded anyway), so it cannot differ between
// platforms.
func isqrt(n int64) int64 {
	if n <= 0 {
		return 0
	}
	r := int64(math.Sqrt(float64(n)))
	for r > 0 && r*r > n {
		r--
	}
	for (r+1)*(r+1) <= n {
		r++
	}
	return r
}

// sqrtFx is the square root of a non-negative Q16.16 number, in Q16.16.
func sqrtFx(a int64) int64 { return isqrt(a << fracBits) }

// powFx raises a Q16.16 number in [0,1] to the power 2^k by repeated squaring.
func powFx(a int64, k int) int64 {
	for range k {
		a = mul(a, a)
	}
	return a
}

// sinCos returns sin and cos of the angle 2π·k/n in Q16.16 (0 <= k < n).
//
// math.Sin/math.Cos are not guaranteed to produce identical bits on every
// architecture (the compiler may fuse their polynomial evaluation on arm64),
// so the angle is reduced to a quadrant with integers and a Taylor series is
// summed in Q4.28 integer arithmetic, then rounded to Q16.16.
func sinCos(k, n int64) (s, c int64) {
	const (
		q        = 28
		unit     = int64(1) << q
		halfPi28 = int64(421657428) // round(π/2 · 2^28)
	)
	k %= n
	if k < 0 {
		k += n
	}
	quad := (4 * k) / n
	rem := 4*k - quad*n     // angle within the quadrant = (π/2)·rem/n
	x := halfPi28 * rem / n // Q28, in [0, π/2)
	x2 := (x * x) >> q      // Q28, < 2.47
	ss, term := x, x        // sin series
	for i := int64(1); term != 0; i++ {
		term = -((term * x2) >> q) / ((2 * i) * (2*i + 1))
		ss += term
	}
	cc, term := unit, unit // cos series
	for i := int64(1); term != 0; i++ {
		term = -((term * x2) >> q) / ((2*i - 1) * (2 * i))
		cc += term
	}
	switch quad {
	case 1:
		ss, cc = cc, -ss
	case 2:
		ss, cc = -ss, -cc
	case 3:
		ss, cc = -cc, ss
	}
	const shift = q - fracBits
	round := func(v int64) int64 { return (v + 1<<(shift-1)) >> shift }
	return round(ss), round(cc)
}

// vec is a 3-vector of Q16.16 numbers (also used for RGB colours, 1.0 = full).
type vec struct{ x, y, z int64 }

func (a vec) add(b vec) vec           { return vec{a.x + b.x, a.y + b.y, a.z + b.z} }
func (a vec) sub(b vec) vec           { return vec{a.x - b.x, a.y - b.y, a.z - b.z} }
func (a vec) scale(s int64) vec       { return vec{mul(a.x, s), mul(a.y, s), mul(a.z, s)} }
func (a vec) mulv(b vec) vec          { return vec{mul(a.x, b.x), mul(a.y, b.y), mul(a.z, b.z)} }
func (a vec) neg() vec                { return vec{-a.x, -a.y, -a.z} }
func (a vec) dot(b vec) int64         { return (a.x*b.x + a.y*b.y + a.z*b.z) >> fracBits }
func (a vec) lengthSq32() int64       { return a.x*a.x + a.y*a.y + a.z*a.z } // Q32.32
func (a vec) length() int64           { return isqrt(a.lengthSq32()) }
func (a vec) lerp(b vec, t int64) vec { return a.add(b.sub(a).scale(t)) }

func (a vec) cross(b vec) vec {
	return vec{
		(a.y*b.z - a.z*b.y) >> fracBits,
		(a.z*b.x - a.x*b.z) >> fracBits,
		(a.x*b.y - a.y*b.x) >> fracBits,
	}
}

// normalize returns a/|a| (the zero vector stays zero).
func (a vec) normalize() vec {
	l := a.length()
	if l == 0 {
		return a
	}
	return vec{(a.x << fracBits) / l, (a.y << fracBits) / l, (a.z << fracBits) / l}
}

// splitmix64 is the scene generator's PRNG: integer-only, so a seed always
// yields the same scene.
type splitmix64 struct{ s uint64 }

func (r *splitmix64) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// rangeFx returns a Q16.16 number uniformly in [lo, hi] (lo <= hi, both Q16.16).
func (r *splitmix64) rangeFx(lo, hi int64) int64 {
	return lo + int64(r.next()%uint64(hi-lo+1))
}

// intn returns an integer in [0, n).
func (r *splitmix64) intn(n int) int {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int(hi)
}
