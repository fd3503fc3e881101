// Package nodekey reads and writes node keys in the Solana CLI keypair
// format (internal/keyfile), the file `solana-keygen new` writes: a JSON
// array of the 64 bytes of an ed25519 private key, the 32-byte seed
// followed by the 32-byte public key,
//
//	[12,201,7,…,88]
//
// so an operator can use one tool for both. The public key, printed in
// base58, is the node_pubkey of NodeRegistered and the key that verifies the
// node's proof and request signatures.
package nodekey

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/mr-tron/base58"

	"github.com/epochledger/epochledger/internal/durable"
	"github.com/epochledger/epochledger/internal/keyfile"
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
func Marshal(key ed25519.PrivateKey) []byte { return keyfile.Marshal(key) }

// Parse reads a keypair file's bytes with keyfile.Parse's rules: an array
// of 64 integers 0..255 whose last 32 are the public key of the first 32
// (a truncated or edited file would otherwise sign with a key nobody
// registered).
func Parse(b []byte) (ed25519.PrivateKey, error) {
	k, err := keyfile.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("nodekey: %w", err)
	}
	return k, nil
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
