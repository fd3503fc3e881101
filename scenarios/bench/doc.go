// Package bench holds every benchmark that `epochledger bench` runs, each
// reporting its figures beside a baseline measured in the same run (raw
// disk, a raw read, a peer store), because absolute numbers on a shared
// machine mean little. The command in cmd/epochledger only parses flags and
// prints what these functions return.
package bench
