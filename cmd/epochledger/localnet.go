package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/epochledger/epochledger/settlement/localnet"
)

func runLocalnet(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "localnet", "[--port 8899] [--state DIR]", `
Run a local Solana VM (LiteSVM behind a JSON-RPC server; needs Node.js ≥ 20,
and installs the pinned litesvm npm package on first use) in the foreground
until interrupted (SIGINT/SIGTERM). It starts with a fresh 8-decimal mint
and a treasury funded with 10,000,000 RENDER and 1,000,000 SOL, and writes
DIR/treasury.json (the treasury keypair, Solana CLI format) and, once it
serves, DIR/localnet.json = {"rpc","mint","treasury_keypair",
"treasury_token_account"}. State lives in memory: every start is a new
chain. Point settle submit at it with --localnet DIR.`)
	port := fs.Int("port", 8899, "TCP port on 127.0.0.1 (0 picks a free one)")
	state := fs.String("state", "localnet", "state directory for treasury.json and localnet.json")
	verbose := fs.Bool("verbose", false, "log every send, fault and landing to standard error")
	asJSON := fs.Bool("json", false, "print the endpoint as one JSON object")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("localnet: unexpected argument %q", pos[0])
	}
	if *port < 0 || *port > 65535 {
		return usagef("localnet: --port %d: want 0..65535", *port)
	}
	dir, err := filepath.Abs(*state)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("localnet: %w", err)
	}
	if !*asJSON {
		fmt.Fprintln(e.stderr, "localnet: starting (the first start installs litesvm with npm)…")
	}
	l, err := localnet.Start(ctx, localnet.Options{Port: *port, StateDir: dir, Stderr: e.stderr, Verbose: *verbose})
	if err != nil {
		return err
	}
	defer l.Close()
	info := l.State()
	if *asJSON {
		if err := writeJSON(e.stdout, info); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "rpc                     %s\nmint                    %s (8 decimals)\ntreasury                %s\ntreasury token account  %s (%s RENDER)\ntreasury keypair        %s\nstate                   %s\n\nsettle with: epochledger settle submit --epoch N --localnet %s\nCtrl-C stops it (the chain is in memory and is gone with it).\n",
			l.RPC, l.Mint, l.Treasury.PublicKey(), l.TreasuryTokenAccount, fmtRender(l.TreasuryAmount), l.TreasuryKeypairPath, filepath.Join(dir, localnet.StateFile), dir)
	}
	if f, ok := e.stdout.(*os.File); ok {
		_ = f.Sync()
	}
	select {
	case <-ctx.Done():
		if err := l.Close(); err != nil {
			return err
		}
		if !*asJSON {
			fmt.Fprintln(e.stderr, "localnet: stopped")
		}
		return nil
	case <-l.Done():
		if err := l.Close(); err != nil {
			return err
		}
		return errors.New("localnet: the server exited")
	}
}
