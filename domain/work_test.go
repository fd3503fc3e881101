package domain

import (
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFrameWorkAndValue(t *testing.T) {
	// Worked example: ob 860.5 for 12,345 ms at $0.25/OBh.
	ob, _ := ParseOBScore("860.5")
	usd, _ := ParseUSD("0.25")
	w := FrameWork(ob, 12345)
	assert.Equal(t, "1062287250", w.Big().String()) // 86050 × 12345
	// 860.5 × 12345 / 3,600,000 = 2.9507979166… OBh
	assert.Equal(t, "2.950797917", FormatOBh(w.Big()))
	v := FrameValue(ob, 12345, usd)
	assert.Equal(t, "0.7376994791667", new(big.Rat).SetFrac(v.Big(), ValueDenominator()).FloatString(13))
	assert.Equal(t, "0.737699479", FormatValueUSD(v.Big()))
	// 1 OBh at $0.000000001 / 2 → exactly half a nano-dollar: rounds to even 0.
	nano, _ := ParseUSD("0.0000000005")
	assert.Equal(t, "0", FormatValueUSD(FrameValue(100, MillisPerHour, nano).Big()))
	nano3, _ := ParseUSD("0.0000000015")
	assert.Equal(t, "0.000000002", FormatValueUSD(FrameValue(100, MillisPerHour, nano3).Big()))

	cu, _ := ParseUSD("12.5")
	assert.Equal(t, "12.5", FormatValueUSD(ComputeValue(cu).Big()))

	// Extremes do not overflow.
	maxUSD := USD{hi: ^uint64(0), lo: ^uint64(0)}
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 20000 {
		o := OBScore(r.Uint64() >> r.IntN(64))
		ms := r.Uint64() >> r.IntN(64)
		u := USD{hi: r.Uint64() >> r.IntN(65), lo: r.Uint64()}
		if i == 0 {
			o, ms, u = OBScore(^uint64(0)), ^uint64(0), maxUSD
		}
		wantW := new(big.Int).Mul(new(big.Int).SetUint64(uint64(o)), new(big.Int).SetUint64(ms))
		require.Equal(t, wantW.String(), FrameWork(o, ms).Big().String())
		wantV := new(big.Int).Mul(wantW, u.Atto())
		require.Equal(t, wantV.String(), FrameValue(o, ms, u).Big().String(), "%d %d %v", o, ms, u)
		wantC := new(big.Int).Mul(u.Atto(), big.NewInt(WorkDenominator))
		require.Equal(t, wantC.String(), ComputeValue(u).Big().String())
	}
	assert.True(t, FrameValue(0, 5, usd).IsZero())
	assert.Equal(t, "360000000000000000000000000", ValueDenominator().String())
	// ValueDenominator is a fresh value each time.
	ValueDenominator().SetInt64(1)
	assert.Equal(t, "360000000000000000000000000", ValueDenominator().String())
}

func TestSum(t *testing.T) {
	var s, s2 Sum
	assert.True(t, s.IsZero())
	want := new(big.Int)
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 5000 {
		x := U256{r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64()}
		if i%3 == 0 {
			x = U256{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}
		}
		s.Add(x)
		want.Add(want, x.Big())
		if i%2 == 0 {
			s2.Add(x)
		}
	}
	assert.Equal(t, want.String(), s.Big().String())
	assert.True(t, want.BitLen() > 256, "carried into the fifth word")
	var s3 Sum
	s3.AddSum(&s)
	s3.AddSum(&s2)
	assert.Equal(t, new(big.Int).Add(s.Big(), s2.Big()).String(), s3.Big().String())
	assert.True(t, !s.IsZero())
}

func TestFormatRat9(t *testing.T) {
	b := func(s string) *big.Int { x, _ := new(big.Int).SetString(s, 10); return x }
	cases := []struct{ num, den, want string }{
		{"0", "1", "0"},
		{"3", "2", "1.5"},
		{"1", "1000000000", "0.000000001"},
		{"1", "2000000000", "0"},           // 0.0000000005 → even 0
		{"3", "2000000000", "0.000000002"}, // 0.0000000015 → even 2
		{"5", "2000000000", "0.000000002"}, // 0.0000000025 → even 2
		{"7", "2000000000", "0.000000004"},
		{"1", "3", "0.333333333"},
		{"2", "3", "0.666666667"},
		{"10", "1", "10"},
		{"19999999999", "10000000000", "2"},
		{"-3", "2", "-1.5"},
		{"-1", "2000000000", "0"}, // no "-0"
		{"-3", "2000000000", "-0.000000002"},
		{"123456789012345678901234567890", "7", "17636684144620811271604938270"},
		{"1000000000000000000000000001", "1000000000000000000", "1000000000"},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, FormatRat9(b(tc.num), b(tc.den)), tc.num+"/"+tc.den)
	}
	defer func() { assert.True(t, recover() != nil) }()
	FormatRat9(big.NewInt(1), big.NewInt(0))
}

func BenchmarkFrameValueSum(b *testing.B) {
	ob, _ := ParseOBScore("860.5")
	usd, _ := ParseUSD("0.25")
	var s Sum
	for b.Loop() {
		s.Add(FrameValue(ob, 12345, usd))
	}
	_ = s.Big()
}
