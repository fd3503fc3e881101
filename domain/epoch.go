package domain

import "time"

// EpochGenesis is the default start of epoch 1: BME emissions began on
// 2023-12-20T00:00:00Z. Epoch membership of work is decided by log order
// (EpochClosed events), never by clocks; these values only drive the clock
// that appends EpochClosed at the weekly boundary.
var EpochGenesis = time.Date(2023, 12, 20, 0, 0, 0, 0, time.UTC)

// EpochLength is the default length of an epoch.
const EpochLength = 7 * 24 * time.Hour

// EpochAt returns the 1-based number of the epoch that t falls in, for
// epochs of length counted from genesis: [genesis, genesis+length) is epoch
// 1. It returns 0 for a t before genesis or a length ≤ 0.
func EpochAt(t, genesis time.Time, length time.Duration) uint64 {
	if length <= 0 || t.Before(genesis) {
		return 0
	}
	return uint64(t.Sub(genesis)/length) + 1
}

// EpochStart returns the instant epoch n (≥ 1) begins; it ends when epoch
// n+1 begins.
func EpochStart(n uint64, genesis time.Time, length time.Duration) time.Time {
	return genesis.Add(time.Duration(int64(n)-1) * length)
}
