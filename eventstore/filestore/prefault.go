package filestore

// growFaulted returns s with room for n more elements, like slices.Grow,
// but doubles a full array and faults the new one in with one call
// (prefault) before copying s into it.
func growFaulted[T any](s []T, n int) []T {
	if cap(s)-len(s) >= n {
		return s
	}
	c := max(2*cap(s), len(s)+n)
	ns := make([]T, len(s), c)
	prefault(ns)
	copy(ns, s)
	return ns
}
