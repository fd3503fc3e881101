package readapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/workers/api"
)

// LedgerSource is what the API reads: a ledger behind a read lock, the log
// position it reflects and whether it has caught up with the log. serve's
// is the coordinator's own live ledger (coordinator.Server).
type LedgerSource interface {
	// View calls fn with the ledger under a read lock; fn must not keep
	// the ledger or anything it points to after it returns.
	View(fn func(*projections.Ledger))
	// Position is the log position of the ledger View shows.
	Position() uint64
	// Ready reports whether the ledger has caught up with the log.
	Ready() bool
}

// HeadSource is an optional capability of a LedgerSource: the newest log
// position it knows of, for the projection lag metric.
type HeadSource interface {
	Head() uint64
}

// Options configure the API.
type Options struct {
	// Logger receives request errors and panics (nil: discard).
	Logger *slog.Logger
	// RateLimit is the average requests per second one client (ClientIP)
	// may make to the read endpoints and the page; Burst how many at once.
	// RateLimit 0 turns the limit off (load tests).
	RateLimit float64
	Burst     int
	// MaxBodyBytes bounds request bodies (the read routes take none).
	MaxBodyBytes int64
	// Metrics is the registry the API records into and serves at
	// /metrics; nil gives the API a registry of its own (see API.Metrics).
	Metrics *Metrics
	// ExplorerTxURL is the page's link for a transaction signature: an
	// http(s) URL in which {sig} is replaced by the signature.
	ExplorerTxURL string
	// ClientKey names the client of a request for the rate limit; nil:
	// ClientIP (the connection's address; forwarding headers are not
	// trusted).
	ClientKey func(*http.Request) string
	// Log is the event log the ledger is folded from, read for what the
	// ledger does not keep: the EpochClosed times of payouts.csv's
	// closed_at. nil: payouts.csv answers 501.
	Log projections.Reader
}

// DefaultExplorerTxURL is the default ExplorerTxURL.
const DefaultExplorerTxURL = "https://explorer.solana.com/tx/{sig}"

// Limits of the read API.
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
)

// DefaultOptions returns the options `serve` starts from: 20 requests per
// second per client with bursts of 40, 1 MiB bodies.
func DefaultOptions() Options {
	return Options{RateLimit: 20, Burst: 40, MaxBodyBytes: 1 << 20, ExplorerTxURL: DefaultExplorerTxURL}
}

// Validate checks the options and fills zero values that have a default.
func (o *Options) Validate() error {
	if o.RateLimit < 0 {
		return fmt.Errorf("readapi: rate limit must not be negative, got %g", o.RateLimit)
	}
	if o.RateLimit > 0 && o.Burst < 1 {
		o.Burst = max(1, int(2*o.RateLimit))
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.ExplorerTxURL == "" {
		o.ExplorerTxURL = DefaultExplorerTxURL
	}
	u, err := url.Parse(strings.ReplaceAll(o.ExplorerTxURL, "{sig}", "x"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || !strings.Contains(o.ExplorerTxURL, "{sig}") {
		return fmt.Errorf("readapi: explorer URL %q must be an http(s) URL containing {sig}", o.ExplorerTxURL)
	}
	return nil
}

// API serves the read API, the web page, health, readiness and metrics.
type API struct {
	src     LedgerSource
	opts    Options
	log     *slog.Logger
	metrics *Metrics
	limiter *RateLimiter
	cache   caches
	closed  closedTimes
	page    []byte
}

// New returns the API over src. Options are validated; an invalid
// explorer URL is replaced by the default (with a warning): call
// Options.Validate first to refuse it instead.
func New(src LedgerSource, opts Options) *API {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := opts.Validate(); err != nil {
		opts.Logger.Warn("readapi: using the default explorer URL", "err", err)
		opts.ExplorerTxURL = DefaultExplorerTxURL
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	a := &API{src: src, opts: opts, log: opts.Logger.With("component", "readapi"), metrics: opts.Metrics}
	if opts.RateLimit > 0 {
		a.limiter = NewRateLimiter(opts.RateLimit, opts.Burst)
		a.limiter.metrics = a.metrics
		if opts.ClientKey != nil {
			a.limiter.ClientKey = opts.ClientKey
		}
	}
	a.page = renderPage(opts.ExplorerTxURL)
	a.registerGauges()
	return a
}

// Metrics returns the registry the API records into.
func (a *API) Metrics() *Metrics { return a.metrics }

// Handler returns a new mux holding the API's routes.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	a.Register(mux)
	return mux
}

type routeKind int

const (
	kindRead routeKind = iota // rate limited, served once ready
	kindPage                  // rate limited
	kindOps                   // probes and metrics: never limited
)

// Register mounts the routes on mux:
//
//	GET /v1/epochs, /v1/epochs/{n}, /v1/epochs/{n}/shares
//	GET /v1/operators, /v1/operators/{id}, /v1/operators/{id}/frames, /v1/operators/{id}/proof,
//	    /v1/operators/{id}/payouts.csv
//	GET /v1/jobs/{id}, /v1/supply
//	GET /healthz, /readyz, /metrics
//	GET / and /assets/… (the web page)
func (a *API) Register(mux *http.ServeMux) {
	a.route(mux, "GET /v1/epochs", kindRead, a.listEpochs)
	a.route(mux, "GET /v1/epochs/{n}", kindRead, a.getEpoch)
	a.route(mux, "GET /v1/epochs/{n}/shares", kindRead, a.getShares)
	a.route(mux, "GET /v1/operators", kindRead, a.listOperators)
	a.route(mux, "GET /v1/operators/{id}", kindRead, a.getOperator)
	a.route(mux, "GET /v1/operators/{id}/frames", kindRead, a.getFrames)
	a.route(mux, "GET /v1/operators/{id}/proof", kindRead, a.getProof)
	a.route(mux, "GET /v1/operators/{id}/payouts.csv", kindRead, a.getPayoutsCSV)
	a.route(mux, "GET /v1/jobs/{id}", kindRead, a.getJob)
	a.route(mux, "GET /v1/supply", kindRead, a.getSupply)
	a.route(mux, "GET /healthz", kindOps, a.healthz)
	a.route(mux, "GET /readyz", kindOps, a.readyz)
	a.route(mux, "GET /metrics", kindOps, a.metrics.Handler().ServeHTTP)
	a.route(mux, "GET /{$}", kindPage, a.servePage)
	a.route(mux, "GET /assets/{file...}", kindPage, a.serveAsset)
}

// route mounts h behind the middleware of its kind: panic recovery and
// metrics outermost, then the body limit, the rate limit and readiness.
func (a *API) route(mux *http.ServeMux, pattern string, kind routeKind, h http.HandlerFunc) {
	_, path, _ := strings.Cut(pattern, " ")
	path = strings.TrimSuffix(path, "{$}") // the metrics label of "GET /{$}" is "/"
	var next http.Handler = h
	if kind == kindRead {
		inner := next
		next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !a.src.Ready() {
				w.Header().Set("Retry-After", "1")
				w.Header().Set(api.HeaderLogPosition, strconv.FormatUint(a.src.Position(), 10))
				writeError(w, http.StatusServiceUnavailable, "projections are catching up with the log; retry shortly")
				return
			}
			inner.ServeHTTP(w, r)
		})
	}
	if kind != kindOps && a.limiter != nil {
		next = a.limiter.Wrap(next)
	}
	next = LimitBody(a.opts.MaxBodyBytes, next)
	mux.Handle(pattern, a.instrument(path, next))
}

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// instrument records the request in the metrics and the log and turns a
// panic into a plain 500 (the stack goes to the log, never to the client).
func (a *API) instrument(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.log.Error("panic serving request", "route", route, "request_id", w.Header().Get(api.HeaderRequestID), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if sw.code == 0 {
					writeError(sw, http.StatusInternalServerError, "internal error")
				}
			}
			code := sw.code
			if code == 0 {
				code = http.StatusOK
			}
			d := time.Since(start)
			a.metrics.ObserveRequest(route, code, d)
			a.log.Debug("request", "method", r.Method, "route", route, "path", r.URL.Path, "code", code, "duration", d)
		}()
		next.ServeHTTP(sw, r)
	})
}

// ---- request parsing ----

// query parses the query string, refusing malformed ones, parameters the
// endpoint does not take and repeated parameters.
func query(r *http.Request, allowed ...string) (url.Values, *api.Error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "malformed query string")
	}
	for k, v := range q {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			if len(allowed) == 0 {
				return nil, errorf(http.StatusBadRequest, "unknown query parameter %s: this endpoint takes none", quoteShort(k))
			}
			return nil, errorf(http.StatusBadRequest, "unknown query parameter %s: this endpoint takes %s", quoteShort(k), strings.Join(allowed, ", "))
		}
		if len(v) > 1 {
			return nil, errorf(http.StatusBadRequest, "query parameter %s is given %d times", k, len(v))
		}
	}
	return q, nil
}

// page returns the limit and cursor of a list request.
func page(q url.Values) (int, string, *api.Error) {
	limit := DefaultPageLimit
	if s, ok := q["limit"]; ok {
		n, err := strconv.Atoi(s[0])
		if err != nil || n < 1 || n > MaxPageLimit {
			return 0, "", errorf(http.StatusBadRequest, "query parameter limit must be an integer from 1 to %d, got %s", MaxPageLimit, quoteShort(s[0]))
		}
		limit = n
	}
	return limit, q.Get("cursor"), nil
}

// uintCursor parses a cursor that is a number (an epoch or a frame).
func uintCursor(s string) (uint64, *api.Error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, "query parameter cursor %s is not a cursor of this list (use next_cursor of the previous page)", quoteShort(s))
	}
	return n, nil
}

// epochParam parses an epoch number (from 1) of the path or the query.
func epochParam(name, s string) (uint64, *api.Error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, errorf(http.StatusBadRequest, "%s must be an epoch number (an integer from 1), got %s", name, quoteShort(s))
	}
	return n, nil
}

// idParam checks an id of the path: the ids of the log are 1 to 128
// printable bytes without whitespace, so anything else cannot name one.
// pagedID reads the {id} of a paged route and its limit and cursor.
func pagedID(r *http.Request, kind string) (id string, limit int, cursor string, e *api.Error) {
	id = r.PathValue("id")
	if e = idParam(kind, id); e != nil {
		return id, 0, "", e
	}
	q, e := query(r, "limit", "cursor")
	if e != nil {
		return id, 0, "", e
	}
	limit, cursor, e = page(q)
	return id, limit, cursor, e
}

func idParam(kind, s string) *api.Error {
	if len(s) == 0 || len(s) > domain.MaxIDLen || !utf8.ValidString(s) ||
		strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) >= 0 {
		return errorf(http.StatusBadRequest, "%s id must be 1 to %d printable bytes without whitespace", kind, domain.MaxIDLen)
	}
	return nil
}

// quoteShort quotes user input for an error message, cut to 64 bytes.
func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}

// ---- handlers ----

// read builds a document from the ledger and writes it with its position.
// The document is encoded under the read lock: it may share memory with
// the ledger, which the fold changes as soon as the lock is released.
func (a *API) read(w http.ResponseWriter, r *http.Request, build func(*projections.Ledger) (any, error)) {
	var pos uint64
	var body []byte
	var err error
	a.src.View(func(l *projections.Ledger) {
		pos = l.Position
		var v any
		if v, err = build(l); err == nil {
			body, err = json.Marshal(v)
		}
	})
	if err != nil {
		a.fail(w, r, pos, err)
		return
	}
	respondDoc(w, r, pos, append(body, '\n'))
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, pos uint64, err error) {
	w.Header().Set(api.HeaderLogPosition, strconv.FormatUint(pos, 10))
	var e *api.Error
	if errors.As(err, &e) {
		api.WriteError(w, e)
		return
	}
	a.log.Error("read failed", "path", r.URL.Path, "request_id", w.Header().Get(api.HeaderRequestID), "err", err)
	writeError(w, http.StatusInternalServerError, "internal error")
}

// reject writes a request refusal found before the ledger was read.
func (a *API) reject(w http.ResponseWriter, e *api.Error) {
	w.Header().Set(api.HeaderLogPosition, strconv.FormatUint(a.src.Position(), 10))
	api.WriteError(w, e)
}

func (a *API) listEpochs(w http.ResponseWriter, r *http.Request) {
	q, e := query(r, "limit", "cursor")
	if e != nil {
		a.reject(w, e)
		return
	}
	limit, cs, e := page(q)
	if e != nil {
		a.reject(w, e)
		return
	}
	after, e := uintCursor(cs)
	if e != nil {
		a.reject(w, e)
		return
	}
	a.read(w, r, func(l *projections.Ledger) (any, error) {
		out := &EpochList{Epochs: []projections.EpochSummary{}}
		n := uint64(len(l.Epochs))
		for k := after + 1; k <= n && len(out.Epochs) < limit; k++ {
			out.Epochs = append(out.Epochs, l.Summary(l.Epoch(k)))
		}
		if last := after + uint64(len(out.Epochs)); len(out.Epochs) == limit && last < n {
			out.NextCursor = strconv.FormatUint(last, 10)
		}
		return out, nil
	})
}

// epochOf returns epoch n or a 404 that says which epochs exist.
func epochOf(l *projections.Ledger, n uint64) (*projections.Epoch, error) {
	ep := l.Epoch(n)
	if ep == nil {
		return nil, errorf(http.StatusNotFound, "epoch %d does not exist yet: epochs 1..%d are closed and %d is open", n, l.ClosedEpochs(), l.Open().N)
	}
	return ep, nil
}

func (a *API) getEpoch(w http.ResponseWriter, r *http.Request) {
	n, e := epochParam("epoch", r.PathValue("n"))
	if e == nil {
		_, e = query(r)
	}
	if e != nil {
		a.reject(w, e)
		return
	}
	a.read(w, r, func(l *projections.Ledger) (any, error) {
		ep, err := epochOf(l, n)
		if err != nil {
			return nil, err
		}
		return epochDoc(l, ep), nil
	})
}

func (a *API) getShares(w http.ResponseWriter, r *http.Request) {
	n, e := epochParam("epoch", r.PathValue("n"))
	if e == nil {
		_, e = query(r)
	}
	if e != nil {
		a.reject(w, e)
		return
	}
	a.read(w, r, func(l *projections.Ledger) (any, error) {
		if _, err := epochOf(l, n); err != nil {
			return nil, err
		}
		doc, provisional, err := l.Shares(n)
		if err != nil {
			return nil, err
		}
		if provisional {
			w.Header().Set("X-Epoch-Provisional", "true")
		}
		return doc, nil
	})
}

func (a *API) listOperators(w http.ResponseWriter, r *http.Request) {
	q, e := query(r, "limit", "cursor", "wallet")
	var limit int
	var after string
	if e == nil {
		limit, after, e = page(q)
	}
	wallet := q.Get("wallet")
	if e == nil && wallet != "" {
		if _, err := domain.ParseWallet(wallet); err != nil {
			e = errorf(http.StatusBadRequest, "query parameter wallet must be a base58 Solana address (32 bytes)")
		}
	}
	if e != nil {
		a.reject(w, e)
		return
	}
	a.read(w, r, func(l *projections.Ledger) (any, error) {
		ids := make([]string, 0, len(l.Operators))
		for id, o := range l.Operators {
			if id > after && (wallet == "" || o.Wallet == wallet) {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
		out := &OperatorList{Operators: []projections.Balance{}}
		if len(ids) > limit {
			ids = ids[:limit]
			out.NextCursor = ids[limit-1]
		}
		for _, id := range ids {
			out.Operators = append(out.Operators, l.Balance(l.Operators[id]))
		}
		return out, nil
	})
}

// operatorOf returns operator id or a 404.
func operatorOf(l *projections.Ledger, id string) (*projections.Operator, error) {
	o := l.Operators[id]
	if o == nil {
		return nil, errorf(http.StatusNotFound, "operator %s is unknown to the log", quoteShort(id))
	}
	return o, nil
}

func (a *API) getOperator(w http.ResponseWriter, r *http.Request) {
	id, limit, cs, e := pagedID(r, "operator")
	var after uint64
	if e == nil {
		after, e = uintCursor(cs)
	}
	if e != nil {
		a.reject(w, e)
		return
	}
	a.read(w, r, func(l *projections.Ledger) (any, error) {
		o, err := operatorOf(l, id)
		if err != nil {
			return nil, err
		}
		return a.cache.operatorDoc(l, o, after, limit), nil
	})
}

func (a *API) getFrames(w http.ResponseWriter, r *http.Request) {
	id, limit, cs, e := pagedID(r, "operator")
	var cur *frameCursor
	if e == nil && cs != "" {
		c, ok := parseFrameCursor(cs)
		if !ok {
			e = errorf(http.StatusBadRequest, "query parameter cursor %s is not a cursor of this list (use next_cursor of the previous page)", quoteShort(cs))
		}
		cur = &c
	}
	if e != nil {
		a.reject(w, e)
		return
	}
	a.read(w, r, func(l *projections.Ledger) (any, error) {
		o, err := operatorOf(l, id)
		if err != nil {
			return nil, err
		}
		return a.cache.operatorFrames(l, o, cur, limit), nil
	})
}

func (a *API) getProof(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e := idParam("operator", id)
	var q url.Values
	if e == nil {
		q, e = query(r, "epoch")
	}
	var n uint64
	if e == nil {
		if s, ok := q["epoch"]; !ok {
			e = errorf(http.StatusBadRequest, "query parameter epoch is required: /v1/operators/{id}/proof?epoch=N")
		} else {
			n, e = epochParam("query parameter epoch", s[0])
		}
	}
	if e != nil {
		a.reject(w, e)
		return
	}
	a.read(w, r, func(l *projections.Ledger) (any, error) {
		o, err := operatorOf(l, id)
		if err != nil {
			return nil, err
		}
		ep, err := epochOf(l, n)
		if err != nil {
			return nil, err
		}
		s := ep.Settlement
		switch {
		case s == nil:
			return nil, errorf(http.StatusNotFound, "epoch %d has no settlement plan", n)
		case s.Incomplete():
			return nil, errorf(http.StatusNotFound, "epoch %d's settlement plan is not complete yet", n)
		case s.Operator(id) == nil && o.Wallet == "":
			return nil, errorf(http.StatusNotFound, "operator %s has no payout in epoch %d's settlement plan: no wallet is set, so what they earn is carried forward", quoteShort(id), n)
		case s.Operator(id) == nil:
			return nil, errorf(http.StatusNotFound, "operator %s has no payout in epoch %d's settlement plan", quoteShort(id), n)
		}
		// The document of `epochledger proof --json`, checked before it
		// is handed out.
		p, err := projections.BuildProof(s, id)
		if err != nil {
			return nil, err
		}
		if err := p.Verify(s.Root); err != nil {
			return nil, fmt.Errorf("epoch %d: %w", n, err)
		}
		return p, nil
	})
}

// jobPage is a JobDoc whose frame_states are one page.
type jobPage struct {
	*projections.JobDoc
	NextCursor string `json:"next_cursor,omitempty"`
}

func (a *API) getJob(w http.ResponseWriter, r *http.Request) {
	id, limit, cs, e := pagedID(r, "job")
	var after uint64
	if e == nil {
		after, e = uintCursor(cs)
	}
	if e != nil {
		a.reject(w, e)
		return
	}
	from := 0
	if cs != "" {
		from = int(min(after, 1<<32)) + 1
	}
	a.read(w, r, func(l *projections.Ledger) (any, error) {
		d := l.JobDoc(id)
		if d == nil {
			return nil, errorf(http.StatusNotFound, "job %s is unknown to the log", quoteShort(id))
		}
		p := &jobPage{JobDoc: d}
		fs := d.FrameStates
		if from > len(fs) {
			from = len(fs)
		}
		fs = fs[from:]
		if len(fs) > limit {
			fs = fs[:limit]
			p.NextCursor = strconv.FormatUint(uint64(fs[limit-1].Frame), 10)
		}
		d.FrameStates = fs
		return p, nil
	})
}

func (a *API) getSupply(w http.ResponseWriter, r *http.Request) {
	if _, e := query(r); e != nil {
		a.reject(w, e)
		return
	}
	a.read(w, r, func(l *projections.Ledger) (any, error) {
		s := l.Supply()
		return &s, nil
	})
}

func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Readiness is the body of GET /readyz.
type Readiness struct {
	Ready     bool   `json:"ready"`
	Position  uint64 `json:"position"`
	Head      uint64 `json:"head,omitempty"`
	LagEvents uint64 `json:"lag_events"`
}

func (a *API) readiness() Readiness {
	rd := Readiness{Ready: a.src.Ready(), Position: a.src.Position()}
	if h, ok := a.src.(HeadSource); ok {
		rd.Head = h.Head()
		if rd.Head > rd.Position {
			rd.LagEvents = rd.Head - rd.Position
		}
	}
	return rd
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	rd := a.readiness()
	code := http.StatusOK
	if !rd.Ready {
		code = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set(api.HeaderLogPosition, strconv.FormatUint(rd.Position, 10))
	writeJSON(w, code, rd)
}

// registerGauges exports the source's log and settlement gauges.
func (a *API) registerGauges() {
	m := a.metrics
	m.GaugeFunc("epochledger_log_position", "Log position the read projections reflect.", func() float64 {
		return float64(a.src.Position())
	})
	if _, ok := a.src.(HeadSource); ok {
		m.GaugeFunc("epochledger_log_head", "Newest position of the event log known to the server.", func() float64 {
			return float64(a.readiness().Head)
		})
	}
	m.GaugeFunc("epochledger_projection_lag_events", "Events stored but not yet folded into the read projections.", func() float64 {
		return float64(a.readiness().LagEvents)
	})
	m.GaugeFunc("epochledger_projection_ready", "1 when the read projections have caught up with the log.", func() float64 {
		if a.src.Ready() {
			return 1
		}
		return 0
	})
	type settle struct {
		closed, epoch, unsettled uint64
		state                    string
	}
	snapshot := func() settle {
		var s settle
		a.src.View(func(l *projections.Ledger) {
			s.closed = l.ClosedEpochs()
			s.state = "none"
			if s.closed > 0 {
				s.epoch = s.closed
				s.state = l.Summary(l.Epoch(s.closed)).SettlementState
			}
			for _, ep := range l.Epochs {
				if ep.Closed && ep.Emission > ep.Unallocated && (ep.Settlement == nil || !ep.Settlement.Done()) {
					s.unsettled++
				}
			}
		})
		return s
	}
	m.GaugeFunc("epochledger_ledger_closed_epochs", "Epochs closed in the log.", func() float64 {
		return float64(snapshot().closed)
	})
	m.GaugeFunc("epochledger_settlement_epoch", "The newest closed epoch, whose settlement epochledger_settlement_state describes (0: none closed).", func() float64 {
		return float64(snapshot().epoch)
	})
	m.Collect("epochledger_settlement_state", "Settlement state of the newest closed epoch: 1 for its state, 0 for the others.", "gauge", func() []Sample {
		st := snapshot().state
		out := make([]Sample, 0, len(settlementStates))
		for _, s := range settlementStates {
			v := 0.0
			if s == st {
				v = 1
			}
			out = append(out, Sample{Labels: []string{"state", s}, Value: v})
		}
		return out
	})
	m.GaugeFunc("epochledger_settlement_unsettled_epochs", "Closed epochs with allocations whose settlement is not confirmed in full.", func() float64 {
		return float64(snapshot().unsettled)
	})
}

// settlementStates are the values of EpochSummary.SettlementState.
var settlementStates = []string{"none", "planned", "in_flight", "confirmed"}
