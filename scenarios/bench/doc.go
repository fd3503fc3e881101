// Package bench holds every benchmark that `epochledger bench` runs, each
// reporting its figures beside a baseline measured in the same run (raw
// disk, a raw read, a peer store, a signatures-only server), because
// absolute numbers on a shared machine mean little: store (RunStore;
// Compare against a peer store), replay (RunReplay), coordinator (RunCoordinator), and the
// read API's HTTP load generator (HTTPLoad, driven by TestLoadLoopback).
// The command in cmd/epochledger only parses flags and prints what these
// functions return.
package bench
