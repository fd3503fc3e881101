package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/mr-tron/base58"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/workers/api"
)

// Routes registers the coordinator's routes on mux: the worker routes
// (signed) and the admin and artist routes (bearer token). Other routes (a
// read API, the web page) may be registered on the same mux; OpsRoutes
// adds health, readiness and metrics.
func (s *Server) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+api.PathMe, s.handleMe)
	mux.HandleFunc("POST "+api.PathLease, s.handleLease)
	mux.HandleFunc("POST "+api.PathResults, s.handleResults)
	mux.HandleFunc("POST "+api.PathCompute, s.handleCompute)
	mux.HandleFunc("POST "+api.PathHeartbeat, s.handleHeartbeat)
	mux.HandleFunc("POST "+api.PathSchedule, s.handleSchedule)
	mux.HandleFunc("POST "+api.PathNodes, s.handleRegister)
	mux.HandleFunc("POST /v1/operators/{id}/wallet", s.handleWallet)
	mux.HandleFunc("POST "+api.PathJobs, s.handleSubmitJob)
	mux.HandleFunc("POST "+api.PathEpochClose, s.handleCloseEpoch)
	mux.HandleFunc("GET "+api.PathStatus, s.handleStatus)
}

// OpsRoutes registers GET /healthz, /readyz and /metrics, each unless mux
// already routes it (a read API mounted first may serve its own).
func (s *Server) OpsRoutes(mux *http.ServeMux) {
	for path, h := range map[string]http.HandlerFunc{"/healthz": s.handleHealth, "/readyz": s.handleReady, "/metrics": s.handleMetrics} {
		if _, pattern := mux.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: path}}); pattern == "" {
			mux.HandleFunc("GET "+path, h)
		}
	}
}

// Handler returns a new ServeMux with Routes and OpsRoutes registered,
// behind Guard.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Routes(mux)
	s.OpsRoutes(mux)
	return Guard(mux)
}

func apiErr(status int, code, format string, a ...any) *api.Error {
	return &api.Error{Status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

// refusal turns a ledger or validation refusal into a 422.
func refusal(err error) error {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae
	}
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		return apiErr(http.StatusUnprocessableEntity, api.CodeRefused, "%s", ve.Error())
	}
	return err
}

// writeJSON answers v with status and the log position.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any, pos uint64) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":"internal","error":"encoding the answer failed"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if pos == 0 {
		pos = s.Position()
	}
	h.Set(api.HeaderLogPosition, strconv.FormatUint(pos, 10))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func (s *Server) writeError(w http.ResponseWriter, err error) {
	var ae *api.Error
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		ae = apiErr(http.StatusServiceUnavailable, api.CodeUnavailable, "request abandoned: %v", err)
	default:
		if r := refusal(err); errors.As(r, &ae) {
			break
		}
		ae = &api.Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: "internal error"}
	}
	if ae.Status == 0 {
		ae.Status = http.StatusInternalServerError
	}
	if ae.Status >= 500 {
		// The detail (file paths, the store's error) goes to the log, the
		// client gets a generic message and the id to quote (WriteError
		// appends it).
		s.log.Error("request failed", "status", ae.Status, "request_id", w.Header().Get(HeaderRequestID), "err", err)
	}
	if ae.Status == http.StatusUnauthorized && (ae.Code == api.CodeBadToken || ae.Code == api.CodeMissingAuth) {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	w.Header().Set(api.HeaderLogPosition, strconv.FormatUint(s.Position(), 10))
	api.WriteError(w, ae)
}

// readBody reads the request body up to the limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, apiErr(http.StatusRequestEntityTooLarge, api.CodeTooLarge, "the body exceeds %d bytes", s.opts.MaxBodyBytes)
		}
		return nil, apiErr(http.StatusBadRequest, api.CodeMalformed, "reading the body: %v", err)
	}
	return b, nil
}

// decodeStrict decodes one JSON object, refusing unknown fields and
// trailing data. An empty body is refused unless emptyOK.
func decodeStrict(body []byte, v any, emptyOK bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return nil
		}
		return apiErr(http.StatusBadRequest, api.CodeMalformed, "empty body: want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apiErr(http.StatusBadRequest, api.CodeMalformed, "the body is not the expected JSON object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return apiErr(http.StatusBadRequest, api.CodeMalformed, "data after the JSON object")
	}
	return nil
}

// signedBody authenticates a worker request: its headers before the body
// is read (a request that cannot authenticate never gets to hold the
// connection open with a slow body), its signature after.
func (s *Server) signedBody(w http.ResponseWriter, r *http.Request) (*nodeKey, []byte, bool) {
	a, err := s.preAuth(r, false)
	if err != nil {
		s.refuseUnread(w, err)
		return nil, nil, false
	}
	body, err := s.readBody(w, r)
	if err == nil {
		err = s.verify(r, a, body)
	}
	if err != nil {
		s.writeError(w, err)
		return nil, nil, false
	}
	return a.node, body, true
}

// refuseUnread answers a request refused before its body was read and
// closes the connection, so the server does not wait for the body.
func (s *Server) refuseUnread(w http.ResponseWriter, err error) {
	w.Header().Set("Connection", "close")
	s.writeError(w, err)
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	node, _, ok := s.signedBody(w, r)
	if !ok {
		return
	}
	var info api.NodeInfo
	var pos uint64
	s.Ledger(func(l *ledgerT) {
		n := l.Nodes[node.id]
		info = api.NodeInfo{NodeID: n.ID, OperatorID: n.OperatorID, Pubkey: n.Pubkey, GPU: n.GPU, OBScore: n.OB.String(), OpenEpoch: l.Open().N}
		pos = l.Position
		info.MaxLeases = s.parallelism(node)
	})
	info.Render = s.opts.Render
	info.LeaseSeconds = s.opts.LeaseDuration.Seconds()
	info.MaxLease = s.opts.MaxLeaseDuration.Seconds()
	info.ServerTimeMS = s.opts.Now().UnixMilli()
	s.writeJSON(w, http.StatusOK, info, pos)
}

func (s *Server) handleLease(w http.ResponseWriter, r *http.Request) {
	node, body, ok := s.signedBody(w, r)
	if !ok {
		return
	}
	var req api.LeaseRequest
	if err := decodeStrict(body, &req, true); err != nil {
		s.writeError(w, err)
		return
	}
	if req.Max < 0 {
		s.writeError(w, apiErr(http.StatusUnprocessableEntity, api.CodeInvalid, "max must not be negative"))
		return
	}
	dur, err := leaseDuration(req.LeaseSeconds, s.opts.LeaseDuration, s.opts.MaxLeaseDuration)
	if err != nil {
		s.writeError(w, err)
		return
	}
	t := &leaseTxn{waiter: newWaiter(), node: node, max: min(max(req.Max, 1), s.opts.MaxLeaseFrames), dur: dur}
	if err := s.submit(r.Context(), t, &t.waiter); err != nil {
		s.writeError(w, err)
		return
	}
	resp := api.LeaseResponse{Leases: t.out}
	var pos uint64
	if len(t.out) == 0 {
		resp.Leases = []api.Lease{}
		resp.RetryAfterMS = 500
	} else {
		pos = t.out[len(t.out)-1].Position
	}
	s.writeJSON(w, http.StatusOK, resp, pos)
}

// leaseDuration is the lease a request's lease_seconds asks for: 0 is the
// default, anything from the maximum up (1e308 included) is the maximum,
// and the shortest lease is a second. The comparison is made in float64
// seconds before any conversion: converting 1e308 s to a Duration
// overflows (to a negative number, then clamped up to 1 s).
func leaseDuration(sec float64, def, maxDur time.Duration) (time.Duration, error) {
	switch {
	case sec == 0:
		return def, nil
	case !(sec > 0): // negative or NaN
		return 0, apiErr(http.StatusUnprocessableEntity, api.CodeInvalid, "lease_seconds %v: want a positive number of seconds (0 or absent: the default)", sec)
	case sec >= maxDur.Seconds():
		return maxDur, nil
	}
	return max(time.Duration(sec*float64(time.Second)), time.Second), nil
}

func (s *Server) handleResults(w http.ResponseWriter, r *http.Request) {
	node, body, ok := s.signedBody(w, r)
	if !ok {
		return
	}
	var req api.ResultsRequest
	if err := decodeStrict(body, &req, false); err != nil {
		s.writeError(w, err)
		return
	}
	if n := len(req.Results); n == 0 || n > s.opts.MaxResults {
		s.writeError(w, apiErr(http.StatusUnprocessableEntity, api.CodeInvalid, "results: want 1 to %d results, got %d", s.opts.MaxResults, n))
		return
	}
	items := make([]resultItem, len(req.Results))
	seen := make(map[[2]string]bool, len(items))
	for i, res := range req.Results {
		it := &items[i]
		it.ev = domain.FrameRendered{JobID: res.JobID, Frame: res.Frame, NodeID: node.id, OutputHash: res.OutputHash,
			DurationMS: res.DurationMS, Telemetry: res.Telemetry, Signature: res.Signature}
		if err := it.ev.Validate(); err != nil {
			s.writeError(w, apiErr(http.StatusUnprocessableEntity, api.CodeInvalid, "results[%d]: %v", i, err))
			return
		}
		k := [2]string{res.JobID, strconv.FormatUint(uint64(res.Frame), 10)}
		if seen[k] {
			s.writeError(w, apiErr(http.StatusUnprocessableEntity, api.CodeInvalid, "results[%d]: frame %d of job %q appears twice in the request", i, res.Frame, res.JobID))
			return
		}
		seen[k] = true
	}
	// Check each result against the ledger (its proof signature
	// included) under the read lock: checks run in parallel, and the
	// commit loop only confirms that the frame did not change since.
	now := s.now()
	nowText, nowMS := now.Format(time.RFC3339Nano), now.UnixMilli()
	for i := range items {
		it := &items[i]
		s.mu.RLock()
		it.job = s.sched.jobs[it.ev.JobID]
		var err error
		switch {
		case it.job == nil:
			err = apiErr(http.StatusNotFound, api.CodeNotFound, "job %q does not exist", it.ev.JobID)
		case it.ev.Frame >= it.job.frames:
			err = apiErr(http.StatusUnprocessableEntity, api.CodeInvalid, "frame %d is out of range: job %q has frames 0..%d", it.ev.Frame, it.ev.JobID, it.job.frames-1)
		default:
			err = s.checkResult(nowMS, nowText, node, it)
		}
		s.mu.RUnlock()
		if err != nil {
			s.m.results.WithLabelValues("refused").Inc()
			var ae *api.Error
			if errors.As(err, &ae) && len(items) > 1 {
				ae.Message = fmt.Sprintf("results[%d]: %s", i, ae.Message)
			}
			s.writeError(w, err)
			return
		}
	}
	t := &resultsTxn{waiter: newWaiter(), node: node, items: items}
	if err := s.submit(r.Context(), t, &t.waiter); err != nil {
		s.m.results.WithLabelValues("refused").Inc()
		s.writeError(w, err)
		return
	}
	var pos uint64
	for _, st := range t.out {
		pos = max(pos, st.Position)
	}
	s.writeJSON(w, http.StatusOK, api.ResultsResponse{Results: t.out}, pos)
}

func (s *Server) handleCompute(w http.ResponseWriter, r *http.Request) {
	node, body, ok := s.signedBody(w, r)
	if !ok {
		return
	}
	var req api.ComputeRequest
	if err := decodeStrict(body, &req, false); err != nil {
		s.writeError(w, err)
		return
	}
	usd, err := domain.ParseUSD(req.USD)
	if err != nil {
		s.writeError(w, apiErr(http.StatusUnprocessableEntity, api.CodeInvalid, "usd: %v", err))
		return
	}
	ev := &domain.ComputeWorkCompleted{TaskID: req.TaskID, NodeID: node.id, Client: req.Client, DurationMS: req.DurationMS, USD: usd, OutputHash: req.OutputHash, Signature: req.Signature, ClientSignature: req.ClientSignature}
	if err := ev.Validate(); err != nil {
		s.writeError(w, apiErr(http.StatusUnprocessableEntity, api.CodeInvalid, "%v", err))
		return
	}
	if err := requireAttestation(ev); err != nil {
		s.writeError(w, err)
		return
	}
	id := derivedID("ComputeWorkCompleted", ev.TaskID, ev.NodeID, ev.Client, strconv.FormatUint(ev.DurationMS, 10), usd.String(), ev.OutputHash)
	s.appendOne(w, r, func(rd *round) (string, string, domain.Event, *api.EventResponse, error) {
		// The caps bound what one client attests for one node per epoch:
		// two reports of a pair are checked one round after the other.
		if !rd.claimKey("task:"+ev.TaskID) || !rd.claimKey(attestKey(ev)) {
			return "", "", nil, nil, errDefer
		}
		if p, ok := s.ledger.Tasks[ev.TaskID]; ok {
			if s.sched.tasks[ev.TaskID] == id {
				return "", "", nil, &api.EventResponse{Type: domain.TypeComputeWorkCompleted, Position: p, Duplicate: true}, nil
			}
			return "", "", nil, nil, apiErr(http.StatusConflict, api.CodeConflict, "task %q was already reported (position %d) with other content", ev.TaskID, p)
		}
		if err := s.ledger.Check(rd.nowText, ev); err != nil {
			return "", "", nil, nil, refusal(err)
		}
		return id, "node-" + node.id, ev, nil, nil
	})
}

// appendOne runs an eventTxn for a handler and answers it.
func (s *Server) appendOne(w http.ResponseWriter, r *http.Request, build func(*round) (string, string, domain.Event, *api.EventResponse, error)) {
	t := &eventTxn{waiter: newWaiter(), build: build}
	if err := s.submit(r.Context(), t, &t.waiter); err != nil {
		s.writeError(w, err)
		return
	}
	status := http.StatusCreated
	if t.resp.Duplicate {
		status = http.StatusOK
	}
	s.writeJSON(w, status, t.resp, t.resp.Position)
}

// bearerBody authenticates an admin request by its token, then reads the
// body.
func (s *Server) bearerBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if err := s.authBearer(r); err != nil {
		s.refuseUnread(w, err)
		return nil, false
	}
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, err)
		return nil, false
	}
	return body, true
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	if err := s.authBearer(r); err != nil {
		s.refuseUnread(w, err)
		return
	}
	a, err := s.preAuth(r, true)
	if err != nil {
		s.refuseUnread(w, err)
		return
	}
	body, err := s.readBody(w, r)
	if err == nil {
		err = s.verify(r, a, body)
	}
	if err != nil {
		s.writeError(w, err)
		return
	}
	pubkey := a.key
	var req api.RegisterNodeRequest
	if err := decodeStrict(body, &req, false); err != nil {
		s.writeError(w, err)
		return
	}
	if req.NodePubkey != "" && req.NodePubkey != pubkey {
		s.writeError(w, apiErr(http.StatusUnprocessableEntity, api.CodeInvalid, "node_pubkey %s is not the key that signed the request (%s)", req.NodePubkey, pubkey))
		return
	}
	ob, err := domain.ParseOBScore(req.OBScore)
	if err != nil {
		s.writeError(w, apiErr(http.StatusUnprocessableEntity, api.CodeInvalid, "ob_score: %v", err))
		return
	}
	ev := &domain.NodeRegistered{NodeID: req.NodeID, OperatorID: req.OperatorID, NodePubkey: pubkey, GPU: req.GPU, OBScore: ob, VRAMGB: req.VRAMGB}
	if err := ev.Validate(); err != nil {
		s.writeError(w, apiErr(http.StatusUnprocessableEntity, api.CodeInvalid, "%v", err))
		return
	}
	s.appendOne(w, r, func(rd *round) (string, string, domain.Event, *api.EventResponse, error) {
		if !rd.claimKey("node:"+ev.NodeID) || !rd.claimKey("key:"+pubkey) {
			return "", "", nil, nil, errDefer
		}
		if n := s.ledger.Nodes[ev.NodeID]; n != nil {
			if n.Pubkey == pubkey && n.OperatorID == ev.OperatorID && n.GPU == ev.GPU && n.OB == ev.OBScore {
				return "", "", nil, &api.EventResponse{Type: domain.TypeNodeRegistered, Position: n.Registered, Duplicate: true}, nil
			}
			return "", "", nil, nil, apiErr(http.StatusConflict, api.CodeConflict, "node %q is already registered (position %d) with other details", ev.NodeID, n.Registered)
		}
		if owner := s.ledger.KeyOwner(pubkey); owner != "" {
			// The ledger's key rule (domain.CheckKeyRegistration, which
			// import applies too) refuses it; a key taken is a conflict.
			err := domain.CheckKeyRegistration(domain.TypeNodeRegistered, "node_pubkey", pubkey, owner, domain.NodeKeyOwner(ev.NodeID))
			return "", "", nil, nil, apiErr(http.StatusConflict, api.CodeConflict, "%v", err)
		}
		if err := s.ledger.Check(rd.nowText, ev); err != nil {
			return "", "", nil, nil, refusal(err)
		}
		return derivedID("NodeRegistered", ev.NodeID), "node-" + ev.NodeID, ev, nil, nil
	})
}

func (s *Server) handleWallet(w http.ResponseWriter, r *http.Request) {
	body, ok := s.bearerBody(w, r)
	if !ok {
		return
	}
	var req api.WalletRequest
	if err := decodeStrict(body, &req, false); err != nil {
		s.writeError(w, err)
		return
	}
	ev := &domain.OperatorWalletSet{OperatorID: r.PathValue("id"), Wallet: req.Wallet, EthAddress: req.EthAddress}
	if err := ev.Validate(); err != nil {
		s.writeError(w, apiErr(http.StatusUnprocessableEntity, api.CodeInvalid, "%v", err))
		return
	}
	s.appendOne(w, r, func(rd *round) (string, string, domain.Event, *api.EventResponse, error) {
		if !rd.claimKey("operator:" + ev.OperatorID) {
			return "", "", nil, nil, errDefer
		}
		if o := s.ledger.Operators[ev.OperatorID]; o != nil && o.Wallet == ev.Wallet && (ev.EthAddress == "" || o.EthAddress == ev.EthAddress) {
			return "", "", nil, &api.EventResponse{Type: domain.TypeOperatorWalletSet, Position: s.ledger.Position, Duplicate: true}, nil
		}
		if err := s.ledger.Check(rd.nowText, ev); err != nil {
			return "", "", nil, nil, refusal(err)
		}
		return randomID(), "operator-" + ev.OperatorID, ev, nil, nil
	})
}

func (s *Server) handleSubmitJob(w http.ResponseWriter, r *http.Request) {
	body, ok := s.bearerBody(w, r)
	if !ok {
		return
	}
	var req api.SubmitJobRequest
	if err := decodeStrict(body, &req, false); err != nil {
		s.writeError(w, err)
		return
	}
	price, err := domain.ParseUSD(req.USDPerOBh)
	if err != nil {
		s.writeError(w, apiErr(http.StatusUnprocessableEntity, api.CodeInvalid, "usd_per_obh: %v", err))
		return
	}
	ev := &domain.JobSubmitted{JobID: req.JobID, Artist: req.Artist, SceneHash: req.SceneHash, Frames: req.Frames, USDPerOBh: price}
	if err := ev.Validate(); err != nil {
		s.writeError(w, apiErr(http.StatusUnprocessableEntity, api.CodeInvalid, "%v", err))
		return
	}
	if req.BurnTxSignature != "" {
		if b, err := base58.Decode(req.BurnTxSignature); err != nil || len(b) != 64 {
			s.writeError(w, apiErr(http.StatusUnprocessableEntity, api.CodeInvalid, "burn_tx_signature must be base58 of a 64-byte Solana transaction signature"))
			return
		}
	}
	s.appendOne(w, r, func(rd *round) (string, string, domain.Event, *api.EventResponse, error) {
		if !rd.claimKey("job:" + ev.JobID) {
			return "", "", nil, nil, errDefer
		}
		if j := s.ledger.Jobs[ev.JobID]; j != nil {
			if j.Artist == ev.Artist && j.SceneHash == ev.SceneHash && j.Frames == ev.Frames && j.USDPerOBh == ev.USDPerOBh {
				return "", "", nil, &api.EventResponse{Type: domain.TypeJobSubmitted, Position: j.Submitted, Duplicate: true}, nil
			}
			return "", "", nil, nil, apiErr(http.StatusConflict, api.CodeConflict, "job %q already exists (position %d) with other details", ev.JobID, j.Submitted)
		}
		if err := s.ledger.Check(rd.nowText, ev); err != nil {
			return "", "", nil, nil, refusal(err)
		}
		if req.BurnTxSignature != "" {
			s.burnTxs[ev.JobID] = req.BurnTxSignature
		}
		return derivedID("JobSubmitted", ev.JobID), "job-" + ev.JobID, ev, nil, nil
	})
}

func (s *Server) handleCloseEpoch(w http.ResponseWriter, r *http.Request) {
	body, ok := s.bearerBody(w, r)
	if !ok {
		return
	}
	var req api.CloseEpochRequest
	if err := decodeStrict(body, &req, true); err != nil {
		s.writeError(w, err)
		return
	}
	emission := s.opts.Emission
	if req.Emission != "" {
		e, err := domain.ParseBaseUnits(req.Emission)
		if err != nil {
			s.writeError(w, apiErr(http.StatusUnprocessableEntity, api.CodeInvalid, "emission (base units): %v", err))
			return
		}
		emission = e
	}
	s.appendOne(w, r, s.closeEpochBuild(req.Epoch, emission, req.Emission != ""))
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.bearerBody(w, r); !ok {
		return
	}
	st := api.Status{VerifyQueue: s.vq.len(), Jobs: []api.JobStatus{}, Nodes: []api.NodeStatus{}}
	if err := s.Failed(); err != nil {
		st.Failed = err.Error()
	}
	s.mu.RLock()
	st.Position, st.OpenEpoch = s.ledger.Position, s.ledger.Open().N
	leases := map[string][]api.FrameRef{}
	nowMS := s.opts.Now().UnixMilli()
	for _, j := range s.sched.jobs {
		js := api.JobStatus{JobID: j.id, Frames: j.frames, Accepted: j.accepted, Rejected: j.rejected, Completed: j.completed, Burned: j.burned}
		for f := range j.slots {
			switch sl := &j.slots[f]; sl.state {
			case frameLeased:
				if sl.leaseUntil > nowMS {
					js.Leased++
					leases[sl.leaseNode] = append(leases[sl.leaseNode], api.FrameRef{JobID: j.id, Frame: uint32(f), LeasedAtMS: sl.leasedAt})
				}
			case frameRendered:
				js.Verifying++
			}
		}
		st.Jobs = append(st.Jobs, js)
	}
	for id, n := range s.ledger.Nodes {
		ns := api.NodeStatus{NodeID: id, Operator: n.OperatorID, Leases: leases[id], Suspect: s.sched.suspects[id]}
		if x := s.sched.stats[id]; x != nil {
			ns.Accepted, ns.Rejected = x.accepted, x.rejected
		}
		st.Nodes = append(st.Nodes, ns)
	}
	st.RecheckFails = append(st.RecheckFails, s.sched.recheck...)
	st.ReportsOverBound = s.sched.overBound
	s.mu.RUnlock()
	sort.Slice(st.Jobs, func(a, b int) bool { return st.Jobs[a].JobID < st.Jobs[b].JobID })
	sort.Slice(st.Nodes, func(a, b int) bool { return st.Nodes[a].NodeID < st.Nodes[b].NodeID })
	s.writeJSON(w, http.StatusOK, st, st.Position)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, http.StatusOK, map[string]string{"status": "ok"}, 0)
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if err := s.Failed(); err != nil {
		s.writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "failed", "error": "the event log failed; appends are refused until the coordinator is restarted (its log has the cause)"}, 0)
		return
	}
	if s.closed.Load() {
		s.writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"}, 0)
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]string{"status": "ready"}, 0)
}
