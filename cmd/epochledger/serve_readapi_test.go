package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TestStoreMetrics: serve's /metrics carries the embedded store's fsync,
// byte and fsync-time counters, and they move with appends.
func TestStoreMetrics(t *testing.T) {
	s, err := filestore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reg := prometheus.NewRegistry()
	storeMetrics(reg, s)
	ev := eventstore.EventData{ID: "00000000-0000-4000-8000-000000000001", Type: "T", Data: []byte(`{}`)}
	if _, err := s.Append(context.Background(), "s", eventstore.Any(), ev); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	for _, want := range []string{"# TYPE epochledger_store_fsyncs_total counter", "\nepochledger_store_fsyncs_total 1\n", "# TYPE epochledger_store_written_bytes_total counter"} {
		if !strings.Contains(text, want) {
			t.Fatalf("metrics lack %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "\nepochledger_store_written_bytes_total 0\n") {
		t.Fatal("written bytes did not move with an append")
	}
	if !strings.Contains(text, "# TYPE epochledger_store_fsync_seconds_total counter") || strings.Contains(text, "\nepochledger_store_fsync_seconds_total 0\n") {
		t.Fatalf("fsync time missing or did not move with an append:\n%s", text)
	}
}
