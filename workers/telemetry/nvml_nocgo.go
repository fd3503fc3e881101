//go:build !cgo || !linux

package telemetry

import "runtime"

// Open returns the CPU sampler: this binary was built without cgo (or for a
// platform other than Linux), so go-nvml is not compiled in. See the package
// comment for why the build is split.
func Open(deviceIndex int) Sampler {
	if runtime.GOOS != "linux" {
		return newCPUSampler("not supported on " + runtime.GOOS)
	}
	return newCPUSampler(NVMLBuiltWithoutCgo)
}
