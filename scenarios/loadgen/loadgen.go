// Package loadgen drives a coordinator with many simulated workers over
// HTTP: each registers its own node key, then loops lease → sign results →
// report, exactly as `epochledger worker` does but without rendering (the
// output hash is made up, the proof signature and the request signatures
// are real). It measures stored results per second and the latency of the
// requests; with the coordinator's verify rate at 0 every result is
// accepted on arrival, so a result counts once its FrameRendered and
// FrameAccepted are durable.
package loadgen

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/workers/api"
)

// Options configure a run.
type Options struct {
	URL        string // coordinator
	AdminToken string
	// Workers is the number of simulated workers (one node each).
	Workers int
	// Batch is the frames per lease request and results per results
	// request (1 = one request per frame, like `epochledger worker`). Each
	// node registers as Batch GPUs ("<Batch>x simulated"), so that the
	// coordinator's live-lease bound (one per GPU by default) lets it hold
	// a batch.
	Batch int
	// Warmup runs before the measured Duration.
	Warmup   time.Duration
	Duration time.Duration
	// FramesPerJob sizes the jobs submitted as work runs out.
	FramesPerJob uint32
	// Prefix makes node and job ids unique between runs on one log.
	Prefix string
}

// Report is what a run measured.
type Report struct {
	Workers       int     `json:"workers"`
	Batch         int     `json:"batch"`
	Seconds       float64 `json:"seconds"`
	Results       uint64  `json:"results"`
	ResultsPerSec float64 `json:"results_per_sec"`
	Leases        uint64  `json:"leases"`
	Requests      uint64  `json:"requests"`
	// Latency of the results requests (each answered after its events
	// were durable), in milliseconds.
	ResultP50MS float64 `json:"result_p50_ms"`
	ResultP90MS float64 `json:"result_p90_ms"`
	ResultP99MS float64 `json:"result_p99_ms"`
	ResultMaxMS float64 `json:"result_max_ms"`
	LeaseP99MS  float64 `json:"lease_p99_ms"`
	// CPUSeconds is the CPU time this process used in the measured
	// window (coordinator and load generator when both run in it);
	// ResultsPerCPUSecond divides the results by it, a figure that does
	// not depend on what else the machine runs.
	CPUSeconds          float64 `json:"cpu_seconds"`
	ResultsPerCPUSecond float64 `json:"results_per_cpu_second"`
	Errors              uint64  `json:"errors"`
	FirstError          string  `json:"first_error,omitempty"`
}

type run struct {
	o       Options
	admin   *api.Client
	tr      *http.Transport
	jobsMu  sync.Mutex
	jobs    int
	gen     atomic.Int64 // bumped when a job is submitted
	measure atomic.Bool
	stop    atomic.Bool

	results, leases, requests, errors atomic.Uint64
	errOnce                           sync.Once
	firstErr                          string
}

// Run registers the workers' nodes, runs the load and reports.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Workers < 1 || o.Batch < 1 || o.Duration <= 0 {
		return nil, errors.New("loadgen: workers, batch and duration must be positive")
	}
	if o.FramesPerJob == 0 {
		o.FramesPerJob = 20_000
	}
	if o.Prefix == "" {
		o.Prefix = "lg"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = o.Workers * 2
	tr.MaxIdleConns = o.Workers * 4
	tr.DisableCompression = true
	r := &run{o: o, tr: tr}
	r.admin = r.client(nil, o.AdminToken)
	keys := make([]ed25519.PrivateKey, o.Workers)
	ids := make([]string, o.Workers)
	for i := range keys {
		seed := sha256.Sum256([]byte(o.Prefix + "/node/" + strconv.Itoa(i)))
		keys[i] = ed25519.NewKeyFromSeed(seed[:])
		ids[i] = fmt.Sprintf("%s-n%d", o.Prefix, i)
		c := r.client(keys[i], o.AdminToken)
		if _, err := c.RegisterNode(ctx, api.RegisterNodeRequest{NodeID: ids[i], OperatorID: fmt.Sprintf("%s-op%d", o.Prefix, i%16), GPU: fmt.Sprintf("%dx simulated", o.Batch), OBScore: "1000"}); err != nil {
			return nil, fmt.Errorf("loadgen: register %s: %w", ids[i], err)
		}
	}
	if err := r.addJob(ctx, -1); err != nil {
		return nil, err
	}
	lat := make([][]float64, o.Workers)
	llat := make([][]float64, o.Workers)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat[i], llat[i] = r.worker(ctx, r.client(keys[i], ""), ids[i], keys[i])
		}()
	}
	if !sleep(ctx, o.Warmup) {
		r.stop.Store(true)
		wg.Wait()
		return nil, ctx.Err()
	}
	cpu0 := processCPU()
	r.measure.Store(true)
	start := time.Now()
	sleep(ctx, o.Duration)
	r.measure.Store(false)
	secs := time.Since(start).Seconds()
	cpu := processCPU() - cpu0
	r.stop.Store(true)
	wg.Wait()
	all, lall := slices.Concat(lat...), slices.Concat(llat...)
	slices.Sort(all)
	slices.Sort(lall)
	rep := &Report{Workers: o.Workers, Batch: o.Batch, Seconds: secs, Results: r.results.Load(), Leases: r.leases.Load(), Requests: r.requests.Load(),
		ResultP50MS: pct(all, 0.50), ResultP90MS: pct(all, 0.90), ResultP99MS: pct(all, 0.99), LeaseP99MS: pct(lall, 0.99),
		Errors: r.errors.Load(), FirstError: r.firstErr}
	if len(all) > 0 {
		rep.ResultMaxMS = all[len(all)-1]
	}
	rep.ResultsPerSec = float64(rep.Results) / secs
	if cpu > 0 {
		rep.CPUSeconds, rep.ResultsPerCPUSecond = cpu, float64(rep.Results)/cpu
	}
	return rep, ctx.Err()
}

func (r *run) client(key ed25519.PrivateKey, token string) *api.Client {
	c := api.NewClient(r.o.URL, key, token)
	c.HTTP = &http.Client{Transport: r.tr, Timeout: time.Minute}
	return c
}

// addJob submits a new job unless another worker did since generation
// seen.
func (r *run) addJob(ctx context.Context, seen int64) error {
	r.jobsMu.Lock()
	defer r.jobsMu.Unlock()
	if seen >= 0 && r.gen.Load() != seen {
		return nil
	}
	r.jobs++
	id := fmt.Sprintf("%s-job%d", r.o.Prefix, r.jobs)
	sum := sha256.Sum256([]byte(id))
	if _, err := r.admin.SubmitJob(ctx, api.SubmitJobRequest{JobID: id, Artist: "loadgen", SceneHash: hex.EncodeToString(sum[:]), Frames: r.o.FramesPerJob, USDPerOBh: "1"}); err != nil {
		return fmt.Errorf("loadgen: submit %s: %w", id, err)
	}
	r.gen.Add(1)
	return nil
}

func (r *run) fail(err error) {
	r.errors.Add(1)
	r.errOnce.Do(func() { r.firstErr = err.Error() })
}

// worker is one simulated worker; it returns the latencies (ms) of its
// results and lease requests inside the measured window.
func (r *run) worker(ctx context.Context, c *api.Client, node string, key ed25519.PrivateKey) (lat, llat []float64) {
	telemetry := json.RawMessage(`{"backend":"simulated"}`)
	results := make([]api.Result, 0, r.o.Batch)
	for !r.stop.Load() && ctx.Err() == nil {
		gen := r.gen.Load()
		t0 := time.Now()
		ls, err := c.Lease(ctx, api.LeaseRequest{Max: r.o.Batch})
		if err != nil {
			r.fail(err)
			sleep(ctx, 10*time.Millisecond)
			continue
		}
		measuring := r.measure.Load()
		if measuring {
			llat = append(llat, ms(time.Since(t0)))
			r.requests.Add(1)
			r.leases.Add(uint64(len(ls.Leases)))
		}
		if len(ls.Leases) == 0 {
			if err := r.addJob(ctx, gen); err != nil {
				r.fail(err)
			}
			continue
		}
		results = results[:0]
		for _, l := range ls.Leases {
			sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d/%s", l.JobID, l.Frame, node))
			hash := hex.EncodeToString(sum[:])
			msg := domain.ProofMessage(l.JobID, l.Frame, node, hash, 1)
			results = append(results, api.Result{JobID: l.JobID, Frame: l.Frame, OutputHash: hash, DurationMS: 1, Telemetry: telemetry, Signature: domain.SignProof(key, msg)})
		}
		t1 := time.Now()
		out, err := c.Report(ctx, results...)
		if err != nil {
			r.fail(err)
			continue
		}
		if r.measure.Load() {
			lat = append(lat, ms(time.Since(t1)))
			r.requests.Add(1)
			r.results.Add(uint64(len(out.Results)))
		}
	}
	return lat, llat
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
