package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/workers/api"
	"github.com/epochledger/epochledger/workers/coordinator"
	"github.com/epochledger/epochledger/workers/readapi"
	"github.com/prometheus/client_golang/prometheus"
)

func runServe(ctx context.Context, e *env, args []string) error {
	var sf storeFlags
	fs := newFlagSet(e, "serve", "[--data DIR] [--addr HOST:PORT] [flags]", `
Run the coordinator on the log: it folds the log at start, then serves the
worker routes (signed with node keys), the admin and artist routes (bearer
token), /healthz, /readyz and /metrics, and appends EpochClosed at every
epoch boundary (--epoch-genesis + k × --epoch-length). Every answer that
appends is sent after the events are durable. A sample of results
(--verify-rate) is re-rendered before it is accepted.

Reward channels: with --schedule FILE (a JSON list of EmissionScheduleSet
data) the schedule is appended where the log lacks it (POST /v1/schedule
adds one later) and every EpochClosed carries the channels in force.
Workers send signed heartbeats (POST /v1/worker/heartbeat) every
--heartbeat-interval; at each close one NodeAvailability per node seen is
appended (online from heartbeats, busy from leases) just before
EpochClosed.

The admin token comes from --admin-token-file or EPOCHLEDGER_ADMIN_TOKEN;
without one the admin and artist routes answer 403.`)
	sf.register(fs, e)
	def := coordinator.DefaultOptions()
	addr := fs.String("addr", envOr(e, "EPOCHLEDGER_ADDR", "127.0.0.1:8080"), "listen address (env EPOCHLEDGER_ADDR)")
	tokenFile := fs.String("admin-token-file", "", "file holding the admin bearer token (default: env EPOCHLEDGER_ADMIN_TOKEN)")
	lease := fs.Duration("lease", def.LeaseDuration, "default lease of a frame")
	maxLease := fs.Duration("max-lease", def.MaxLeaseDuration, "longest lease a worker may ask for")
	verifyRate := fs.Float64("verify-rate", def.VerifyRate, "fraction of results re-rendered before acceptance (0..1)")
	nodeRates := map[string]float64{}
	fs.Func("verify-node", "per-node verify rate NODE=RATE (repeatable)", func(s string) error {
		n, r, ok := strings.Cut(s, "=")
		v, err := strconv.ParseFloat(r, 64)
		if !ok || n == "" || err != nil || v < 0 || v > 1 {
			return fmt.Errorf("want NODE=RATE with RATE in 0..1, got %q", s)
		}
		nodeRates[n] = v
		return nil
	})
	verifiers := fs.Int("verifiers", def.Verifiers, "goroutines re-rendering sampled results")
	size := fs.String("render-size", fmt.Sprintf("%dx%d", def.Render.Width, def.Render.Height), "frame size of the built-in renderer, WxH")
	spp := fs.Int("render-spp", def.Render.Spp, "samples per pixel of the built-in renderer")
	price := fs.String("render-usd-price", coordinator.DefaultRenderUSDPrice, "RENDER price in USD for the burns of completed jobs")
	emission := fs.String("emission", domain.DefaultEmission.RenderString(), "emission recorded by EpochClosed, in RENDER")
	clock := fs.Bool("epoch-clock", true, "append EpochClosed at epoch boundaries")
	schedule := fs.String("schedule", "", "emission schedule: a JSON list of EmissionScheduleSet data (e.g. scenarios/schedules/render-2024.json), appended where the log lacks it; EpochClosed then carries its channels")
	heartbeat := fs.Duration("heartbeat-interval", 10*time.Second, "interval of the workers' signed heartbeats (online time for the availability channel)")
	epochLen := fs.Duration("epoch-length", def.EpochLength, "epoch length")
	genesis := fs.String("epoch-genesis", def.EpochGenesis.Format(time.RFC3339), "start of epoch 1 (RFC 3339)")
	window := fs.Duration("request-window", def.RequestWindow, "allowed clock difference of signed requests")
	supplyCap := fs.String("supply-cap", domain.MaxSupply.RenderString(), "total-supply cap in RENDER: the emissions of all epochs together may not exceed it")
	var clients []coordinator.ComputeClient
	fs.Func("compute-client", "compute client ID=PUBKEY (base58 ed25519) whose signature attests compute work, registered in the log with the caps below (repeatable)", func(s string) error {
		id, key, ok := strings.Cut(s, "=")
		if !ok || id == "" || key == "" {
			return fmt.Errorf("want ID=PUBKEY, got %q", s)
		}
		clients = append(clients, coordinator.ComputeClient{ID: id, Pubkey: key})
		return nil
	})
	perTask := fs.String("compute-max-usd-per-task", coordinator.DefaultComputeMaxUSDPerTask, "cap in USD on what a compute client attests for one task")
	perNodeEpoch := fs.String("compute-max-usd-per-node-epoch", coordinator.DefaultComputeMaxUSDPerNodeEpoch, "cap in USD on what a compute client attests for one node in one epoch")
	leasesPerGPU := fs.Int("leases-per-gpu", def.LeasesPerGPU, "live leases a node may hold per GPU its registration names (\"4x RTX 4090\": 4 GPUs); its reported durations must fit as many lanes of wall time")
	hd := coordinator.DefaultHTTPOptions()
	headerTimeout := fs.Duration("header-timeout", hd.HeaderTimeout, "deadline for a request's line and headers")
	bodyTimeout := fs.Duration("body-timeout", hd.BodyTimeout, "deadline for a whole request, body included (a slower body is cut)")
	writeTimeout := fs.Duration("write-timeout", hd.WriteTimeout, "deadline for an answer, from the end of the request headers")
	idleTimeout := fs.Duration("idle-timeout", hd.IdleTimeout, "an idle keep-alive connection is closed after this")
	maxConns := fs.Int("max-conns", hd.MaxConns, "open connections at most (lowered to the file descriptor limit less a reserve for the store); more wait in the listen backlog")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("serve: unexpected argument %q", pos[0])
	}
	o := *def
	o.LeaseDuration, o.MaxLeaseDuration, o.VerifyRate, o.NodeVerifyRates, o.Verifiers = *lease, *maxLease, *verifyRate, nodeRates, *verifiers
	o.EpochClock, o.EpochLength, o.RequestWindow, o.LeasesPerGPU = *clock, *epochLen, *window, *leasesPerGPU
	ho := coordinator.HTTPOptions{HeaderTimeout: *headerTimeout, BodyTimeout: *bodyTimeout, WriteTimeout: *writeTimeout, IdleTimeout: *idleTimeout, MaxConns: *maxConns}
	if ho.HeaderTimeout <= 0 || ho.BodyTimeout <= 0 || ho.WriteTimeout <= 0 || ho.IdleTimeout <= 0 || ho.MaxConns < 1 {
		return usagef("serve: --header-timeout, --body-timeout, --write-timeout, --idle-timeout and --max-conns must be positive")
	}
	if sf.store == "" {
		// The replay floor lives beside the log it guards; a store
		// without a data directory keeps it in memory (see
		// coordinator.Options.ReplayFloorPath).
		o.ReplayFloorPath = filepath.Join(sf.data, "coordinator", "replay-floor")
	}
	if _, err := fmt.Sscanf(*size, "%dx%d", &o.Render.Width, &o.Render.Height); err != nil {
		return usagef("serve: --render-size %q: want WxH, e.g. 64x48", *size)
	}
	o.Render.Spp = *spp
	if o.RenderUSDPrice, err = domain.ParseUSD(*price); err != nil || o.RenderUSDPrice.IsZero() {
		return usagef("serve: --render-usd-price %q: want a positive USD amount", *price)
	}
	if o.Emission, err = domain.ParseRender(*emission); err != nil {
		return usagef("serve: --emission: %v", err)
	}
	o.HeartbeatInterval = *heartbeat
	if *schedule != "" {
		if o.Schedule, err = readScheduleFile(*schedule); err != nil {
			return usagef("serve: --schedule: %v", err)
		}
	}
	if o.SupplyCap, err = domain.ParseRender(*supplyCap); err != nil || o.SupplyCap == 0 {
		return usagef("serve: --supply-cap %q: want a positive RENDER amount", *supplyCap)
	}
	if o.Emission > o.SupplyCap {
		return usagef("serve: --emission %s is over --supply-cap %s", *emission, *supplyCap)
	}
	var capTask, capNode domain.USD
	if capTask, err = domain.ParseUSD(*perTask); err != nil {
		return usagef("serve: --compute-max-usd-per-task: %v", err)
	}
	if capNode, err = domain.ParseUSD(*perNodeEpoch); err != nil {
		return usagef("serve: --compute-max-usd-per-node-epoch: %v", err)
	}
	for i := range clients {
		clients[i].MaxUSDPerTask, clients[i].MaxUSDPerNodeEpoch = capTask, capNode
	}
	o.ComputeClients = clients
	if o.EpochGenesis, err = time.Parse(time.RFC3339, *genesis); err != nil {
		return usagef("serve: --epoch-genesis: %v", err)
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*logLevel)); err != nil {
		return usagef("serve: --log-level %q", *logLevel)
	}
	o.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: lv}))
	if o.AdminToken, err = adminToken(e, *tokenFile); err != nil {
		return err
	}
	if t := o.AdminToken; t != "" && (len(t) < 16 || strings.ContainsAny(t, " \t\r\n")) {
		return usagef("serve: the admin token must be at least 16 bytes without whitespace")
	}
	if err := o.Validate(); err != nil {
		return usagef("serve: %v", err)
	}
	if o.AdminToken == "" {
		o.Logger.Warn("no admin token (--admin-token-file or EPOCHLEDGER_ADMIN_TOKEN): admin and artist routes answer 403")
	}

	// One Prometheus registry per serve run (a process may serve twice:
	// the tests): the coordinator, the read API and the store register
	// their collectors with it, and GET /metrics serves it.
	o.Metrics = prometheus.NewRegistry()
	// The read API's collectors go into that registry too, and observe
	// the coordinator's appends.
	metrics, err := readapi.MetricsOn(o.Metrics)
	if err != nil {
		return err
	}
	o.Observer = metrics
	store, err := openStore(ctx, &sf, false)
	if err != nil {
		return err
	}
	defer store.Close()
	storeMetrics(o.Metrics, store)
	srv, err := coordinator.New(ctx, store, &o)
	if err != nil {
		return err
	}
	defer srv.Close()
	mux := http.NewServeMux()
	srv.Routes(mux)
	mountReadAPI(mux, srv, metrics, store)
	srv.OpsRoutes(mux) // health, readiness, metrics (o.Metrics) unless the read API serves them
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if c := coordinator.ConnCap(ho.MaxConns); c < ho.MaxConns {
		o.Logger.Warn("--max-conns lowered to the file descriptor limit less a reserve for the store", "max_conns", c, "asked", ho.MaxConns)
		ho.MaxConns = c
	}
	ln = coordinator.LimitListener(ln, ho.MaxConns)
	hs := coordinator.HTTPServer(coordinator.Guard(mux), ho)
	hs.ErrorLog = slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn)
	url := "http://" + ln.Addr().String()
	if sf.json {
		_ = writeJSON(e.stdout, map[string]any{"url": url, "position": srv.Position()})
	} else {
		o.Logger.Info("serving", "url", url, "position", srv.Position(), "worker routes", api.PathLease)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	o.Logger.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		o.Logger.Warn("shutdown", "err", err)
	}
	return nil
}

func envOr(e *env, name, def string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return def
}
