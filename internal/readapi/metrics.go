package readapi

import (
	"bufio"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Metrics is the Prometheus registry of `epochledger serve`, written in the
// text exposition format (version 0.0.4) with the standard library. Names
// follow epochledger_<subsystem>_<name>_<unit>. The read API records its
// requests here and exports the log and projection gauges; the coordinator
// and the store record appends and frames through the methods below. All
// methods are safe for concurrent use; a nil *Metrics records nothing.
//
// Series it writes:
//
//	epochledger_http_requests_total{route,code}        counter
//	epochledger_http_request_seconds{route}            histogram
//	epochledger_http_rate_limited_total                counter
//	epochledger_store_append_seconds                   histogram
//	epochledger_store_append_errors_total              counter
//	epochledger_store_fsyncs_total                     counter (embedded store, via Collect)
//	epochledger_store_written_bytes_total              counter (embedded store, via Collect)
//	epochledger_store_fsync_seconds_total              counter (embedded store, via Collect)
//	epochledger_coordinator_frames_leased_total        counter
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
// and, after them, what Include adds (serve: the coordinator's
// epochledger_coordinator_* and epochledger_ledger_* families).
type Metrics struct {
	mu       sync.Mutex
	requests map[requestKey]uint64
	reqTime  map[string]*histogram

	rateLimited  atomic.Uint64
	appendTime   *histogram
	appendErrors atomic.Uint64
	leased       atomic.Uint64
	accepted     atomic.Uint64
	rejected     atomic.Uint64

	collectors map[string]collector
	// included write whole metric families of another component (the
	// coordinator's own registry) after these, so that serve's one
	// /metrics shows them; their names must not clash with the above.
	included []func(io.Writer)
}

type requestKey struct {
	route string
	code  int
}

// Sample is one series of a collected metric: label pairs and a value.
type Sample struct {
	Labels []string // name, value, name, value, …
	Value  float64
}

type collector struct {
	help, typ string
	fn        func() []Sample
}

// Bucket bounds (seconds) of the latency histograms.
var (
	httpBuckets   = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}
	appendBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}
)

// NewMetrics returns an empty registry.
func NewMetrics() *Metrics {
	return &Metrics{
		requests:   map[requestKey]uint64{},
		reqTime:    map[string]*histogram{},
		appendTime: newHistogram(appendBuckets),
		collectors: map[string]collector{},
	}
}

// ObserveRequest records one HTTP request of route (a route pattern, never
// a raw path, so that the label set stays small).
func (m *Metrics) ObserveRequest(route string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.requests[requestKey{route, code}]++
	h := m.reqTime[route]
	if h == nil {
		h = newHistogram(httpBuckets)
		m.reqTime[route] = h
	}
	m.mu.Unlock()
	h.observe(d.Seconds())
}

// RateLimited counts a request refused with 429.
func (m *Metrics) RateLimited() {
	if m != nil {
		m.rateLimited.Add(1)
	}
}

// ObserveAppend records one append to the event store: its latency when it
// succeeded, an error otherwise.
func (m *Metrics) ObserveAppend(d time.Duration, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.appendErrors.Add(1)
		return
	}
	m.appendTime.observe(d.Seconds())
}

// FramesLeased counts n frames leased to workers.
func (m *Metrics) FramesLeased(n int) {
	if m != nil && n > 0 {
		m.leased.Add(uint64(n))
	}
}

// FrameAccepted counts a frame accepted by the coordinator.
func (m *Metrics) FrameAccepted() {
	if m != nil {
		m.accepted.Add(1)
	}
}

// FrameRejected counts a frame rejected by the coordinator.
func (m *Metrics) FrameRejected() {
	if m != nil {
		m.rejected.Add(1)
	}
}

// GaugeFunc exports a gauge whose value fn returns at each scrape. A second
// registration of the same name replaces the first.
func (m *Metrics) GaugeFunc(name, help string, fn func() float64) {
	m.Collect(name, help, "gauge", func() []Sample { return []Sample{{Value: fn()}} })
}

// Collect exports a metric of type typ ("gauge" or "counter") whose series
// fn returns at each scrape. A second registration of the same name
// replaces the first.
func (m *Metrics) Collect(name, help, typ string, fn func() []Sample) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.collectors[name] = collector{help: help, typ: typ, fn: fn}
	m.mu.Unlock()
}

// Include adds a writer of complete metric families in the text
// exposition format (the coordinator's WriteMetrics) to every scrape, after
// the families of this registry. It is how serve exposes the
// coordinator's metrics on the read API's /metrics: the read API mounts
// GET /metrics first, so the coordinator's own route is never reached.
func (m *Metrics) Include(write func(io.Writer)) {
	if m == nil || write == nil {
		return
	}
	m.mu.Lock()
	m.included = append(m.included, write)
	m.mu.Unlock()
}

// ContentType is the media type of the exposition WriteTo writes.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// WriteTo writes every metric in the text exposition format, families
// sorted by name.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: bufio.NewWriter(w)}
	type family struct {
		name string
		emit func()
	}
	var fams []family
	m.mu.Lock()
	reqs := make(map[requestKey]uint64, len(m.requests))
	for k, v := range m.requests {
		reqs[k] = v
	}
	reqTime := make(map[string]*histogram, len(m.reqTime))
	for k, v := range m.reqTime {
		reqTime[k] = v
	}
	colls := make(map[string]collector, len(m.collectors))
	for k, v := range m.collectors {
		colls[k] = v
	}
	included := append([]func(io.Writer){}, m.included...)
	m.mu.Unlock()

	counter := func(name, help string, v uint64) family {
		return family{name, func() {
			header(cw, name, help, "counter")
			sample(cw, name, nil, float64(v))
		}}
	}
	fams = append(fams,
		family{"epochledger_http_requests_total", func() {
			header(cw, "epochledger_http_requests_total", "HTTP requests served, by route pattern and status code.", "counter")
			keys := make([]requestKey, 0, len(reqs))
			for k := range reqs {
				keys = append(keys, k)
			}
			sort.Slice(keys, func(i, j int) bool {
				if keys[i].route != keys[j].route {
					return keys[i].route < keys[j].route
				}
				return keys[i].code < keys[j].code
			})
			for _, k := range keys {
				sample(cw, "epochledger_http_requests_total", []string{"route", k.route, "code", strconv.Itoa(k.code)}, float64(reqs[k]))
			}
		}},
		family{"epochledger_http_request_seconds", func() {
			header(cw, "epochledger_http_request_seconds", "HTTP request latency, by route pattern.", "histogram")
			routes := make([]string, 0, len(reqTime))
			for r := range reqTime {
				routes = append(routes, r)
			}
			sort.Strings(routes)
			for _, r := range routes {
				reqTime[r].write(cw, "epochledger_http_request_seconds", []string{"route", r})
			}
		}},
		counter("epochledger_http_rate_limited_total", "Requests refused with 429 by the per-client rate limit.", m.rateLimited.Load()),
		family{"epochledger_store_append_seconds", func() {
			header(cw, "epochledger_store_append_seconds", "Latency of successful appends to the event store (durable on return).", "histogram")
			m.appendTime.write(cw, "epochledger_store_append_seconds", nil)
		}},
		counter("epochledger_store_append_errors_total", "Appends to the event store that failed.", m.appendErrors.Load()),
		counter("epochledger_coordinator_frames_leased_total", "Frames leased to workers.", m.leased.Load()),
		counter("epochledger_coordinator_frames_accepted_total", "Frames accepted by the coordinator.", m.accepted.Load()),
		counter("epochledger_coordinator_frames_rejected_total", "Frames rejected by the coordinator.", m.rejected.Load()),
	)
	for name, c := range colls {
		fams = append(fams, family{name, func() {
			samples := c.fn()
			header(cw, name, c.help, c.typ)
			for _, s := range samples {
				sample(cw, name, s.Labels, s.Value)
			}
		}})
	}
	sort.Slice(fams, func(i, j int) bool { return fams[i].name < fams[j].name })
	for _, f := range fams {
		f.emit()
	}
	for _, write := range included {
		write(cw)
	}
	if err := cw.w.Flush(); err != nil && cw.err == nil {
		cw.err = err
	}
	return cw.n, cw.err
}

// Handler serves the exposition (GET /metrics).
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Cache-Control", "no-store")
		m.WriteTo(w)
	})
}

type countWriter struct {
	w   *bufio.Writer
	n   int64
	err error
}

// Write lets an included writer write through the count.
func (c *countWriter) Write(b []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
	return n, err
}

func (c *countWriter) str(s string) {
	if c.err != nil {
		return
	}
	n, err := c.w.WriteString(s)
	c.n += int64(n)
	c.err = err
}

func header(w *countWriter, name, help, typ string) {
	w.str("# HELP " + name + " " + escapeHelp(help) + "\n# TYPE " + name + " " + typ + "\n")
}

func sample(w *countWriter, name string, labels []string, v float64) {
	var b strings.Builder
	b.WriteString(name)
	if len(labels) > 0 {
		b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(labels[i])
			b.WriteString(`="`)
			b.WriteString(escapeLabel(labels[i+1]))
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(formatFloat(v))
	b.WriteByte('\n')
	w.str(b.String())
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }

// histogram is a fixed-bucket Prometheus histogram.
type histogram struct {
	mu     sync.Mutex
	bounds []float64
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	n      uint64
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v) // first bound >= v: le is inclusive
	h.mu.Lock()
	h.counts[i]++
	h.sum += v
	h.n++
	h.mu.Unlock()
}

func (h *histogram) write(w *countWriter, name string, labels []string) {
	h.mu.Lock()
	counts := append([]uint64(nil), h.counts...)
	sum, n := h.sum, h.n
	h.mu.Unlock()
	var cum uint64
	for i, c := range counts {
		cum += c
		le := "+Inf"
		if i < len(h.bounds) {
			le = formatFloat(h.bounds[i])
		}
		sample(w, name+"_bucket", append(append([]string(nil), labels...), "le", le), float64(cum))
	}
	sample(w, name+"_sum", labels, sum)
	sample(w, name+"_count", labels, float64(n))
}
