package main

import (
	"net/http"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/workers/coordinator"
	"github.com/epochledger/epochledger/workers/readapi"
	"github.com/prometheus/client_golang/prometheus"
)

// mountReadAPI mounts the read API, the operator and auditor web page and
// the Prometheus metrics beside the coordinator's routes, reading the
// coordinator's own live ledger (no second fold); payouts.csv reads the
// EpochClosed times from the log. The read API serves GET /metrics
// (OpsRoutes then skips its own): the whole registry, the coordinator's
// families included.
func mountReadAPI(mux *http.ServeMux, srv *coordinator.Server, metrics *readapi.Metrics, log eventstore.Store) {
	opts := readapi.DefaultOptions()
	opts.Metrics = metrics
	opts.Log = log
	readapi.New(srv, opts).Register(mux)
}

// storeMetrics registers the embedded store's group-commit counters with
// reg, when the store is the embedded one: fsyncs, bytes made durable
// (their ratio is the mean group commit; appends per fsync show how well
// concurrent writers share them) and time spent in fdatasync (per fsync,
// what the disk takes to commit).
func storeMetrics(reg prometheus.Registerer, s eventstore.Store) {
	st, ok := s.(interface{ Stats() filestore.Stats })
	if !ok {
		return
	}
	counter := func(name, help string, fn func(filestore.Stats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return fn(st.Stats()) })
	}
	reg.MustRegister(
		counter("epochledger_store_fsyncs_total", "Group commits of the embedded store: one write burst and one fsync each.",
			func(s filestore.Stats) float64 { return float64(s.Fsyncs) }),
		counter("epochledger_store_written_bytes_total", "Frame bytes the embedded store made durable.",
			func(s filestore.Stats) float64 { return float64(s.BytesWritten) }),
		counter("epochledger_store_fsync_seconds_total", "Time the embedded store's group commits spent waiting for fdatasync; divided by the fsyncs, the disk's commit latency.",
			func(s filestore.Stats) float64 { return s.SyncTime.Seconds() }),
	)
}
