package coordinator

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
)

// Prometheus metrics in the text exposition format, written by hand: a
// handful of counters and one histogram do not need a client library.

type counter struct{ v atomic.Uint64 }

func (c *counter) add(n uint64) { c.v.Add(n) }

// counterVec is a counter with one label.
type counterVec struct {
	mu sync.Mutex
	m  map[string]*counter
}

func (v *counterVec) with(label string) *counter {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[string]*counter{}
	}
	c := v.m[label]
	if c == nil {
		c = &counter{}
		v.m[label] = c
	}
	return c
}

type histogram struct {
	mu      sync.Mutex
	bounds  []float64
	counts  []uint64
	sum     float64
	samples uint64
}

func newHistogram(bounds ...float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]uint64, len(bounds))}
}

func (h *histogram) observe(v float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := sort.SearchFloat64s(h.bounds, v)
	if i < len(h.counts) {
		h.counts[i]++
	}
	h.sum += v
	h.samples++
}

type metrics struct {
	results       counterVec // outcome
	authFailures  counterVec // reason
	verifications counterVec // verdict
	leases        counter
	rounds        counter
	events        counter
	appendSeconds *histogram
}

func newMetrics() *metrics {
	return &metrics{appendSeconds: newHistogram(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1)}
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	s.WriteMetrics(w)
}

// WriteMetrics writes the coordinator's metrics in the Prometheus text
// format (what GET /metrics serves).
func (s *Server) WriteMetrics(w io.Writer) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	m := s.m
	vec := func(name, help, label string, v *counterVec) {
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
		v.mu.Lock()
		keys := make([]string, 0, len(v.m))
		for k := range v.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(bw, "%s{%s=%q} %d\n", name, label, k, v.m[k].v.Load())
		}
		v.mu.Unlock()
	}
	one := func(name, help, typ string, v float64) {
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n%s %v\n", name, help, name, typ, name, v)
	}
	vec("epochledger_coordinator_results_total", "Frame results by outcome.", "outcome", &m.results)
	vec("epochledger_coordinator_auth_failures_total", "Refused authentications by reason.", "reason", &m.authFailures)
	vec("epochledger_coordinator_verifications_total", "Re-rendered results by verdict.", "verdict", &m.verifications)
	one("epochledger_coordinator_leases_total", "Frames leased.", "counter", float64(m.leases.v.Load()))
	one("epochledger_coordinator_append_rounds_total", "Durable appends (one fsync each).", "counter", float64(m.rounds.v.Load()))
	one("epochledger_coordinator_appended_events_total", "Events appended.", "counter", float64(m.events.v.Load()))
	one("epochledger_coordinator_verify_queue", "Results waiting to be re-rendered.", "gauge", float64(s.vq.len()))
	s.mu.RLock()
	pos, open, over := s.ledger.Position, s.ledger.Open().N, s.sched.overBound
	s.mu.RUnlock()
	one("epochledger_coordinator_reports_over_bound", "Frame reports in the log beyond their node's wall time (logs written before the bound).", "gauge", float64(over))
	one("epochledger_ledger_position", "Log position the live ledger reflects.", "gauge", float64(pos))
	one("epochledger_ledger_open_epoch", "The open epoch.", "gauge", float64(open))
	h := m.appendSeconds
	h.mu.Lock()
	name := "epochledger_coordinator_append_seconds"
	fmt.Fprintf(bw, "# HELP %s Time of one round's durable append.\n# TYPE %s histogram\n", name, name)
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i]
		fmt.Fprintf(bw, "%s_bucket{le=\"%v\"} %d\n", name, b, cum)
	}
	fmt.Fprintf(bw, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %v\n%s_count %d\n", name, h.samples, name, roundSum(h.sum), name, h.samples)
	h.mu.Unlock()
}

func roundSum(v float64) float64 { return math.Round(v*1e6) / 1e6 }
