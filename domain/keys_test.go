package domain

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/mr-tron/base58"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func hexKey(t *testing.T, h string) string {
	t.Helper()
	b, err := hex.DecodeString(h)
	require.NoError(t, err)
	return base58.Encode(b)
}

// TestCheckPublicKey: the node and client key rule of issue #18 — off-curve,
// non-canonical and small-order (identity included) keys are refused; real
// keys pass.
func TestCheckPublicKey(t *testing.T) {
	for i := range 32 {
		s := sha256.Sum256([]byte{byte(i)})
		k := ed25519.NewKeyFromSeed(s[:]).Public().(ed25519.PublicKey)
		assert.Equal(t, "", CheckPublicKey(base58.Encode(k)), "generated key %d", i)
	}
	cases := []struct {
		name, hex, rule string
	}{
		// y = 2 has no x on the curve.
		{"off curve", "0200000000000000000000000000000000000000000000000000000000000000", ruleKeyOffCurve},
		// y = p + 1 spells the identity a second way.
		{"non-canonical y", "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", ruleKeyNonCanonical},
		// x = 0 with the sign bit set ("negative zero").
		{"negative zero", "0100000000000000000000000000000000000000000000000000000000000080", ruleKeyNonCanonical},
		{"identity", "0100000000000000000000000000000000000000000000000000000000000000", ruleKeySmallOrder},
		{"order 2", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", ruleKeySmallOrder},
		{"order 4", "0000000000000000000000000000000000000000000000000000000000000000", ruleKeySmallOrder},
		{"order 8", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", ruleKeySmallOrder},
		{"order 8 (other)", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", ruleKeySmallOrder},
	}
	for _, c := range cases {
		key := hexKey(t, c.hex)
		assert.Equal(t, c.rule, CheckPublicKey(key), c.name)
		err := CheckKeyRegistration(TypeNodeRegistered, "node_pubkey", key, "", NodeKeyOwner("n1"))
		var ve *ValidationError
		assert.True(t, errors.As(err, &ve) && ve.Event == TypeNodeRegistered && ve.Field == "node_pubkey" && ve.Rule == c.rule, c.name, err)
	}
	assert.Equal(t, rulePubkey, CheckPublicKey("abc"))
}

func TestCheckKeyRegistrationOneHolder(t *testing.T) {
	s := sha256.Sum256([]byte("k"))
	key := base58.Encode(ed25519.NewKeyFromSeed(s[:]).Public().(ed25519.PublicKey))
	require.NoError(t, CheckKeyRegistration(TypeNodeRegistered, "node_pubkey", key, "", NodeKeyOwner("n2")))
	require.NoError(t, CheckKeyRegistration(TypeComputeClientRegistered, "client_pubkey", key, ClientKeyOwner("c"), ClientKeyOwner("c")), "a client keeps its own key")
	err := CheckKeyRegistration(TypeNodeRegistered, "node_pubkey", key, NodeKeyOwner("n1"), NodeKeyOwner("n2"))
	assert.ErrorContains(t, err, `NodeRegistered: field "node_pubkey": key `+key+` is already registered to node "n1"`)
	err = CheckKeyRegistration(TypeComputeClientRegistered, "client_pubkey", key, NodeKeyOwner("n1"), ClientKeyOwner("c"))
	assert.True(t, err != nil && strings.Contains(err.Error(), `already registered to node "n1"`), err)
}

func TestComputeClientRegisteredRules(t *testing.T) {
	usd := func(s string) USD {
		u, err := ParseUSD(s)
		require.NoError(t, err)
		return u
	}
	ok := ComputeClientRegistered{ClientID: "io.net", ClientPubkey: b58(32, 1), MaxUSDPerTask: usd("10"), MaxUSDPerNodeEpoch: usd("100")}
	require.NoError(t, ok.Validate())
	bad := ok
	bad.MaxUSDPerTask = USD{}
	assert.ErrorContains(t, bad.Validate(), `ComputeClientRegistered: field "max_usd_per_task": must be greater than 0`)
	bad = ok
	bad.MaxUSDPerTask = usd("101")
	assert.ErrorContains(t, bad.Validate(), `field "max_usd_per_task": must be at most max_usd_per_node_epoch`)
	bad = ok
	bad.ClientPubkey = "abc"
	assert.ErrorContains(t, bad.Validate(), `field "client_pubkey"`)
	ev, err := DecodeEvent(TypeComputeClientRegistered, []byte(`{"client_id":"io.net","client_pubkey":"`+b58(32, 1)+`","max_usd_per_task":"10","max_usd_per_node_epoch":"100","x":1}`))
	assert.True(t, ev == nil && err != nil && strings.Contains(err.Error(), `field "x": unknown field`), err)
}

func TestComputeClientMessageAndSignature(t *testing.T) {
	u, _ := ParseUSD("12.50")
	assert.Equal(t, "epochledger-compute-client-v1\nt1\nn1\nio.net\nab\n60000\n12.5", string(ComputeClientMessage("t1", "n1", "io.net", "ab", 60000, u)))
	// The client's message never equals the node's.
	assert.True(t, string(ComputeClientMessage("t1", "n1", "io.net", "ab", 60000, u)) != string(ComputeProofMessage("t1", "n1", "io.net", "ab", 60000, u)))
	ev, err := DecodeEvent(TypeComputeWorkCompleted, []byte(`{"task_id":"t","node_id":"n","client":"c","duration_ms":1,"usd":"1","output_hash":"`+strings.Repeat("a", 64)+`","signature":"`+b58(64, 1)+`","client_signature":"abc"}`))
	assert.True(t, ev == nil && err != nil && strings.Contains(err.Error(), `field "client_signature": `+ruleSignature), err)
}

func TestAddUSD(t *testing.T) {
	max := USD{hi: ^uint64(0), lo: ^uint64(0)}
	one := USD{lo: 1}
	_, ok := AddUSD(max, one)
	assert.True(t, !ok, "2^128 wraps")
	s, ok := AddUSD(USD{lo: ^uint64(0)}, one)
	assert.True(t, ok && s == USD{hi: 1}, "carry into the high word")
}
