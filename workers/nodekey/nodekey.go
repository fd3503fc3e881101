// Package nodekey reads and writes node keys in the Solana CLI keypair
// format, the file `solana-keygen new` writes: a JSON array of the 64 bytes
// of an ed25519 private key, the 32-byte seed followed by the 32-byte public
// key,
//
//	[12,201,7,…,88]
//
// so an operator can use one tool for both. The public key, printed in
// base58, is the node_pubkey of NodeRegistered and the key that verifies the
// node's proof and request signatures.
package nodekey

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"github.com/mr-tron/base58"

	"github.com/epochledger/epochledger/internal/durable"
)

// ErrExists is returned by Save when the file exists and overwrite is false.
var ErrExists = errors.New("nodekey: key file already exists")

// Generate returns a new random key.
func Generate() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	return priv, err
}

// Pubkey returns the base58 public key of key.
func Pubkey(key ed25519.PrivateKey) string {
	return base58.Encode(key.Public().(ed25519.PublicKey))
}

// Marshal returns the keypair file's bytes: a JSON array of 64 integers.
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

// Parse reads a keypair file's bytes. It refuses anything but an array of
// 64 integers 0..255 whose last 32 are the public key of the first 32 (a
// truncated or edited file would otherwise sign with a key nobody
// registered).
func Parse(b []byte) (ed25519.PrivateKey, error) {
	var nums []json.Number
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&nums); err != nil {
		return nil, fmt.Errorf("nodekey: not a Solana CLI keypair (a JSON array of 64 numbers): %v", err)
	}
	if dec.More() {
		return nil, errors.New("nodekey: not a Solana CLI keypair: data after the JSON array")
	}
	if len(nums) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("nodekey: a Solana CLI keypair holds 64 bytes, this one %d", len(nums))
	}
	key := make(ed25519.PrivateKey, ed25519.PrivateKeySize)
	for i, n := range nums {
		v, err := strconv.ParseUint(n.String(), 10, 8)
		if err != nil {
			return nil, fmt.Errorf("nodekey: byte %d of the keypair is %s, not an integer 0..255", i, n)
		}
		key[i] = byte(v)
	}
	want := ed25519.NewKeyFromSeed(key[:ed25519.SeedSize])
	if !bytes.Equal(want[ed25519.SeedSize:], key[ed25519.SeedSize:]) {
		return nil, errors.New("nodekey: the keypair's last 32 bytes are not the public key of its first 32 (damaged file?)")
	}
	return key, nil
}

// Load reads the keypair file at path.
func Load(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("nodekey: %w", err)
	}
	k, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// Save writes key to path with mode 0600, durably (internal/durable: a
// temporary file, fsynced, then put in place, so a crash never leaves a
// half-written key). An existing file is replaced only when overwrite is
// true; otherwise Save fails with ErrExists, also when the file appears
// while the key is written.
func Save(path string, key ed25519.PrivateKey, overwrite bool) error {
	if len(key) != ed25519.PrivateKeySize {
		return errors.New("nodekey: key must be 64 bytes")
	}
	data := append(Marshal(key), '\n')
	if overwrite {
		if err := durable.WriteFilePerm(path, data, 0o600); err != nil {
			return fmt.Errorf("nodekey: %w", err)
		}
		return nil
	}
	if err := durable.CreateFile(path, data, 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, path)
		}
		return fmt.Errorf("nodekey: %w", err)
	}
	return nil
}
