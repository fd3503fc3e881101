package loadgen

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/mr-tron/base58"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/workers/api"
)

// NewBaseline returns a server that speaks the worker protocol but only
// checks signatures: it verifies every request signature and every proof
// signature, decodes and encodes the same JSON, and stores nothing (no log,
// no ledger, no leases). Loaded like a coordinator, it measures the
// machine's ceiling for signed HTTP, the baseline the coordinator's
// figures are compared with in the same run.
func NewBaseline(adminToken string) http.Handler {
	b := &baseline{token: adminToken, keys: map[string]*baseNode{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.PathNodes, b.register)
	mux.HandleFunc("POST "+api.PathJobs, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		reply(w, api.EventResponse{Type: domain.TypeJobSubmitted})
	})
	mux.HandleFunc("POST "+api.PathLease, b.lease)
	mux.HandleFunc("POST "+api.PathResults, b.results)
	return mux
}

type baseNode struct {
	id  string
	pub ed25519.PublicKey
}

type baseline struct {
	token string
	mu    sync.RWMutex
	keys  map[string]*baseNode
	frame atomic.Uint32
}

func reply(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func refuse(w http.ResponseWriter, status int, msg string) {
	w.WriteHeader(status)
	reply(w, api.Error{Code: "refused", Message: msg})
}

// auth verifies a signed request and returns its body and node.
func (b *baseline) auth(w http.ResponseWriter, r *http.Request, register bool) ([]byte, *baseNode, bool) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		refuse(w, 400, err.Error())
		return nil, nil, false
	}
	key := r.Header.Get(api.HeaderKey)
	var n *baseNode
	if register {
		pub, _ := base58.Decode(key)
		n = &baseNode{pub: pub}
	} else {
		b.mu.RLock()
		n = b.keys[key]
		b.mu.RUnlock()
	}
	ts, _ := strconv.ParseInt(r.Header.Get(api.HeaderTimestamp), 10, 64)
	msg := api.RequestMessage(r.Method, r.URL.RequestURI(), sha256.Sum256(body), ts, r.Header.Get(api.HeaderNonce))
	if n == nil || domain.VerifySig(n.pub, msg, r.Header.Get(api.HeaderSignature)) != nil {
		refuse(w, 401, "bad signature")
		return nil, nil, false
	}
	return body, n, true
}

func (b *baseline) register(w http.ResponseWriter, r *http.Request) {
	body, n, ok := b.auth(w, r, true)
	if !ok {
		return
	}
	var req api.RegisterNodeRequest
	if err := json.Unmarshal(body, &req); err != nil {
		refuse(w, 400, err.Error())
		return
	}
	n.id = req.NodeID
	b.mu.Lock()
	b.keys[r.Header.Get(api.HeaderKey)] = n
	b.mu.Unlock()
	reply(w, api.EventResponse{Type: domain.TypeNodeRegistered})
}

func (b *baseline) lease(w http.ResponseWriter, r *http.Request) {
	body, _, ok := b.auth(w, r, false)
	if !ok {
		return
	}
	var req api.LeaseRequest
	_ = json.Unmarshal(body, &req)
	resp := api.LeaseResponse{}
	for range max(req.Max, 1) {
		resp.Leases = append(resp.Leases, api.Lease{JobID: "baseline", Frame: b.frame.Add(1) % domain.MaxFrames, SceneHash: "0", LeaseUntil: "-"})
	}
	reply(w, resp)
}

func (b *baseline) results(w http.ResponseWriter, r *http.Request) {
	body, n, ok := b.auth(w, r, false)
	if !ok {
		return
	}
	var req api.ResultsRequest
	if err := json.Unmarshal(body, &req); err != nil {
		refuse(w, 400, err.Error())
		return
	}
	out := api.ResultsResponse{Results: make([]api.ResultStatus, len(req.Results))}
	for i, res := range req.Results {
		msg := domain.ProofMessage(res.JobID, res.Frame, n.id, res.OutputHash, res.DurationMS)
		if domain.VerifySig(n.pub, msg, res.Signature) != nil {
			refuse(w, 422, "proof signature")
			return
		}
		out.Results[i] = api.ResultStatus{JobID: res.JobID, Frame: res.Frame, Status: api.StatusAccepted}
	}
	reply(w, out)
}
