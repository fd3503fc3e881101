package telemetry

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// hasNVMLLibrary reports whether the NVIDIA driver's NVML library looks
// installed (then Open may legitimately return the NVML sampler).
func hasNVMLLibrary() bool {
	for _, dir := range []string{"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/nvidia/lib64"} {
		if _, err := os.Stat(filepath.Join(dir, "libnvidia-ml.so.1")); err == nil {
			return true
		}
	}
	return false
}

func TestOpenNeverFails(t *testing.T) {
	s := Open(0)
	if s == nil {
		t.Fatal("Open returned nil")
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	s.Begin()
	time.Sleep(15 * time.Millisecond)
	tel := s.End()
	t.Logf("telemetry: %+v", tel)

	if tel.Goos != runtime.GOOS || tel.Goarch != runtime.GOARCH {
		t.Errorf("goos/goarch = %s/%s", tel.Goos, tel.Goarch)
	}
	if tel.RenderMS < 10 || tel.RenderMS > 5000 {
		t.Errorf("render_ms = %d after a 15 ms frame", tel.RenderMS)
	}
	if tel.CPUModel == "" {
		t.Error("no cpu model")
	}
	switch tel.Backend {
	case BackendCPU:
		if tel.NVML == "" || tel.NVML == NVMLOK {
			t.Errorf("cpu backend must say why NVML is absent, got %q", tel.NVML)
		}
		if tel.Device != "" || tel.UUID != "" || tel.EnergyMillijoules != 0 {
			t.Errorf("cpu backend reports GPU fields: %+v", tel)
		}
	case BackendNVML:
		if tel.NVML != NVMLOK || tel.UUID == "" || tel.Device == "" {
			t.Errorf("nvml backend incomplete: %+v", tel)
		}
	default:
		t.Errorf("backend = %q", tel.Backend)
	}
	if !hasNVMLLibrary() && tel.Backend != BackendCPU {
		t.Errorf("no libnvidia-ml.so.1 here but backend = %q", tel.Backend)
	}
}

// TestFallbackReason pins what this kind of machine reports: no NVIDIA
// driver → "library not found" (cgo build) or "built without cgo".
func TestFallbackReason(t *testing.T) {
	if hasNVMLLibrary() {
		t.Skip("NVML library present")
	}
	if runtime.GOOS != "linux" {
		t.Skip("linux only")
	}
	s := Open(0)
	defer s.Close()
	s.Begin()
	tel := s.End()
	want := NVMLLibraryNotFound
	if !cgoEnabled {
		want = NVMLBuiltWithoutCgo
	}
	if tel.Backend != BackendCPU || tel.NVML != want {
		t.Errorf("backend %q nvml %q, want cpu / %q", tel.Backend, tel.NVML, want)
	}
	// Opening again (and with a bad index) behaves the same.
	s2 := Open(7)
	defer s2.Close()
	if tel2 := s2.End(); tel2.NVML != want || tel2.RenderMS != 0 {
		t.Errorf("second Open: %+v", tel2)
	}
}

func TestJSONFieldOrder(t *testing.T) {
	tel := Telemetry{
		Backend: "nvml", NVML: "ok", Device: "NVIDIA H100 80GB HBM3", UUID: "GPU-1",
		MemoryTotalBytes: 80, MemoryUsedBytes: 10, UtilizationGPUPercent: 97, EnergyMillijoules: 12345,
		DriverVersion: "550.54.15", CPUModel: "x", Goos: "linux", Goarch: "amd64", RenderMS: 42,
	}
	b, err := json.Marshal(tel)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"backend":"nvml","nvml":"ok","device":"NVIDIA H100 80GB HBM3","uuid":"GPU-1",` +
		`"memory_total_bytes":80,"memory_used_bytes":10,"utilization_gpu_percent":97,"energy_mj":12345,` +
		`"driver_version":"550.54.15","cpu":"x","goos":"linux","goarch":"amd64","render_ms":42}`
	if string(b) != want {
		t.Errorf("json:\n got %s\nwant %s", b, want)
	}
	b, _ = json.Marshal(Telemetry{Backend: "cpu", NVML: "library not found", Goos: "linux", Goarch: "arm64"})
	if string(b) != `{"backend":"cpu","nvml":"library not found","goos":"linux","goarch":"arm64","render_ms":0}` {
		t.Errorf("cpu json: %s", b)
	}
}

func TestReadCPUInfo(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9654 96-Core Processor\n": "AMD EPYC 9654 96-Core Processor",
		"processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\nHardware\t: BCM2835\n":          "BCM2835",
		"processor\t: 0\nBogoMIPS\t: 50.00\n":                                                        "",
	}
	for in, want := range cases {
		p := filepath.Join(dir, "cpuinfo")
		if err := os.WriteFile(p, []byte(in), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := readCPUInfo(p); got != want {
			t.Errorf("readCPUInfo(%q) = %q, want %q", in, got, want)
		}
	}
	if got := readCPUInfo(filepath.Join(dir, "missing")); got != "" {
		t.Errorf("missing file: %q", got)
	}
	if m := cpuModel(); !strings.HasSuffix(m, " cpus)") {
		t.Errorf("cpuModel() = %q", m)
	}
}
