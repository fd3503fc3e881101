package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/epochledger/epochledger/workers/nodekey"
)

func TestKeygen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "node-key.json")
	code, out, errs := cli(t, "", "keygen", "--out", p)
	if code != 0 {
		t.Fatalf("keygen: %d %s", code, errs)
	}
	k, err := nodekey.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != nodekey.Pubkey(k) {
		t.Fatalf("printed %q, key %s", out, nodekey.Pubkey(k))
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
	if code, _, errs := cli(t, "", "keygen", "--out", p); code != 1 || !strings.Contains(errs, "--force") {
		t.Fatalf("overwrite without --force: %d %s", code, errs)
	}
	if code, _, _ := cli(t, "", "keygen", "--out", p, "--force"); code != 0 {
		t.Fatal("--force refused")
	}
	if k2, _ := nodekey.Load(p); k2.Equal(k) {
		t.Fatal("--force kept the old key")
	}
	if code, _, _ := cli(t, "", "keygen", "extra"); code != 2 {
		t.Fatal("usage error not exit 2")
	}
}

func TestServeUsage(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--render-size", "big"},
		{"serve", "--verify-node", "n1"},
		{"serve", "--render-usd-price", "0"},
		{"worker"},
		{"worker", "register", "--server", "http://x"},
		{"scenario"},
		{"scenario", "run"},
	} {
		if code, _, errs := cli(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, errs)
		}
	}
}
