package main

import (
	"net/http"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/internal/readapi"
	"github.com/epochledger/epochledger/workers/coordinator"
)

// serve mounts the read API, the operator and auditor web page and the
// Prometheus metrics beside the coordinator's routes, reading the
// coordinator's own live ledger (no second fold).
func init() {
	var metrics *readapi.Metrics
	var logStore eventstore.Store
	serveSetups = append(serveSetups, func(o *coordinator.Options) {
		// One set of metrics per serve run: a process that serves twice
		// (the tests) must not write each family twice.
		metrics = readapi.NewMetrics()
		o.Observer = metrics
	})
	serveStores = append(serveStores, func(s eventstore.Store) {
		logStore = s // payouts.csv reads the EpochClosed times from it
		storeMetrics(metrics, s)
	})
	serveMounts = append(serveMounts, func(mux *http.ServeMux, srv *coordinator.Server) {
		opts := readapi.DefaultOptions()
		opts.Metrics = metrics
		opts.Log = logStore
		// The read API serves GET /metrics (OpsRoutes then skips its
		// own): the coordinator's families go into the same scrape.
		metrics.Include(srv.WriteMetrics)
		readapi.New(srv, opts).Register(mux)
	})
}

// storeMetrics exports the embedded store's group-commit counters, when
// the store is the embedded one: fsyncs, bytes made durable (their ratio
// is the mean group commit; appends per fsync show how well concurrent
// writers share them) and time spent in fdatasync (per fsync, what the
// disk takes to commit).
func storeMetrics(m *readapi.Metrics, s eventstore.Store) {
	st, ok := s.(interface{ Stats() filestore.Stats })
	if !ok {
		return
	}
	m.Collect("epochledger_store_fsyncs_total", "Group commits of the embedded store: one write burst and one fsync each.", "counter", func() []readapi.Sample {
		return []readapi.Sample{{Value: float64(st.Stats().Fsyncs)}}
	})
	m.Collect("epochledger_store_written_bytes_total", "Frame bytes the embedded store made durable.", "counter", func() []readapi.Sample {
		return []readapi.Sample{{Value: float64(st.Stats().BytesWritten)}}
	})
	m.Collect("epochledger_store_fsync_seconds_total", "Time the embedded store's group commits spent waiting for fdatasync; divided by the fsyncs, the disk's commit latency.", "counter", func() []readapi.Sample {
		return []readapi.Sample{{Value: st.Stats().SyncTime.Seconds()}}
	})
}
