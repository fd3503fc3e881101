//go:build !unix

package coordinator

// ConnCap returns want: this platform has no soft descriptor limit to
// read.
func ConnCap(want int) int { return want }
