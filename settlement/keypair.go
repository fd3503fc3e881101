package settlement

import (
	"crypto/ed25519"
	"fmt"

	"github.com/gagliardetto/solana-go"

	"github.com/epochledger/epochledger/internal/durable"
	"github.com/epochledger/epochledger/internal/keyfile"
)

// ReadKeypair reads a keypair file in the Solana CLI format (a JSON array
// of 64 numbers, the ed25519 seed then the public key) with the one strict
// parser of that format, internal/keyfile.
func ReadKeypair(path string) (solana.PrivateKey, error) {
	k, err := keyfile.Load(path)
	if err != nil {
		return nil, fmt.Errorf("keypair: %w", err)
	}
	return solana.PrivateKey(k), nil
}

// WriteKeypair writes key in the Solana CLI format, mode 0600, durably
// (temporary file, fsync, rename, directory sync): a crash leaves the old
// file or the new one, never a torn treasury key.
func WriteKeypair(path string, key solana.PrivateKey) error {
	return durable.WriteFilePerm(path, append(keyfile.Marshal(ed25519.PrivateKey(key)), '\n'), 0o600)
}
