package main

import (
	"net/http"

	"github.com/epochledger/epochledger/internal/readapi"
	"github.com/epochledger/epochledger/workers/coordinator"
)

// serve mounts the read API, the operator and auditor web page and the
// Prometheus metrics beside the coordinator's routes, reading the
// coordinator's own live ledger (no second fold).
func init() {
	metrics := readapi.NewMetrics()
	serveSetups = append(serveSetups, func(o *coordinator.Options) {
		o.Observer = metrics
	})
	serveMounts = append(serveMounts, func(mux *http.ServeMux, srv *coordinator.Server) {
		opts := readapi.DefaultOptions()
		opts.Metrics = metrics
		readapi.New(srv, opts).Register(mux)
	})
}
