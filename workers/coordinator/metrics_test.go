package coordinator

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads the Server's GET /metrics into metric families.
func (h *harness) scrape() map[string]*dto.MetricFamily {
	h.t.Helper()
	resp, err := http.Get(h.ts.URL + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		h.t.Fatalf("/metrics: %d %s", resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		h.t.Fatalf("/metrics is not the text format: %v\n%s", err, body)
	}
	return fams
}

// value is the value of the series of family name whose labels are the
// pairs given (name, value, …), -1 when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		match := len(got) == len(labels)/2
		for i := 0; match && i+1 < len(labels); i += 2 {
			match = got[labels[i]] == labels[i+1]
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// Issue 19: the coordinator's collectors, on a registry of its own when
// Options.Metrics is nil, move with the work; frames leased are counted
// under one name (epochledger_coordinator_frames_leased_total, no longer
// also _leases_total); the labelled counters start at 0 for every known
// label value.
func TestMetricsOwnRegistry(t *testing.T) {
	h := newHarness(t, nil)
	n1 := h.node("n1", "op-a", "860")
	h.job("j1", 3, "0.5")
	for _, l := range h.lease(n1, 3) {
		if _, err := n1.Report(context.Background(), h.result("n1", l, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	fams := h.scrape()
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"epochledger_coordinator_frames_leased_total", nil, 3},
		{"epochledger_coordinator_results_total", []string{"outcome", "accepted"}, 3},
		{"epochledger_coordinator_results_total", []string{"outcome", "refused"}, 0},
		{"epochledger_coordinator_auth_failures_total", []string{"reason", "bad_signature"}, 0},
		{"epochledger_coordinator_verifications_total", []string{"verdict", "mismatch"}, 0},
		{"epochledger_coordinator_verify_queue", nil, 0},
		{"epochledger_ledger_open_epoch", nil, 1},
	} {
		if got := value(fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// The job's completion may still be on its way into the log: the live
	// ledger's position is at most the head.
	if pos := value(fams, "epochledger_ledger_position"); pos < 1 || pos > float64(h.head()) {
		t.Errorf("ledger position %v, head %d", pos, h.head())
	}
	// At least the lease's round and the results' rounds (a completion
	// may be appending while the scrape gathers, so no exact count).
	for _, n := range []string{"epochledger_coordinator_append_rounds_total", "epochledger_coordinator_appended_events_total", "epochledger_coordinator_append_seconds"} {
		if v := value(fams, n); v < 2 {
			t.Errorf("%s = %v, want at least 2", n, v)
		}
	}
	if _, dup := fams["epochledger_coordinator_leases_total"]; dup {
		t.Error("frames leased still counted twice (epochledger_coordinator_leases_total)")
	}
}

// A registry given in Options holds the coordinator's collectors; a
// second Server on the same registry is refused with an error naming the
// clash (instead of writing each family twice) and leaves the first's in
// place; Close takes them out, so a restart in one process registers
// again.
func TestMetricsSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(o *Options) { o.Metrics = reg })
	has := func(when string) {
		t.Helper()
		fams, err := reg.Gather()
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		names := map[string]bool{}
		for _, f := range fams {
			names[f.GetName()] = true
		}
		for _, n := range []string{"epochledger_coordinator_frames_leased_total", "epochledger_coordinator_verify_queue", "epochledger_ledger_position"} {
			if !names[n] {
				t.Errorf("%s: the shared registry lacks %s", when, n)
			}
		}
	}
	has("started")
	o := h.opts
	if _, err := New(context.Background(), h.store, &o); err == nil || !strings.Contains(err.Error(), "coordinator: metrics") {
		t.Fatalf("a second Server on one registry: %v", err)
	}
	has("after the refused second Server")
	h.restart(nil)
	has("restarted")
	h.srv.Close() // h's cleanup closes it again: a no-op
	if fams, err := reg.Gather(); err != nil || len(fams) != 0 {
		t.Errorf("a closed Server left %d families in the registry (%v)", len(fams), err)
	}
}
