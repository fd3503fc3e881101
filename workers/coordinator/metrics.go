package coordinator

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The coordinator's Prometheus collectors. They are registered with
// Options.Metrics (serve: the process's one registry, which the read API
// and the store share) or, without one, with a registry of the Server's
// own that its GET /metrics serves.

// Label values every labelled counter starts with at 0, so that a
// dashboard sees each series (and the family) before the first event.
var (
	resultOutcomes = []string{"accepted", "verifying", "duplicate", "refused"}
	authReasons    = []string{"missing", "stale", "before_restart", "nonce", "bad_key", "unknown_node", "bad_signature", "replay", "bad_token"}
	verdicts       = []string{"match", "mismatch", "recheck_mismatch"}
)

type metrics struct {
	reg           *prometheus.Registry
	registered    []prometheus.Collector
	results       *prometheus.CounterVec // outcome
	authFailures  *prometheus.CounterVec // reason
	verifications *prometheus.CounterVec // verdict
	framesLeased  prometheus.Counter
	rounds        prometheus.Counter
	events        prometheus.Counter
	appendSeconds prometheus.Histogram
}

func counterVec(name, help, label string, values []string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
	for _, l := range values {
		v.WithLabelValues(l)
	}
	return v
}

// newMetrics registers the coordinator's collectors with reg (nil: a new
// registry). It fails when reg already holds one of them (two Servers on
// one registry).
func newMetrics(s *Server, reg *prometheus.Registry) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &metrics{
		reg:           reg,
		results:       counterVec("epochledger_coordinator_results_total", "Frame results by outcome.", "outcome", resultOutcomes),
		authFailures:  counterVec("epochledger_coordinator_auth_failures_total", "Refused authentications by reason.", "reason", authReasons),
		verifications: counterVec("epochledger_coordinator_verifications_total", "Re-rendered results by verdict.", "verdict", verdicts),
		// One counter of frames leased: it was also written as
		// epochledger_coordinator_leases_total, a second name for the
		// same count (issue 19).
		framesLeased: prometheus.NewCounter(prometheus.CounterOpts{Name: "epochledger_coordinator_frames_leased_total", Help: "Frames leased to workers."}),
		rounds:       prometheus.NewCounter(prometheus.CounterOpts{Name: "epochledger_coordinator_append_rounds_total", Help: "Durable appends (one fsync each)."}),
		events:       prometheus.NewCounter(prometheus.CounterOpts{Name: "epochledger_coordinator_appended_events_total", Help: "Events appended."}),
		appendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "epochledger_coordinator_append_seconds", Help: "Time of one round's durable append.",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1},
		}),
	}
	gauge := func(name, help string, fn func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn)
	}
	ledger := func(f func() uint64) func() float64 {
		return func() float64 {
			s.mu.RLock()
			defer s.mu.RUnlock()
			return float64(f())
		}
	}
	cs := []prometheus.Collector{
		m.results, m.authFailures, m.verifications, m.framesLeased, m.rounds, m.events, m.appendSeconds,
		gauge("epochledger_coordinator_verify_queue", "Results waiting to be re-rendered.", func() float64 { return float64(s.vq.len()) }),
		gauge("epochledger_coordinator_reports_over_bound", "Frame reports in the log beyond their node's wall time (logs written before the bound).",
			ledger(func() uint64 { return uint64(s.sched.overBound) })),
		gauge("epochledger_ledger_position", "Log position the live ledger reflects.", ledger(func() uint64 { return s.ledger.Position })),
		gauge("epochledger_ledger_open_epoch", "The open epoch.", ledger(func() uint64 { return s.ledger.Open().N })),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			m.unregister()
			return nil, fmt.Errorf("coordinator: metrics: %w", err)
		}
		m.registered = append(m.registered, c)
	}
	return m, nil
}

// unregister takes the collectors out of the registry again.
func (m *metrics) unregister() {
	for _, c := range m.registered {
		m.reg.Unregister(c)
	}
	m.registered = nil
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}
