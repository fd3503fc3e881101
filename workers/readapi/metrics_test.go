package readapi

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// exposition is a parsed Prometheus text exposition.
type exposition struct {
	types   map[string]string  // family → type
	samples map[string]float64 // name{labels as written} → value
}

var (
	reHelp   = regexp.MustCompile(`^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$`)
	reType   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$`)
	reSample = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\})? (\S+)$`)
	reLabel  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"`)
	reName   = regexp.MustCompile(`^epochledger_[a-z]+_[a-z0-9_]+$`)
)

// parseExposition checks the text format strictly: HELP then TYPE once per
// family before its samples, sample names of the family (histograms:
// _bucket with le, _sum, _count), valid values, histogram buckets
// cumulative and ending at +Inf = _count.
func parseExposition(text string) (*exposition, error) {
	e := &exposition{types: map[string]string{}, samples: map[string]float64{}}
	current := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	line := 0
	type hist struct {
		last  float64
		inf   float64
		count float64
		seen  bool
	}
	hists := map[string]*hist{}
	for sc.Scan() {
		line++
		s := sc.Text()
		switch {
		case s == "":
			return nil, fmt.Errorf("line %d: empty line", line)
		case strings.HasPrefix(s, "# HELP "):
			m := reHelp.FindStringSubmatch(s)
			if m == nil {
				return nil, fmt.Errorf("line %d: bad HELP: %q", line, s)
			}
			if _, dup := e.types[m[1]]; dup {
				return nil, fmt.Errorf("line %d: family %s twice", line, m[1])
			}
			current = m[1]
		case strings.HasPrefix(s, "# TYPE "):
			m := reType.FindStringSubmatch(s)
			if m == nil || m[1] != current {
				return nil, fmt.Errorf("line %d: bad TYPE or not after its HELP: %q", line, s)
			}
			e.types[m[1]] = m[2]
		case strings.HasPrefix(s, "#"):
			return nil, fmt.Errorf("line %d: unexpected comment %q", line, s)
		default:
			m := reSample.FindStringSubmatch(s)
			if m == nil {
				return nil, fmt.Errorf("line %d: bad sample %q", line, s)
			}
			name, labels, value := m[1], m[2], m[3]
			v, err := strconv.ParseFloat(value, 64)
			if err != nil && value != "+Inf" && value != "-Inf" && value != "NaN" {
				return nil, fmt.Errorf("line %d: bad value %q", line, value)
			}
			typ := e.types[current]
			base := name
			if typ == "histogram" {
				base = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
			}
			if base != current || typ == "" {
				return nil, fmt.Errorf("line %d: sample %s outside its family (current %s)", line, name, current)
			}
			if !reName.MatchString(base) {
				return nil, fmt.Errorf("line %d: name %s does not follow epochledger_<subsystem>_<name>_<unit>", line, base)
			}
			if (typ == "counter") != strings.HasSuffix(base, "_total") {
				return nil, fmt.Errorf("line %d: %s: counters and only counters end in _total", line, base)
			}
			var le string
			var rest []string
			for _, lm := range reLabel.FindAllStringSubmatch(labels, -1) {
				if lm[1] == "le" {
					le = lm[2]
				} else {
					rest = append(rest, lm[0])
				}
			}
			if typ == "histogram" {
				key := base + "{" + strings.Join(rest, ",") + "}"
				h := hists[key]
				if h == nil {
					h = &hist{}
					hists[key] = h
				}
				switch {
				case strings.HasSuffix(name, "_bucket"):
					if le == "" {
						return nil, fmt.Errorf("line %d: bucket without le", line)
					}
					if v < h.last {
						return nil, fmt.Errorf("line %d: buckets not cumulative", line)
					}
					h.last = v
					if le == "+Inf" {
						h.inf, h.seen = v, true
					}
				case strings.HasSuffix(name, "_count"):
					if !h.seen || h.inf != v {
						return nil, fmt.Errorf("line %d: %s: +Inf bucket %v != count %v", line, key, h.inf, v)
					}
					h.count = v
				}
			}
			key := seriesKey(name, labels)
			if _, dup := e.samples[key]; dup {
				return nil, fmt.Errorf("line %d: series %s twice", line, key)
			}
			e.samples[key] = v
		}
	}
	return e, nil
}

// seriesKey names a series by its name and its label pairs sorted by
// label name (their order in the exposition means nothing).
func seriesKey(name, labels string) string {
	if labels == "" {
		return name
	}
	var pairs []string
	for _, lm := range reLabel.FindAllStringSubmatch(labels, -1) {
		pairs = append(pairs, lm[0])
	}
	sort.Strings(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// value looks up a series written as name{labels}, labels in any order.
func (e *exposition) value(t *testing.T, key string) float64 {
	t.Helper()
	name, labels, _ := strings.Cut(key, "{")
	key = seriesKey(name, strings.TrimSuffix(labels, "}"))
	v, ok := e.samples[key]
	if !ok {
		t.Fatalf("no series %s", key)
	}
	return v
}

func TestMetricsExposition(t *testing.T) {
	w := scenario(t)
	m := NewMetrics()
	o := openOptions()
	o.Metrics = m
	s := newServer(t, w, o)
	for range 3 {
		s.get(t, "/v1/epochs")
	}
	s.get(t, "/v1/operators/nobody")
	m.ObserveAppend(3*time.Millisecond, nil)
	m.ObserveAppend(time.Second*5, nil)
	m.ObserveAppend(0, errors.New("disk full"))
	m.FrameAccepted()
	m.FrameRejected()
	m.Collect("epochledger_test_escape_ratio", "help with \\ and\nnewline", "gauge", func() []Sample {
		return []Sample{{Labels: []string{"v", "quote\" back\\ nl\n"}, Value: math.Inf(1)}}
	})

	r := s.get(t, "/metrics")
	if r.code != 200 || r.header.Get("Content-Type") != ContentType {
		t.Fatalf("metrics: %d %q", r.code, r.header.Get("Content-Type"))
	}
	e, err := parseExposition(string(r.body))
	if err != nil {
		t.Fatalf("%v\n%s", err, r.body)
	}
	pos := float64(w.ledger().Position)
	checks := map[string]float64{
		`epochledger_http_requests_total{route="/v1/epochs",code="200"}`:         3,
		`epochledger_http_requests_total{route="/v1/operators/{id}",code="404"}`: 1,
		`epochledger_http_request_seconds_count{route="/v1/epochs"}`:             3,
		`epochledger_store_append_seconds_count`:                                 2,
		`epochledger_store_append_seconds_bucket{le="0.005"}`:                    1,
		`epochledger_store_append_seconds_bucket{le="+Inf"}`:                     2,
		`epochledger_store_append_errors_total`:                                  1,
		`epochledger_coordinator_frames_accepted_total`:                          1,
		`epochledger_coordinator_frames_rejected_total`:                          1,
		`epochledger_log_position`:                                               pos,
		`epochledger_projection_lag_events`:                                      0,
		`epochledger_projection_ready`:                                           1,
		`epochledger_ledger_closed_epochs`:                                       2,
		`epochledger_settlement_epoch`:                                           2,
		`epochledger_settlement_state{state="in_flight"}`:                        1,
		`epochledger_settlement_state{state="confirmed"}`:                        0,
		`epochledger_settlement_unsettled_epochs`:                                1,
		`epochledger_test_escape_ratio{v="quote\" back\\ nl\n"}`:                 math.Inf(1),
		`epochledger_http_rate_limited_total`:                                    0,
		`epochledger_http_request_seconds_bucket{route="/v1/epochs",le="+Inf"}`:  3,
	}
	for k, want := range checks {
		if got := e.value(t, k); got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if e.value(t, "epochledger_log_head") < pos {
		t.Errorf("head below position")
	}
	for fam, typ := range map[string]string{
		"epochledger_http_request_seconds": "histogram", "epochledger_store_append_seconds": "histogram",
		"epochledger_log_position": "gauge", "epochledger_http_requests_total": "counter",
	} {
		if e.types[fam] != typ {
			t.Errorf("%s has type %q, want %s", fam, e.types[fam], typ)
		}
	}
	var nilM *Metrics
	nilM.ObserveAppend(time.Second, nil) // a nil registry records nothing and does not panic
	nilM.FrameAccepted()
}
