package readapi

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// Metrics holds the read API's Prometheus collectors, registered with one
// registry (serve: the process's, which the coordinator and the store
// share) that Handler serves. Names follow
// epochledger_<subsystem>_<name>_<unit>. The read API records its requests
// here and exports the log and projection gauges; the coordinator records
// appends and frame verdicts through the Observer methods below. All
// methods are safe for concurrent use; a nil *Metrics records nothing.
//
// Series it registers:
//
//	epochledger_http_requests_total{route,code}        counter
//	epochledger_http_request_seconds{route}            histogram
//	epochledger_http_rate_limited_total                counter
//	epochledger_store_append_seconds                   histogram
//	epochledger_store_append_errors_total              counter
//	epochledger_coordinator_frames_accepted_total      counter
//	epochledger_coordinator_frames_rejected_total      counter
//	epochledger_log_position                           gauge (from the API's source)
//	epochledger_log_head                               gauge (when the source knows it)
//	epochledger_projection_lag_events                  gauge
//	epochledger_projection_ready                       gauge 0/1
//	epochledger_ledger_closed_epochs                   gauge
//	epochledger_settlement_epoch                       gauge: newest closed epoch
//	epochledger_settlement_state{state}                gauge: 1 for its settlement state
//	epochledger_settlement_unsettled_epochs            gauge: closed epochs not confirmed
//
// The same registry carries what others register with it (serve: the
// coordinator's epochledger_coordinator_* and epochledger_ledger_*
// families, the embedded store's epochledger_store_* counters).
type Metrics struct {
	reg *prometheus.Registry

	requests     *prometheus.CounterVec
	reqTime      *prometheus.HistogramVec
	rateLimited  prometheus.Counter
	appendTime   prometheus.Histogram
	appendErrors prometheus.Counter
	accepted     prometheus.Counter
	rejected     prometheus.Counter

	funcs *funcCollector
}

// Sample is one series of a collected metric: label pairs and a value.
type Sample struct {
	Labels []string // name, value, name, value, …
	Value  float64
}

// Bucket bounds (seconds) of the latency histograms.
var (
	httpBuckets   = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}
	appendBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}
)

// NewMetrics returns the read API's collectors on a registry of their own.
func NewMetrics() *Metrics {
	m, err := MetricsOn(prometheus.NewRegistry())
	if err != nil {
		panic(err) // a new registry holds none of them
	}
	return m
}

// MetricsOn registers the read API's collectors with reg. It fails when
// reg already holds one of them (two read APIs on one registry).
func MetricsOn(reg *prometheus.Registry) (*Metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epochledger_http_requests_total", Help: "HTTP requests served, by route pattern and status code.",
		}, []string{"route", "code"}),
		reqTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "epochledger_http_request_seconds", Help: "HTTP request latency, by route pattern.", Buckets: httpBuckets,
		}, []string{"route"}),
		rateLimited: counter("epochledger_http_rate_limited_total", "Requests refused with 429 by the per-client rate limit."),
		appendTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "epochledger_store_append_seconds", Help: "Latency of successful appends to the event store (durable on return).", Buckets: appendBuckets,
		}),
		appendErrors: counter("epochledger_store_append_errors_total", "Appends to the event store that failed."),
		accepted:     counter("epochledger_coordinator_frames_accepted_total", "Frames accepted by the coordinator."),
		rejected:     counter("epochledger_coordinator_frames_rejected_total", "Frames rejected by the coordinator."),
		funcs:        &funcCollector{m: map[string]funcMetric{}},
	}
	for _, c := range []prometheus.Collector{m.requests, m.reqTime, m.rateLimited, m.appendTime, m.appendErrors, m.accepted, m.rejected, m.funcs} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("readapi: metrics: %w", err)
		}
	}
	return m, nil
}

// ObserveRequest records one HTTP request of route (a route pattern, never
// a raw path, so that the label set stays small).
func (m *Metrics) ObserveRequest(route string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, fmt.Sprint(code)).Inc()
	m.reqTime.WithLabelValues(route).Observe(d.Seconds())
}

// RateLimited counts a request refused with 429.
func (m *Metrics) RateLimited() {
	if m != nil {
		m.rateLimited.Inc()
	}
}

// ObserveAppend records one append to the event store: its latency when it
// succeeded, an error otherwise.
func (m *Metrics) ObserveAppend(d time.Duration, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.appendErrors.Inc()
		return
	}
	m.appendTime.Observe(d.Seconds())
}

// FrameAccepted counts a frame accepted by the coordinator.
func (m *Metrics) FrameAccepted() {
	if m != nil {
		m.accepted.Inc()
	}
}

// FrameRejected counts a frame rejected by the coordinator.
func (m *Metrics) FrameRejected() {
	if m != nil {
		m.rejected.Inc()
	}
}

// GaugeFunc exports a gauge whose value fn returns at each scrape. A second
// registration of the same name replaces the first.
func (m *Metrics) GaugeFunc(name, help string, fn func() float64) {
	m.Collect(name, help, "gauge", func() []Sample { return []Sample{{Value: fn()}} })
}

// Collect exports a metric of type typ ("gauge" or "counter") whose series
// fn returns at each scrape. A second registration of the same name
// replaces the first (a read API built again on the same Metrics).
func (m *Metrics) Collect(name, help, typ string, fn func() []Sample) {
	if m == nil {
		return
	}
	vt := prometheus.GaugeValue
	if typ == "counter" {
		vt = prometheus.CounterValue
	}
	m.funcs.mu.Lock()
	m.funcs.m[name] = funcMetric{help: help, typ: vt, fn: fn}
	m.funcs.mu.Unlock()
}

// ContentType is the media type of the text exposition Handler answers a
// client that asks for no other format (Prometheus text format 0.0.4).
var ContentType = string(expfmt.Negotiate(http.Header{}))

// Handler serves the exposition of the whole registry (GET /metrics):
// promhttp, which answers the format the scraper's Accept asks for. A
// registry that cannot be gathered (two collectors writing one family)
// answers 500 naming the clash.
func (m *Metrics) Handler() http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// funcCollector exports the metrics whose values functions return at
// each scrape (GaugeFunc, Collect). It is unchecked (Describe sends
// nothing) because the set of names and labels grows after registration;
// the registry still refuses, at Gather, a family another collector also
// writes.
type funcCollector struct {
	mu sync.Mutex
	m  map[string]funcMetric
}

type funcMetric struct {
	help string
	typ  prometheus.ValueType
	fn   func() []Sample
}

func (c *funcCollector) Describe(chan<- *prometheus.Desc) {}

func (c *funcCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	fms := make(map[string]funcMetric, len(c.m))
	for k, v := range c.m {
		fms[k] = v
	}
	c.mu.Unlock()
	// The functions run outside the lock: they take the source's.
	for name, f := range fms {
		for _, s := range f.fn() {
			var names, values []string
			for i := 0; i+1 < len(s.Labels); i += 2 {
				names = append(names, s.Labels[i])
				values = append(values, s.Labels[i+1])
			}
			desc := prometheus.NewDesc(name, f.help, names, nil)
			metric, err := prometheus.NewConstMetric(desc, f.typ, s.Value, values...)
			if err != nil {
				metric = prometheus.NewInvalidMetric(desc, err)
			}
			ch <- metric
		}
	}
}
