package domain

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/mr-tron/base58"
)

// TestVerifySig: the one signature check accepts exactly a good signature
// and says why it refuses the others, each wrapping ErrBadSignature; a
// key of the wrong length is refused rather than left to ed25519.Verify
// (which panics on it).
func TestVerifySig(t *testing.T) {
	seed := sha256.Sum256([]byte("verifysig"))
	key := ed25519.NewKeyFromSeed(seed[:])
	pub := key.Public().(ed25519.PublicKey)
	msg := ProofMessage("job-1", 3, "n1", strings.Repeat("ab", 32), 1500)
	sig := SignProof(key, msg)
	if err := VerifySig(pub, msg, sig); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	raw, _ := base58.Decode(sig)
	flipped := append([]byte(nil), raw...)
	flipped[10] ^= 1
	for _, c := range []struct {
		name string
		pub  ed25519.PublicKey
		msg  []byte
		sig  string
		want string // the error's text
	}{
		{"another message", pub, []byte("other"), sig, "domain: signature does not verify"},
		{"a changed signature", pub, msg, base58.Encode(flipped), "domain: signature does not verify"},
		{"another key", ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey), msg, sig, "domain: signature does not verify"},
		{"not base58", pub, msg, "0OIl" + sig[4:], "domain: signature does not verify: signature is not base58 of 64 bytes"},
		{"63 bytes", pub, msg, base58.Encode(raw[:63]), "domain: signature does not verify: signature is not base58 of 64 bytes"},
		{"65 bytes", pub, msg, base58.Encode(append(raw, 1)), "domain: signature does not verify: signature is not base58 of 64 bytes"},
		{"empty", pub, msg, "", "domain: signature does not verify: signature is not base58 of 64 bytes"},
		{"no key", nil, msg, sig, "domain: signature does not verify: public key is 0 bytes, not 32"},
		{"a short key", pub[:31], msg, sig, "domain: signature does not verify: public key is 31 bytes, not 32"},
	} {
		err := VerifySig(c.pub, c.msg, c.sig)
		if err == nil || !errors.Is(err, ErrBadSignature) || err.Error() != c.want {
			t.Fatalf("%s: %v, want %q wrapping ErrBadSignature", c.name, err, c.want)
		}
	}
	// VerifyProof is the same check with a base58 key.
	if err := VerifyProof(base58.Encode(pub), msg, sig); err != nil {
		t.Fatal(err)
	}
	if err := VerifyProof(base58.Encode(pub), msg, base58.Encode(raw[:63])); err == nil || err.Error() != "domain: signature does not verify: signature is not base58 of 64 bytes" {
		t.Fatalf("VerifyProof with a short signature: %v", err)
	}
	// The replay checks a signature per frame event: no allocation.
	if n := testing.AllocsPerRun(20, func() { _ = VerifySig(pub, msg, sig) }); n != 0 {
		t.Fatalf("VerifySig allocates %v times per call", n)
	}
}
