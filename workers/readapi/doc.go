// Package readapi is the public face of `epochledger serve`: the read API
// (JSON) that operators and auditors query, the operator and auditor web
// page, Prometheus metrics, health and readiness, behind a per-client rate
// limit and a request body limit.
//
// Reads are served from a LedgerSource: in `serve`, the coordinator's own
// live ledger, which applies every event it appends. Every response names the log
// position it reflects in X-Log-Position; a handler reads the position and
// builds its document under one read lock, so the two always agree.
//
// Responses carry a strong ETag (a hash of the body), so a client that
// sends If-None-Match gets 304 Not Modified while nothing it asked for
// changed, even as the log grows. Lists are paged with ?limit= (1..1000,
// default 100) and ?cursor= (the next_cursor of the previous page). Errors
// are serve's one error body, api.Error ({"code": "...", "error": "...",
// "status": N}), that says what was wrong with the request and never
// carries stack traces, file paths or internal error text. docs/api.md is
// the reference.
package readapi
