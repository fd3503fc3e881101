//go:build cgo && linux

package telemetry

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Open returns an NVML sampler for the GPU at deviceIndex. It never fails:
// when NVML cannot be used (no driver library, driver not loaded, no such
// device, …) it returns the CPU sampler, whose telemetry says why.
func Open(deviceIndex int) Sampler {
	s, reason := openNVML(deviceIndex)
	if s == nil {
		return newCPUSampler(reason)
	}
	return s
}

// nvmlReason turns an NVML return code into the Telemetry.NVML text.
func nvmlReason(ret nvml.Return) string {
	switch ret {
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return NVMLLibraryNotFound
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return NVMLDriverNotLoaded
	}
	return ret.Error()
}

func openNVML(deviceIndex int) (s *nvmlSampler, reason string) {
	if ret := nvml.Init(); ret != nvml.SUCCESS {
		return nil, nvmlReason(ret)
	}
	defer func() {
		if s == nil {
			nvml.Shutdown()
		}
	}()
	n, ret := nvml.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, nvmlReason(ret)
	}
	if n == 0 {
		return nil, NVMLNoDevices
	}
	if deviceIndex < 0 || deviceIndex >= n {
		return nil, fmt.Sprintf("device index %d out of range (%d devices)", deviceIndex, n)
	}
	dev, ret := nvml.DeviceGetHandleByIndex(deviceIndex)
	if ret != nvml.SUCCESS {
		return nil, nvmlReason(ret)
	}
	s = &nvmlSampler{dev: dev, cpu: cpuModel()}
	// Static facts: read once; a failure just leaves the field empty.
	if v, ret := dev.GetName(); ret == nvml.SUCCESS {
		s.name = v
	}
	if v, ret := dev.GetUUID(); ret == nvml.SUCCESS {
		s.uuid = v
	}
	if v, ret := nvml.SystemGetDriverVersion(); ret == nvml.SUCCESS {
		s.driver = v
	}
	if v, ret := dev.GetMemoryInfo(); ret == nvml.SUCCESS {
		s.memTotal = v.Total
	}
	return s, NVMLOK
}

// nvmlSampler reads one device. nvml.Init is reference counted by go-nvml;
// Close calls nvml.Shutdown once.
type nvmlSampler struct {
	mu       sync.Mutex
	dev      nvml.Device
	name     string
	uuid     string
	driver   string
	memTotal uint64
	cpu      string

	start       time.Time
	energyStart uint64
	energyOK    bool
	closed      bool
}

func (s *nvmlSampler) Begin() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start = time.Now()
	s.energyOK = false
	if s.closed {
		return
	}
	if e, ret := s.dev.GetTotalEnergyConsumption(); ret == nvml.SUCCESS {
		s.energyStart, s.energyOK = e, true
	}
}

func (s *nvmlSampler) End() Telemetry {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := Telemetry{
		Backend:          BackendNVML,
		NVML:             NVMLOK,
		Device:           s.name,
		UUID:             s.uuid,
		MemoryTotalBytes: s.memTotal,
		DriverVersion:    s.driver,
		CPUModel:         s.cpu,
		Goos:             runtime.GOOS,
		Goarch:           runtime.GOARCH,
		RenderMS:         elapsedMS(s.start),
	}
	if s.closed {
		t.Backend, t.NVML = BackendCPU, "closed"
		return t
	}
	if s.energyOK {
		// The counter is monotonic (mJ since driver load); guard anyway.
		if e, ret := s.dev.GetTotalEnergyConsumption(); ret == nvml.SUCCESS && e >= s.energyStart {
			t.EnergyMillijoules = e - s.energyStart
		}
	}
	if u, ret := s.dev.GetUtilizationRates(); ret == nvml.SUCCESS {
		t.UtilizationGPUPercent = u.Gpu
	}
	if m, ret := s.dev.GetMemoryInfo(); ret == nvml.SUCCESS {
		t.MemoryTotalBytes, t.MemoryUsedBytes = m.Total, m.Used
	}
	return t
}

func (s *nvmlSampler) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if ret := nvml.Shutdown(); ret != nvml.SUCCESS {
		return errors.New("telemetry: nvml shutdown: " + ret.Error())
	}
	return nil
}
