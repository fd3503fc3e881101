package settlement

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"

	"github.com/gagliardetto/solana-go"
)

// ReadKeypair reads a keypair file in the Solana CLI format: a JSON array
// of 64 numbers, the ed25519 seed then the public key.
func ReadKeypair(path string) (solana.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keypair: %w", err)
	}
	var nums []int
	if err := json.Unmarshal(b, &nums); err != nil || len(nums) != 64 {
		return nil, fmt.Errorf("keypair %s: not a Solana CLI keypair file (want a JSON array of 64 bytes)", path)
	}
	key := make([]byte, 64)
	for i, n := range nums {
		if n < 0 || n > 255 {
			return nil, fmt.Errorf("keypair %s: byte %d is %d", path, i, n)
		}
		key[i] = byte(n)
	}
	priv := ed25519.NewKeyFromSeed(key[:32])
	if string(priv[32:]) != string(key[32:]) {
		return nil, fmt.Errorf("keypair %s: the public key half does not match the secret half", path)
	}
	return solana.PrivateKey(key), nil
}

// WriteKeypair writes key in the Solana CLI format, mode 0600.
func WriteKeypair(path string, key solana.PrivateKey) error {
	nums := make([]int, len(key))
	for i, b := range key {
		nums[i] = int(b)
	}
	b, _ := json.Marshal(nums)
	return os.WriteFile(path, append(b, '\n'), 0o600)
}
