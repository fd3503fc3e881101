package domain

import (
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRender(t *testing.T) {
	good := []struct {
		in   string
		want BaseUnits
		out  string
	}{
		{"47000", 4_700_000_000_000, "47000"},
		{"0.00000001", 1, "0.00000001"},
		{"1.5", 150_000_000, "1.5"},
		{"1.50000000", 150_000_000, "1.5"},
		{"0", 0, "0"},
		{"0.0", 0, "0"},
		{"184467440737.09551615", BaseUnits(^uint64(0)), "184467440737.09551615"},
		{"15000", 1_500_000_000_000, "15000"},
		{"2800.12345678", 280_012_345_678, "2800.12345678"},
	}
	for _, tc := range good {
		got, err := ParseRender(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
		assert.Equal(t, tc.out, got.RenderString(), tc.in)
	}
	bad := map[string]string{
		"0.000000001":           "at most 8 decimal places",
		"1.000000000":           "at most 8 decimal places",
		"-1":                    "must not be negative",
		"184467440737.09551616": "too large",
		"1e3":                   "plain decimal",
		"":                      "decimal number",
		"1.":                    "decimal number",
		".5":                    "decimal number",
		"+1":                    "decimal number",
		"01":                    "decimal number",
		"1,5":                   "decimal number",
		" 1":                    "decimal number",
		"NaN":                   "decimal number",
		"99999999999999999999999999999999999999999": "too large",
	}
	for in, rule := range bad {
		_, err := ParseRender(in)
		assert.ErrorContains(t, err, rule, in)
	}
}

func TestRenderStringRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		b := BaseUnits(r.Uint64() >> r.IntN(64))
		s := b.RenderString()
		assert.True(t, !strings.ContainsAny(s, "eE") && !strings.HasSuffix(s, ".") && (!strings.Contains(s, ".") || !strings.HasSuffix(s, "0")), s)
		back, err := ParseRender(s)
		require.NoError(t, err, s)
		assert.Equal(t, b, back, s)
		pb, err := ParseBaseUnits(b.String())
		require.NoError(t, err)
		assert.Equal(t, b, pb)
	}
	_, err := ParseBaseUnits("1.0")
	require.Error(t, err)
	_, err = ParseBaseUnits("18446744073709551616")
	require.Error(t, err)
}

func TestOBScore(t *testing.T) {
	for in, want := range map[string]OBScore{"860.5": 86050, "860.55": 86055, "1": 100, "0.01": 1, "8.605e2": 86050, "86055e-2": 86055, "0": 0} {
		got, err := ParseOBScore(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for o, want := range map[OBScore]string{86050: "860.5", 86055: "860.55", 100: "1", 1: "0.01", 10: "0.1", 0: "0", 105: "1.05"} {
		assert.Equal(t, want, o.String())
	}
	for _, in := range []string{"860.555", "-1", "1e-3", "x"} {
		_, err := ParseOBScore(in)
		require.Error(t, err, in)
	}
}

func TestUSD(t *testing.T) {
	cases := map[string]string{
		"12.50":                "12.5",
		"0":                    "0",
		"0.000000000000000001": "0.000000000000000001",
		"1e2":                  "100",
		"1.5E+1":               "15",
		"340282366920938463463.374607431768211455": "340282366920938463463.374607431768211455",
		"18.446744073709551615":                    "18.446744073709551615",
		"18.446744073709551616":                    "18.446744073709551616", // crosses 64 bits
		"123456789012345678901":                    "123456789012345678901",
		"0.100000000000000000e1":                   "1",
	}
	for in, want := range cases {
		u, err := ParseUSD(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, u.String(), in)
		// String round-trips and matches big arithmetic.
		back, err := ParseUSD(u.String())
		require.NoError(t, err)
		assert.Equal(t, u, back)
		r, ok := new(big.Rat).SetString(in)
		assert.True(t, ok)
		r.Mul(r, new(big.Rat).SetInt(attoPerUSD))
		assert.Equal(t, r.Num().String(), u.Atto().String(), in)
		v, err := USDFromAtto(u.Atto())
		require.NoError(t, err)
		assert.Equal(t, u, v)
	}
	for _, in := range []string{"340282366920938463463.374607431768211456", "-0.5", "1e-19", "0.0000000000000000001", "1e39", "abc"} {
		_, err := ParseUSD(in)
		require.Error(t, err, in)
	}
	// Huge exponents are refused without work, zero with any exponent is 0.
	_, err := ParseUSD("1e999999999999999999999")
	assert.ErrorContains(t, err, "too large")
	_, err = ParseUSD("1e-999999999999999999999")
	assert.ErrorContains(t, err, "decimal places")
	z, err := ParseUSD("0e999999999999")
	require.NoError(t, err)
	assert.True(t, z.IsZero())

	a, _ := ParseUSD("1.5")
	b, _ := ParseUSD("18.446744073709551616")
	assert.Equal(t, -1, a.Cmp(b))
	assert.Equal(t, 1, b.Cmp(a))
	assert.Equal(t, 0, a.Cmp(a))
	_, err = USDFromAtto(big.NewInt(-1))
	require.Error(t, err)
	_, err = USDFromAtto(new(big.Int).Lsh(big.NewInt(1), 128))
	require.Error(t, err)
}

func TestBurnedBaseUnits(t *testing.T) {
	cases := []struct{ usd, price, want string }{
		{"1000", "7.25", "13793103449"},
		{"0", "7.25", "0"},
		{"7.25", "7.25", "100000000"},
		{"1", "3", "33333334"},                   // 33333333.33… rounds up
		{"0.03", "3", "1000000"},                 // exact
		{"0.000000000000000001", "1000000", "1"}, // tiny payments still burn one unit
		{"100", "0.000000000000000001", ""},      // beyond uint64
	}
	for _, tc := range cases {
		u, err := ParseUSD(tc.usd)
		require.NoError(t, err)
		p, err := ParseUSD(tc.price)
		require.NoError(t, err)
		got, err := BurnedBaseUnits(u, p)
		if tc.want == "" {
			require.Error(t, err)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, got.String(), tc.usd+"/"+tc.price)
	}
	_, err := BurnedBaseUnits(USD{}, USD{})
	require.Error(t, err)

	// Against big.Rat on random inputs: ceil(usd·1e8/price).
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		u := USD{hi: r.Uint64() >> 40, lo: r.Uint64()}
		p := USD{lo: r.Uint64()>>r.IntN(60) | 1}
		got, err := BurnedBaseUnits(u, p)
		q := new(big.Rat).SetFrac(new(big.Int).Mul(u.Atto(), big.NewInt(1e8)), p.Atto())
		want := new(big.Int).Quo(q.Num(), q.Denom())
		if !q.IsInt() {
			want.Add(want, big.NewInt(1))
		}
		if !want.IsUint64() {
			require.Error(t, err)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, want.Uint64(), uint64(got))
	}
}

func TestAddBaseUnits(t *testing.T) {
	s, ok := AddBaseUnits(1, 2)
	assert.True(t, ok && s == 3)
	_, ok = AddBaseUnits(BaseUnits(^uint64(0)), 1)
	assert.True(t, !ok)
}
