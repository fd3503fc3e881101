package domain

import (
	"crypto/ed25519"
	"strconv"

	"filippo.io/edwards25519"
)

// The rules a signing key (node_pubkey, client_pubkey) must meet beyond
// its base58 form. They are the command layer's: NodeRegistered.Validate
// keeps to the format, so that logs stored before these rules fold as
// they did.
const (
	ruleKeyOffCurve     = "must be the encoding of a point on the ed25519 curve"
	ruleKeyNonCanonical = "must be the canonical encoding of its point (y below 2^255 - 19, no negative zero)"
	ruleKeySmallOrder   = "must not be a point of small order (the identity or a torsion point): any signature would verify for everyone or for no one"
)

// CheckPublicKey checks that b58, which passed the format rule (base58 of
// 32 bytes), is a usable ed25519 public key: the canonical encoding of a
// curve point of large order. An off-curve key verifies nothing; a
// non-canonical spelling gives one key two texts (two nodes, one key); a
// small-order key (the identity among them) lets signatures verify that no
// private key made. It returns the rule broken, or "" for a good key.
func CheckPublicKey(b58 string) string {
	b, ok := decodeBase58N(b58, ed25519.PublicKeySize)
	if !ok {
		return rulePubkey
	}
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		return ruleKeyOffCurve
	}
	if string(p.Bytes()) != string(b) {
		return ruleKeyNonCanonical
	}
	// [8]P is the identity exactly when P's order divides 8.
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return ruleKeySmallOrder
	}
	return ""
}

// KeyOwner names who holds a registered signing key, e.g. `node "n1"` or
// `compute client "io.net"`.
type KeyOwner string

// NodeKeyOwner is the KeyOwner of a node's key.
func NodeKeyOwner(nodeID string) KeyOwner { return KeyOwner("node " + strconv.Quote(nodeID)) }

// ClientKeyOwner is the KeyOwner of a compute client's key.
func ClientKeyOwner(clientID string) KeyOwner {
	return KeyOwner("compute client " + strconv.Quote(clientID))
}

// CheckKeyRegistration is the one rule for registering a signing key, used
// by import and by serve (through the ledger): the key must pass
// CheckPublicKey and must not already belong to another holder (owner is
// the holder already registered with it, "" when none; self the one
// registering now). One key, one signer: otherwise a signature could not
// say who signed. It returns a *ValidationError on event's field.
func CheckKeyRegistration(event, field, b58 string, owner, self KeyOwner) error {
	if rule := CheckPublicKey(b58); rule != "" {
		return invalid(event, field, rule)
	}
	if owner != "" && owner != self {
		return invalid(event, field, "key "+b58+" is already registered to "+string(owner)+"; every node and compute client needs its own key")
	}
	return nil
}
