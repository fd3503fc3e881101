// Package api is the HTTP protocol between the coordinator (`epochledger
// serve`) and its clients — GPU workers, the foundation's admin tools and
// artists' job submission: routes, JSON bodies, the signed-request scheme
// and a Client.
//
// # Signed requests (worker routes)
//
// Every request to a /v1/worker/… route, and node registration, carries
// four headers:
//
//	X-Epochledger-Key:       base58 ed25519 public key of the node
//	X-Epochledger-Timestamp: Unix time in milliseconds (decimal)
//	X-Epochledger-Nonce:     16 to 128 characters of [A-Za-z0-9_-], fresh per request
//	X-Epochledger-Signature: base58 ed25519 signature of the message below
//
// The signed message is the bytes of
//
//	epochledger-request-v1\n<METHOD>\n<request target>\n<hex sha256 of the body>\n<timestamp>\n<nonce>
//
// where the request target is the path and query exactly as sent
// ("/v1/worker/lease"), and the body hash is of the raw body bytes (the
// hash of the empty string for a GET). The coordinator refuses a timestamp
// more than its window (default 60 s) from its clock, a nonce it has seen
// from that key within twice the window (so a captured request cannot be
// replayed, even unchanged), an unknown key, and a signature that does not
// verify. The nonce cache is memory only: after a restart the coordinator
// refuses requests timestamped before the newest timestamp its previous
// run may have accepted (503 sign_again; sign with a fresh timestamp). The version prefix keeps request signatures apart from proof
// signatures (domain.ProofMessage), which start "epochledger-proof-v1".
//
// # Bearer tokens (admin and artist routes)
//
// Registering nodes, setting wallets, submitting jobs, closing epochs and
// the coordinator status need `Authorization: Bearer <token>`, the token of
// `serve --admin-token-file` (or EPOCHLEDGER_ADMIN_TOKEN). Node
// registration needs both: the foundation's token (operators register nodes
// through the foundation) and the new node's signature over the request,
// which proves the operator holds the key being registered.
//
// # Errors
//
// Every refusal `serve` answers, on the coordinator's routes and the read
// API's, is one JSON body, Error: {"code":"…","error":"…","status":N} (and
// "server_time_ms" with stale_timestamp and sign_again) with a 4xx status
// (5xx for the server's own failures), written by WriteError; see the
// Code… constants. Nothing is appended for a refused request. Every response carries
// X-Log-Position, the log position its answer reflects.
package api

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Routes of the coordinator.
const (
	PathMe         = "/v1/worker/me"      // GET, signed: the node's registration and settings
	PathLease      = "/v1/worker/lease"   // POST, signed: lease frames
	PathResults    = "/v1/worker/results" // POST, signed: report rendered frames
	PathCompute    = "/v1/worker/compute" // POST, signed: report compute-client work
	PathNodes      = "/v1/nodes"          // POST, bearer + signed by the new node: register a node
	PathJobs       = "/v1/jobs"           // POST, bearer: submit a job
	PathEpochClose = "/v1/epochs/close"   // POST, bearer: close the open epoch
	PathStatus     = "/v1/coordinator/status"
)

// WalletPath is the route that sets an operator's Solana wallet (POST, bearer).
func WalletPath(operatorID string) string { return "/v1/operators/" + operatorID + "/wallet" }

// Headers.
const (
	HeaderKey         = "X-Epochledger-Key"
	HeaderTimestamp   = "X-Epochledger-Timestamp"
	HeaderNonce       = "X-Epochledger-Nonce"
	HeaderSignature   = "X-Epochledger-Signature"
	HeaderLogPosition = "X-Log-Position"
)

// RequestPrefix starts every signed request message.
const RequestPrefix = "epochledger-request-v1"

// RequestMessage returns the canonical message of a signed request.
func RequestMessage(method, target string, bodySHA256 [32]byte, timestampMS int64, nonce string) []byte {
	b := make([]byte, 0, len(RequestPrefix)+len(method)+len(target)+len(nonce)+64+32)
	b = append(b, RequestPrefix...)
	b = append(b, '\n')
	b = append(b, method...)
	b = append(b, '\n')
	b = append(b, target...)
	b = append(b, '\n')
	b = hex.AppendEncode(b, bodySHA256[:])
	b = append(b, '\n')
	b = strconv.AppendInt(b, timestampMS, 10)
	b = append(b, '\n')
	return append(b, nonce...)
}

// SignRequest returns the four signature headers of a request.
func SignRequest(key ed25519.PrivateKey, method, target string, body []byte, timestampMS int64, nonce string) map[string]string {
	msg := RequestMessage(method, target, sha256.Sum256(body), timestampMS, nonce)
	return map[string]string{
		HeaderKey:       pubkeyText(key),
		HeaderTimestamp: strconv.FormatInt(timestampMS, 10),
		HeaderNonce:     nonce,
		HeaderSignature: base58Encode(ed25519.Sign(key, msg)),
	}
}

// NewNonce returns 16 random bytes in hex.
func NewNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ValidNonce reports whether n has the nonce format.
func ValidNonce(n string) bool {
	if len(n) < 16 || len(n) > 128 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Error codes of refusals.
const (
	CodeMalformed     = "malformed_body"     // 400: not JSON, unknown fields, wrong types
	CodeInvalid       = "invalid"            // 422: a field breaks a rule of the event catalogue
	CodeRefused       = "refused"            // 422: the ledger refuses the event (names the rule)
	CodeMissingAuth   = "missing_auth"       // 401: no signature headers / no bearer token
	CodeBadSignature  = "bad_signature"      // 401: the request signature does not verify with the key
	CodeUnknownNode   = "unknown_node"       // 401: no node is registered with the key
	CodeStale         = "stale_timestamp"    // 401: timestamp outside the window (body has server_time_ms)
	CodeReplay        = "replayed_nonce"     // 401: nonce already used
	CodeBadToken      = "bad_token"          // 401: wrong bearer token
	CodeAdminDisabled = "admin_disabled"     // 403: serve has no admin token
	CodeNotFound      = "not_found"          // 404: unknown job
	CodeNotLeased     = "not_leased"         // 409: the frame is not leased to this node
	CodeConflict      = "conflict"           // 409: already exists with other content, already reported
	CodeTooLarge      = "body_too_large"     // 413
	CodeUnavailable   = "unavailable"        // 503: shutting down, or the log failed
	CodeInternal      = "internal"           // 500
	CodeEpochMismatch = "epoch_not_open"     // 409: close of an epoch that is not the open one
	CodeMethod        = "method_not_allowed" // 405
	// 503: the request was signed before the coordinator's restart floor
	// (a replay, or a request in flight across the restart): sign it again
	// (the body has server_time_ms; Client.Call retries once).
	CodeSignAgain = "sign_again"

	// Codes of the read API's refusals (workers/readapi).
	CodeBadRequest     = "bad_request"     // 400: a query or path parameter breaks its rule
	CodeRateLimited    = "rate_limited"    // 429: over the client's rate limit (Retry-After)
	CodeNotImplemented = "not_implemented" // 501: the server lacks what the route needs
)

// Error is a refusal: the JSON body of every 4xx and 5xx response.
type Error struct {
	Code         string `json:"code"`
	Message      string `json:"error"`
	Status       int    `json:"status"`
	ServerTimeMS int64  `json:"server_time_ms,omitempty"` // with stale_timestamp and sign_again
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// HeaderRequestID names a request's id, set by serve's middleware
// (coordinator.Guard) on every answer; a 5xx body names it, so that the log
// line with the cause can be found.
const HeaderRequestID = "X-Request-Id"

// WriteError answers e as the JSON error body of everything `serve`
// answers, the coordinator's routes and the read API's alike. A 5xx message
// gets the request id (from w's X-Request-Id) appended; the caller logs the
// cause under it and keeps the detail out of e.Message. The answer is never
// cached and carries no ETag.
func WriteError(w http.ResponseWriter, e *Error) {
	out := *e
	if out.Status == 0 {
		out.Status = http.StatusInternalServerError
	}
	if id := w.Header().Get(HeaderRequestID); out.Status >= 500 && id != "" {
		out.Message += " (request id " + id + ")"
	}
	b, err := json.Marshal(&out)
	if err != nil { // a struct of strings and ints: cannot happen
		b = []byte(`{"code":"internal","error":"internal error","status":500}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("ETag")
	w.WriteHeader(out.Status)
	_, _ = w.Write(append(b, '\n'))
}

// RenderSpec is what the built-in renderer draws for a frame: the scene
// comes from the job's scene_hash (render.SceneFromHash), the size from the
// coordinator, so that its verifier re-renders the same bytes.
type RenderSpec struct {
	Width  int `json:"width"`
	Height int `json:"height"`
	Spp    int `json:"spp"`
}

// NodeInfo is the answer of GET /v1/worker/me.
type NodeInfo struct {
	NodeID       string     `json:"node_id"`
	OperatorID   string     `json:"operator_id"`
	Pubkey       string     `json:"node_pubkey"`
	GPU          string     `json:"gpu"`
	OBScore      string     `json:"ob_score"`
	OpenEpoch    uint64     `json:"open_epoch"`
	Render       RenderSpec `json:"render"`
	LeaseSeconds float64    `json:"lease_seconds"`
	MaxLease     float64    `json:"max_lease_seconds"`
	ServerTimeMS int64      `json:"server_time_ms"`
	// MaxLeases is how many live leases the node may hold (serve's
	// --leases-per-gpu × its GPUs); a lease request beyond it gets fewer.
	MaxLeases int `json:"max_leases"`
}

// LeaseRequest is the body of POST /v1/worker/lease (all fields optional).
type LeaseRequest struct {
	// Max is the most frames to lease (default 1, at most the server's
	// limit and the node's live leases left: NodeInfo.MaxLeases less those
	// it holds).
	Max int `json:"max,omitempty"`
	// LeaseSeconds asks for a lease of this length instead of the server's
	// default; anything from the maximum up is the maximum, the shortest
	// lease is 1 s, a negative value is refused.
	LeaseSeconds float64 `json:"lease_seconds,omitempty"`
}

// Lease is one leased frame: a FrameAssigned stored in the log.
type Lease struct {
	JobID      string     `json:"job_id"`
	Frame      uint32     `json:"frame"`
	SceneHash  string     `json:"scene_hash"`
	LeaseUntil string     `json:"lease_until"`
	Position   uint64     `json:"position"` // of the FrameAssigned
	Render     RenderSpec `json:"render"`
}

// LeaseResponse answers a lease request; no leases means no work now.
type LeaseResponse struct {
	Leases       []Lease `json:"leases"`
	RetryAfterMS int     `json:"retry_after_ms,omitempty"`
}

// Result is one rendered frame. Signature is the node's base58 ed25519
// signature of domain.ProofMessage(job_id, frame, node_id, output_hash,
// duration_ms); telemetry is any JSON object (workers/telemetry).
type Result struct {
	JobID      string          `json:"job_id"`
	Frame      uint32          `json:"frame"`
	OutputHash string          `json:"output_hash"`
	DurationMS uint64          `json:"duration_ms"`
	Telemetry  json.RawMessage `json:"telemetry"`
	Signature  string          `json:"signature"`
}

// ResultsRequest is the body of POST /v1/worker/results: 1 to 256 results,
// appended atomically (all or none).
type ResultsRequest struct {
	Results []Result `json:"results"`
}

// Result statuses.
const (
	StatusAccepted  = "accepted"  // FrameAccepted stored (not sampled, or verified)
	StatusVerifying = "verifying" // sampled: the coordinator re-renders it, then accepts or rejects
	StatusRejected  = "rejected"  // re-rendering gave another output (only on a duplicate's answer)
)

// ResultStatus is the outcome of one result.
type ResultStatus struct {
	JobID  string `json:"job_id"`
	Frame  uint32 `json:"frame"`
	Status string `json:"status"`
	// Position is that of the FrameRendered.
	Position uint64 `json:"position"`
	// Duplicate is true when this exact result was already stored: nothing
	// was appended and Status is the frame's current state.
	Duplicate bool `json:"duplicate,omitempty"`
}

// ResultsResponse answers a results request.
type ResultsResponse struct {
	Results []ResultStatus `json:"results"`
}

// ComputeRequest is the body of POST /v1/worker/compute: compute-client
// work, signed by the node over domain.ComputeProofMessage and attested by
// the registered compute client Client over domain.ComputeClientMessage
// (ClientSignature, required).
type ComputeRequest struct {
	TaskID          string `json:"task_id"`
	Client          string `json:"client"`
	DurationMS      uint64 `json:"duration_ms"`
	USD             string `json:"usd"`
	OutputHash      string `json:"output_hash"`
	Signature       string `json:"signature"`
	ClientSignature string `json:"client_signature"`
}

// RegisterNodeRequest is the body of POST /v1/nodes. The node's public key
// is the key that signed the request (NodePubkey, if given, must equal it).
type RegisterNodeRequest struct {
	NodeID     string `json:"node_id"`
	OperatorID string `json:"operator_id"`
	GPU        string `json:"gpu"`
	OBScore    string `json:"ob_score"`
	NodePubkey string `json:"node_pubkey,omitempty"`
	// VRAMGB is the GPU memory (1..4096 GB); a node without it earns no
	// availability reward.
	VRAMGB uint32 `json:"vram_gb,omitempty"`
}

// WalletRequest is the body of POST /v1/operators/{id}/wallet.
type WalletRequest struct {
	Wallet     string `json:"wallet"`
	EthAddress string `json:"eth_address,omitempty"`
}

// SubmitJobRequest is the body of POST /v1/jobs.
type SubmitJobRequest struct {
	JobID     string `json:"job_id"`
	Artist    string `json:"artist"`
	SceneHash string `json:"scene_hash"`
	Frames    uint32 `json:"frames"`
	USDPerOBh string `json:"usd_per_obh"`
	// BurnTxSignature is the Solana signature of the artist's burn, from
	// the payment processor; it goes into the job's BurnRecorded. Optional:
	// see the coordinator's package documentation for the fallback.
	BurnTxSignature string `json:"burn_tx_signature,omitempty"`
}

// CloseEpochRequest is the body of POST /v1/epochs/close (all optional).
type CloseEpochRequest struct {
	// Epoch, when set, must be the open epoch; closing an epoch already
	// closed answers its stored EpochClosed (a safe retry).
	Epoch uint64 `json:"epoch,omitempty"`
	// Emission in base units; default the server's --emission.
	Emission string `json:"emission,omitempty"`
}

// EventResponse answers the admin routes that append one event.
type EventResponse struct {
	Type      string `json:"type"`
	Position  uint64 `json:"position"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Epoch     uint64 `json:"epoch,omitempty"` // for EpochClosed
}

// Status is the coordinator's operational view (GET /v1/coordinator/status).
type Status struct {
	Position     uint64       `json:"position"`
	OpenEpoch    uint64       `json:"open_epoch"`
	VerifyQueue  int          `json:"verify_queue"`
	Jobs         []JobStatus  `json:"jobs"`
	Nodes        []NodeStatus `json:"nodes"`
	RecheckFails []FrameRef   `json:"recheck_failures,omitempty"`
	// ReportsOverBound counts the frame reports in the log whose durations
	// do not fit their node's lanes of wall time (logs written before the
	// bound; see docs/api.md).
	ReportsOverBound uint64 `json:"reports_over_bound,omitempty"`
	Failed           string `json:"failed,omitempty"` // the log failed: the coordinator refuses appends
}

// JobStatus is a job's line of Status.
type JobStatus struct {
	JobID     string `json:"job_id"`
	Frames    uint32 `json:"frames"`
	Accepted  uint32 `json:"accepted"`
	Rejected  uint32 `json:"rejected"`
	Leased    uint32 `json:"leased"`
	Verifying uint32 `json:"verifying"`
	Completed bool   `json:"completed"`
	Burned    bool   `json:"burned"`
}

// NodeStatus is a node's line of Status.
type NodeStatus struct {
	NodeID   string     `json:"node_id"`
	Operator string     `json:"operator_id"`
	Leases   []FrameRef `json:"leases,omitempty"` // live leases without a reported result
	Accepted uint64     `json:"accepted"`
	Rejected uint64     `json:"rejected"`
	Suspect  bool       `json:"suspect,omitempty"` // a result failed verification: all its results are verified
}

// FrameRef names a frame.
type FrameRef struct {
	JobID string `json:"job_id"`
	Frame uint32 `json:"frame"`
	Node  string `json:"node_id,omitempty"`
	// LeasedAtMS is when the lease began (Unix ms), in Status leases.
	LeasedAtMS int64 `json:"leased_at_ms,omitempty"`
}
