package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/epochledger/epochledger/workers/nodekey"
)

func runKeygen(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "keygen", "[--out FILE] [--force] [--json]", `
Create an ed25519 node key and write it in the Solana CLI keypair format (a
JSON array of 64 bytes: seed then public key, what solana-keygen writes)
with mode 0600, then print its base58 public key: the node_pubkey to
register (epochledger worker register). An existing file is never
replaced without --force.`)
	out := fs.String("out", "node-key.json", "where to write the keypair")
	force := fs.Bool("force", false, "replace an existing file")
	asJSON := fs.Bool("json", false, `print {"pubkey":…,"file":…}`)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("keygen: unexpected argument %q", pos[0])
	}
	key, err := nodekey.Generate()
	if err != nil {
		return err
	}
	if err := nodekey.Save(*out, key, *force); err != nil {
		if errors.Is(err, nodekey.ErrExists) {
			return fmt.Errorf("keygen: %s already exists; pass --force to replace it (the node registered with it would lose its key)", *out)
		}
		return err
	}
	pub := nodekey.Pubkey(key)
	if *asJSON {
		return writeJSON(e.stdout, map[string]string{"pubkey": pub, "file": *out})
	}
	fmt.Fprintln(e.stdout, pub)
	return nil
}
