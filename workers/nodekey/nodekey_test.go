package nodekey

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mr-tron/base58"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "node-key.json")
	if err := Save(p, k, false); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	got, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(k) {
		t.Fatal("loaded key differs")
	}
	if err := Save(p, k, false); !errors.Is(err, ErrExists) {
		t.Fatalf("second save: %v, want ErrExists", err)
	}
	k2, _ := Generate()
	if err := Save(p, k2, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := Load(p); !got.Equal(k2) {
		t.Fatal("overwrite did not replace the key")
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
}

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
	pub, err := base58.Decode(Pubkey(back))
	if err != nil || hex.EncodeToString(pub) != "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a" {
		t.Fatalf("pubkey %x (%v)", pub, err)
	}
}

// The format's rules are keyfile's (internal/keyfile tests them); Parse
// refuses through them with its own prefix.
func TestParseRefuses(t *testing.T) {
	_, err := Parse([]byte("[1,2,3]"))
	if err == nil || err.Error() != "nodekey: a Solana CLI keypair holds 64 bytes, this one 3" {
		t.Errorf("short keypair: %v", err)
	}
}
