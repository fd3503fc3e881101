// Package keyfile reads and writes the Solana CLI keypair file, the file
// `solana-keygen new` writes: a JSON array of the 64 bytes of an ed25519
// private key, the 32-byte seed followed by the 32-byte public key,
//
//	[12,201,7,…,88]
//
// Node keys (workers/nodekey) and the treasury and fee-payer keys of the
// settlement are such files; this package is the one parser of the format,
// and the strict one: a file that is not exactly that is refused, since a
// truncated or edited file would otherwise sign with a key nobody
// registered.
package keyfile

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// Marshal returns the keypair file's bytes: a JSON array of 64 integers
// (no newline).
func Marshal(key ed25519.PrivateKey) []byte {
	b := make([]byte, 0, 64*4+2)
	b = append(b, '[')
	for i, c := range key {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(c), 10)
	}
	return append(b, ']')
}

// Parse reads a keypair file's bytes. It refuses anything but one JSON
// array (surrounding whitespace allowed) of 64 integers 0..255 whose last
// 32 are the public key of the first 32. Its errors name the rule and
// carry no prefix: callers say whose key it is.
func Parse(b []byte) (ed25519.PrivateKey, error) {
	var nums []json.Number
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&nums); err != nil {
		return nil, fmt.Errorf("not a Solana CLI keypair (a JSON array of 64 numbers): %v", err)
	}
	if dec.More() {
		return nil, errors.New("not a Solana CLI keypair: data after the JSON array")
	}
	if len(nums) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("a Solana CLI keypair holds 64 bytes, this one %d", len(nums))
	}
	key := make(ed25519.PrivateKey, ed25519.PrivateKeySize)
	for i, n := range nums {
		v, err := strconv.ParseUint(n.String(), 10, 8)
		if err != nil {
			return nil, fmt.Errorf("byte %d of the keypair is %s, not an integer 0..255", i, n)
		}
		key[i] = byte(v)
	}
	want := ed25519.NewKeyFromSeed(key[:ed25519.SeedSize])
	if !bytes.Equal(want[ed25519.SeedSize:], key[ed25519.SeedSize:]) {
		return nil, errors.New("the keypair's last 32 bytes are not the public key of its first 32 (damaged file?)")
	}
	return key, nil
}

// Load reads and parses the keypair file at path; a parse error names the
// path.
func Load(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}
