// Package telemetry reports what a worker rendered a frame on: the GPU seen
// through NVML (device, UUID, memory, utilization, energy used during the
// frame) or, when NVML is unavailable, the CPU and the reason NVML is absent.
// The result goes into FrameRendered.telemetry.
//
// # Why the build is split
//
// NVML is reached through github.com/NVIDIA/go-nvml, which is a cgo package:
// it dlopens libnvidia-ml.so.1 at run time, so a binary built with cgo still
// starts on a machine without the NVIDIA driver (nvml.Init then returns
// ERROR_LIBRARY_NOT_FOUND and Open falls back to the CPU sampler). But the
// package does not compile at all with CGO_ENABLED=0, and static release
// builds, cross-compiles and the verifier do not need a GPU. Therefore:
//
//   - nvml_cgo.go (build tag "cgo && linux") imports go-nvml and implements
//     the NVML sampler;
//   - nvml_nocgo.go (build tag "!cgo || !linux") has no go-nvml import; its
//     Open always returns the CPU sampler, reporting "built without cgo".
//
// Both builds expose the same API, so callers never use build tags.
package telemetry

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Backend values.
const (
	BackendNVML = "nvml"
	BackendCPU  = "cpu"
)

// NVML status values (Telemetry.NVML). Other failures carry NVML's error text.
const (
	NVMLOK              = "ok"
	NVMLLibraryNotFound = "library not found"
	NVMLDriverNotLoaded = "driver not loaded"
	NVMLNoDevices       = "no devices"
	NVMLBuiltWithoutCgo = "built without cgo"
)

// Telemetry describes the hardware of one rendered frame. Field order is the
// JSON order (encoding/json follows struct order), so the encoding of a
// value is deterministic.
type Telemetry struct {
	Backend string `json:"backend"` // "nvml" or "cpu"
	// NVML is "ok" when the GPU fields come from NVML, else why NVML is
	// absent: "library not found", "driver not loaded", "built without cgo",
	// "no devices", "device index N out of range (M devices)" or NVML's
	// error text.
	NVML                  string `json:"nvml"`
	Device                string `json:"device,omitempty"`
	UUID                  string `json:"uuid,omitempty"`
	MemoryTotalBytes      uint64 `json:"memory_total_bytes,omitempty"`
	MemoryUsedBytes       uint64 `json:"memory_used_bytes,omitempty"`
	UtilizationGPUPercent uint32 `json:"utilization_gpu_percent,omitempty"`
	// EnergyMillijoules is the increase of the device's total energy counter
	// (nvmlDeviceGetTotalEnergyConsumption) between Begin and End; omitted
	// when the device does not support the counter.
	EnergyMillijoules uint64 `json:"energy_mj,omitempty"`
	DriverVersion     string `json:"driver_version,omitempty"`
	CPUModel          string `json:"cpu,omitempty"`
	Goos              string `json:"goos"`
	Goarch            string `json:"goarch"`
	// RenderMS is the wall time between Begin and End in milliseconds.
	RenderMS uint64 `json:"render_ms"`
}

// Sampler measures frames. Call Begin before rendering a frame and End after
// it; End returns that frame's telemetry. A Sampler is safe for concurrent
// use, but Begin/End pairs must not interleave (one frame at a time).
type Sampler interface {
	Begin()
	End() Telemetry
	Close() error
}

// cpuSampler is the fallback: wall time plus host description, and the
// reason NVML is not used.
type cpuSampler struct {
	mu     sync.Mutex
	reason string
	cpu    string
	start  time.Time
}

func newCPUSampler(reason string) *cpuSampler {
	return &cpuSampler{reason: reason, cpu: cpuModel()}
}

func (s *cpuSampler) Begin() {
	s.mu.Lock()
	s.start = time.Now()
	s.mu.Unlock()
}

func (s *cpuSampler) End() Telemetry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Telemetry{
		Backend:  BackendCPU,
		NVML:     s.reason,
		CPUModel: s.cpu,
		Goos:     runtime.GOOS,
		Goarch:   runtime.GOARCH,
		RenderMS: elapsedMS(s.start),
	}
}

func (s *cpuSampler) Close() error { return nil }

// elapsedMS is the time since start in whole milliseconds (0 if Begin was
// never called).
func elapsedMS(start time.Time) uint64 {
	if start.IsZero() {
		return 0
	}
	d := time.Since(start)
	if d < 0 {
		return 0
	}
	return uint64(d / time.Millisecond)
}

var (
	cpuOnce  sync.Once
	cpuCache string
)

// cpuModel returns the host CPU's model name (Linux /proc/cpuinfo: "model
// name", or on arm64 "Hardware"/"Processor" when present), else
// GOARCH; followed by " (N cpus)".
func cpuModel() string {
	cpuOnce.Do(func() {
		cpuCache = readCPUInfo("/proc/cpuinfo")
		if cpuCache == "" {
			cpuCache = runtime.GOARCH
		}
		cpuCache += " (" + strconv.Itoa(runtime.NumCPU()) + " cpus)"
	})
	return cpuCache
}

func readCPUInfo(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	found := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if v != "" && found[k] == "" {
			found[k] = v
		}
	}
	for _, k := range []string{"model name", "Hardware", "Processor", "cpu model", "cpu"} {
		if v := found[k]; v != "" {
			return v
		}
	}
	return ""
}
