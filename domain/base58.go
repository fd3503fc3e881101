package domain

import (
	"encoding/binary"
	"math/bits"
)

// decodeBase58Into decodes the base58 (Bitcoin alphabet) text s into out
// and reports whether s spells exactly len(out) bytes, as
// github.com/mr-tron/base58's Decode would: each leading '1' is a zero
// byte, the rest is a big-endian number. len(out) is at most 64.
//
// It allocates nothing and takes ten digits per pass over the number
// (58^10 < 2^64, 64-bit limbs), which makes validating the signature of
// every event a replay decodes several times cheaper than the general
// decoder.
func decodeBase58Into(s string, out []byte) bool {
	const maxOut = 64
	n := len(out)
	if n > maxOut || len(s) == 0 {
		return false
	}
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	// The number, little-endian in 64-bit limbs; used grows as it does.
	var limbs [maxOut/8 + 1]uint64
	used := 0
	for i := zeros; i < len(s); {
		// Gather up to ten digits: acc = their value, mul = 58^count.
		acc, mul := uint64(0), uint64(1)
		for k := 0; k < 10 && i < len(s); k, i = k+1, i+1 {
			d := base58Digit[s[i]]
			if d == 0xff {
				return false
			}
			acc = acc*58 + uint64(d)
			mul *= 58
		}
		carry := acc
		for j := 0; j < used; j++ {
			hi, lo := bits.Mul64(limbs[j], mul)
			var c uint64
			limbs[j], c = bits.Add64(lo, carry, 0)
			carry = hi + c
		}
		if carry != 0 {
			if used == len(limbs) {
				return false // more than 72 bytes: longer than any out
			}
			limbs[used] = carry
			used++
		}
	}
	var be [8 * (maxOut/8 + 1)]byte
	for j := 0; j < used; j++ {
		binary.BigEndian.PutUint64(be[8*(used-1-j):], limbs[j])
	}
	num := be[:8*used]
	for len(num) > 0 && num[0] == 0 {
		num = num[1:]
	}
	if zeros+len(num) != n {
		return false
	}
	clear(out[:zeros])
	copy(out[zeros:], num)
	return true
}

// base58Digit maps a byte to its base58 value, 0xff for bytes outside the
// alphabet.
var base58Digit = func() (t [256]byte) {
	const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()
