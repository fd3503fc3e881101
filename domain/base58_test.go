package domain

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mr-tron/base58"
)

// TestDecodeBase58IntoMatchesLibrary: for random byte strings (leading
// zeros included), their encodings, and corrupted or resized texts, the
// fixed-size decoder accepts exactly what the library decodes to that
// length, with the same bytes.
func TestDecodeBase58IntoMatchesLibrary(t *testing.T) {
	rng := rand.New(rand.NewPCG(58, 64))
	const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	check := func(s string) {
		t.Helper()
		ref, err := base58.Decode(s)
		for _, n := range []int{0, 1, 31, 32, 33, 63, 64} {
			out := make([]byte, n)
			got := decodeBase58Into(s, out)
			want := err == nil && len(ref) == n && s != ""
			if got != want || (got && !bytes.Equal(out, ref)) {
				t.Fatalf("%q into %d bytes: got %v %x, library %x %v", s, n, got, out, ref, err)
			}
		}
	}
	for i := 0; i < 20000; i++ {
		b := make([]byte, rng.IntN(66))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		for z := rng.IntN(4); z > 0 && len(b) > 0; z-- {
			b[rng.IntN(len(b))] = 0
		}
		if rng.IntN(8) == 0 && len(b) > 0 {
			b[0] = 0
		}
		s := base58.Encode(b)
		check(s)
		if s != "" {
			r := []byte(s)
			r[rng.IntN(len(r))] = alphabet[rng.IntN(len(alphabet))]
			check(string(r))
			check(s[1:])
			check(s + string(alphabet[rng.IntN(len(alphabet))]))
		}
	}
	for _, s := range []string{"", "1", "11", strings.Repeat("1", 64), strings.Repeat("1", 65), "0", "O", "I", "l", "abc+", strings.Repeat("z", 90), strings.Repeat("z", 200)} {
		check(s)
	}
}

func BenchmarkValidateSignature(b *testing.B) {
	sig := base58.Encode(bytes.Repeat([]byte{0xa7}, 64))
	var out [64]byte
	b.Run("fixed", func(b *testing.B) {
		for b.Loop() {
			if !decodeBase58Into(sig, out[:]) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("library", func(b *testing.B) {
		for b.Loop() {
			if d, err := base58.Decode(sig); err != nil || len(d) != 64 {
				b.Fatal("refused")
			}
		}
	})
}
