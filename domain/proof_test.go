package domain

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/mr-tron/base58"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProofMessages(t *testing.T) {
	assert.Equal(t, "epochledger-proof-v1\njob-1\n7\nn1\nabc\n12345", string(ProofMessage("job-1", 7, "n1", "abc", 12345)))
	usd, _ := ParseUSD("12.50")
	assert.Equal(t, "epochledger-compute-v1\ntask-1\nn1\nio.net\nabc\n60000\n12.5",
		string(ComputeProofMessage("task-1", "n1", "io.net", "abc", 60000, usd)))
	assert.Equal(t, "epochledger-compute-v1\nt\nn\nc\nh\n1\n0", string(ComputeProofMessage("t", "n", "c", "h", 1, USD{})))
}

func TestSignVerifyProof(t *testing.T) {
	seed := sha256.Sum256([]byte("seed"))
	key := ed25519.NewKeyFromSeed(seed[:])
	pub := base58.Encode(key.Public().(ed25519.PublicKey))
	msg := ProofMessage("j", 0, "n", "h", 1)
	sig := SignProof(key, msg)
	require.NoError(t, VerifyProof(pub, msg, sig))

	other := ProofMessage("j", 1, "n", "h", 1)
	assert.True(t, errors.Is(VerifyProof(pub, other, sig), ErrBadSignature))
	assert.True(t, errors.Is(VerifyProof("abc", msg, sig), ErrBadSignature))
	assert.True(t, errors.Is(VerifyProof(pub, msg, "abc"), ErrBadSignature))
	otherKey := ed25519.NewKeyFromSeed(make([]byte, 32))
	assert.True(t, errors.Is(VerifyProof(base58.Encode(otherKey.Public().(ed25519.PublicKey)), msg, sig), ErrBadSignature))
	// A 32-byte key that is not a curve point does not panic.
	assert.True(t, errors.Is(VerifyProof(b58(32, 0xff), msg, sig), ErrBadSignature))
}

func TestEpochAt(t *testing.T) {
	g := EpochGenesis
	assert.Equal(t, uint64(0), EpochAt(g.Add(-time.Nanosecond), g, EpochLength))
	assert.Equal(t, uint64(1), EpochAt(g, g, EpochLength))
	assert.Equal(t, uint64(1), EpochAt(g.Add(EpochLength-time.Nanosecond), g, EpochLength))
	assert.Equal(t, uint64(2), EpochAt(g.Add(EpochLength), g, EpochLength))
	assert.Equal(t, uint64(0), EpochAt(g, g, 0))
	// 2024-01-03 is in the third week from 2023-12-20.
	assert.Equal(t, uint64(3), EpochAt(time.Date(2024, 1, 3, 0, 0, 0, 0, time.UTC), g, EpochLength))
	// Time zones do not matter.
	assert.Equal(t, uint64(2), EpochAt(time.Date(2023, 12, 27, 1, 0, 0, 0, time.FixedZone("+1", 3600)), g, EpochLength))
	for n := uint64(1); n < 200; n++ {
		s := EpochStart(n, g, EpochLength)
		require.Equal(t, n, EpochAt(s, g, EpochLength))
		require.Equal(t, n-1, EpochAt(s.Add(-time.Nanosecond), g, EpochLength))
	}
	assert.Equal(t, time.Date(2023, 12, 27, 0, 0, 0, 0, time.UTC), EpochStart(2, g, EpochLength))
}
