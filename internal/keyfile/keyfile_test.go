package keyfile

import (
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A keypair as solana-keygen writes it: the seed, then its public key.
// RFC 8032 test vector 1 fixes both.
func TestSolanaFormat(t *testing.T) {
	seed, _ := hex.DecodeString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
	k := ed25519.NewKeyFromSeed(seed)
	text := string(Marshal(k))
	if !strings.HasPrefix(text, "[157,97,177,157,") || strings.Count(text, ",") != 63 {
		t.Fatalf("format: %s", text)
	}
	back, err := Parse([]byte(" " + text + "\n"))
	if err != nil || !back.Equal(k) {
		t.Fatalf("parse: %v", err)
	}
	if pub := hex.EncodeToString(back.Public().(ed25519.PublicKey)); pub != "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a" {
		t.Fatalf("pubkey %s", pub)
	}
}

// The stricter of the two parsers the tree had: each refusal names its
// rule.
func TestParseRefuses(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	k := ed25519.NewKeyFromSeed(seed)
	good := Marshal(k)
	wrongPub := append(ed25519.PrivateKey(nil), k...)
	wrongPub[40] ^= 1
	for name, c := range map[string]struct{ in, want string }{
		"not json":     {"hello", "not a Solana CLI keypair"},
		"object":       {`{"a":1}`, "not a Solana CLI keypair"},
		"short":        {"[1,2,3]", "holds 64 bytes, this one 3"},
		"byte > 255":   {"[" + strings.Repeat("300,", 63) + "1]", "byte 0 of the keypair is 300"},
		"negative":     {"[-1," + strings.Repeat("1,", 62) + "1]", "byte 0 of the keypair is -1"},
		"fraction":     {"[" + strings.Repeat("1,", 63) + "1.5]", "byte 63 of the keypair is 1.5"},
		"exponent":     {"[1e0," + strings.Repeat("1,", 62) + "1]", "byte 0 of the keypair is 1e0"},
		"trailing":     {string(good) + "[]", "data after the JSON array"},
		"wrong pubkey": {string(Marshal(wrongPub)), "not the public key of its first 32"},
	} {
		if _, err := Parse([]byte(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, c.want)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	k := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	p := filepath.Join(dir, "k.json")
	if err := os.WriteFile(p, append(Marshal(k), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := Load(p); err != nil || !got.Equal(k) {
		t.Fatalf("load: %v", err)
	}
	if err := os.WriteFile(p, []byte("[1]"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.HasPrefix(err.Error(), p+": ") {
		t.Errorf("a bad file's error %v does not name it", err)
	}
	if _, err := Load(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}
