// Package coordinator is the server side of the rendering network
// (`epochledger serve`): it registers nodes, takes artists' jobs, leases
// frames to workers, takes their signed results, re-renders a sample of
// them, records each finished job's Proof-of-Render root and burn, and
// closes epochs — every one of these an event appended to the log.
//
// # One appender, durable answers
//
// The Server owns the store and the live projections.Ledger folded from
// the log at start. Requests become txns handed to a single commit loop,
// which runs them in rounds:
//
//  1. under the write lock, each txn of the round is checked against the
//     ledger (Ledger.Check) and the leasing state, and adds its events;
//     a txn touching a frame, job or node another txn of the round
//     already claimed waits for the next round, so every check sees the
//     events before it;
//  2. the round's events are appended in one atomic AppendMulti — one
//     write and one fsync for all of them (the lock is not held);
//  3. under the write lock they are applied to the ledger;
//  4. every txn of the round is answered.
//
// So a 2xx is sent only after fsync, and nothing refused is appended. A
// failed append of unknown outcome stops all appends (503, /readyz fails):
// the store's write errors are sticky and the ledger could no longer be
// trusted to match the log; restart the coordinator, which folds the log
// again. An append the store reports as not stored at all
// (eventstore.ErrNotStored: a segment it could not create, no space for
// the write) only fails its round's requests (503, retry): the log still
// matches the ledger, and job completions and verdicts are tried again.
//
// Results are the hot path. Their checks — the lease, the duplicate, and
// the proof signature that Ledger.Check verifies — run in the handlers
// under the read lock, in parallel; the commit loop only confirms that the
// frame's version did not change since (every rule of FrameRendered
// depends only on the frame, its job and its node; the last two never
// change), and checks again in full when it did. A result not sampled for
// verification is stored as FrameRendered + FrameAccepted in the same
// atomic append.
//
// # Routes
//
// Worker routes are signed with the node key (see package api for the
// request message, the timestamp window and the nonce cache); admin and
// artist routes need the bearer token; node registration needs both.
//
//	GET  /v1/worker/me            signed  → NodeInfo: node, operator, ob_score, open epoch, render size
//	POST /v1/worker/lease         signed  {"max":N,"lease_seconds":S} → {"leases":[Lease…]}; one FrameAssigned each
//	POST /v1/worker/results       signed  {"results":[Result…]} (1..256, all or none) → {"results":[ResultStatus…]}
//	POST /v1/worker/compute       signed  ComputeRequest → ComputeWorkCompleted
//	POST /v1/worker/heartbeat     signed  {"state":"idle"|"rendering"} → HeartbeatResponse (online, busy, window so far); appends nothing
//	POST /v1/nodes                bearer + signed by the new key: RegisterNodeRequest → NodeRegistered
//	POST /v1/operators/{id}/wallet bearer WalletRequest → OperatorWalletSet
//	POST /v1/jobs                 bearer  SubmitJobRequest → JobSubmitted
//	POST /v1/epochs/close         bearer  {"epoch":N,"emission":"<base units>"} → NodeAvailability… + EpochClosed (the schedule's channels)
//	POST /v1/schedule             bearer  EmissionScheduleSet data → EmissionScheduleSet (an identical stored one: duplicate)
//	GET  /v1/coordinator/status   bearer  → Status: jobs, nodes, live leases, verify queue
//	GET  /healthz, /readyz, /metrics (OpsRoutes)
//
// A compute report (api.ComputeRequest) carries the node's signature and
// client_signature, the attestation of the registered compute client it
// names (domain.ComputeClientMessage); without one it is refused (422),
// and the ledger refuses it past the client's caps per task and per node
// per epoch. Options.ComputeClients are registered at start
// (ComputeClientRegistered, with their caps) unless the log already holds
// them so; see docs/events.md.
//
// The admin routes and compute answer 201 with the event's position, or
// 200 with "duplicate": true and the stored position for a request already
// stored (the same node, job, epoch close or task again); lease and results
// answer 200, a result already stored marked "duplicate". Refusals are JSON
// {"code","error","status"} with 400 (malformed body), 401 (signature,
// unknown node, stale timestamp, replayed nonce, token), 403 (no admin
// token configured), 404 (unknown job), 409 (frame not leased to the node,
// already reported, conflicting details, epoch not open), 413, 422 (a rule
// of the event catalogue or of the ledger, naming it) and 503.
//
// # Availability
//
// Online time comes from heartbeats, busy time from leases held, and the
// close of an epoch appends one NodeAvailability per node seen in it just
// before its EpochClosed, in the same append (heartbeat.go has the rules).
// Where an EmissionScheduleSet is in force the EpochClosed carries its
// channels; an explicit close emission that contradicts them is a 422.
// Options.Schedule (serve --schedule FILE) is appended at start where the
// log lacks it.
//
// # Leases
//
// A lease is a FrameAssigned with lease_until (default LeaseDuration, up to
// MaxLeaseDuration on request). Frames are offered oldest job first, frames
// freed again (lease expired, result rejected) before new ones; a frame
// whose lease a node let expire goes back to that node only when nothing
// else is free, and a frame whose result from a node was rejected never
// goes back to it. A result that arrives after its lease expired still
// counts while the frame has not been leased to another node (the ledger's
// rule).
//
// What a node can claim is bounded by wall time (bound.go): it holds at
// most LeasesPerGPU × its GPUs (GPUCount of its registration's gpu) live
// leases, recorded in each FrameAssigned as max_leases, and its reported
// durations must fit that many lanes of wall time between the leases'
// and the reports' envelope times. docs/api.md ("Work bounded by wall
// time") gives the rule an auditor replays from the log. Leases cannot be handed back early — the catalogue has no release
// event — so a stopping worker finishes its frame; one that dies leaves
// the frame to its lease's expiry.
//
// # HTTP hardening
//
// Guard, HTTPServer and LimitListener (guard.go) are what serve puts
// around its whole mux: request ids, JSON 404/405, header, body, write and
// idle deadlines, and a connection cap below the descriptor limit
// (ConnCap). Handlers check signature headers and bearer tokens before
// they read a body. 5xx bodies carry a generic message and the request id;
// the cause goes to the log. The nonce cache is memory only; a replay
// floor (replay.go, Options.ReplayFloorPath) refuses after a restart every
// request timestamped before what the previous run may have accepted (503
// sign_again).
//
// # Verification
//
// A result is sampled with VerifyRate (per node: NodeVerifyRates) by a keyed
// hash of its event id that workers cannot predict. Sampled results are
// answered "verifying"; a verifier re-renders the frame with the built-in
// deterministic renderer (workers/render, at the Render size given with
// the lease) and appends FrameAccepted when the output hash matches,
// FrameRejected ("output mismatch: …") when it does not. A mismatch makes
// the node suspect — all its later results are verified, also after a
// restart, since the reason is in the log — and the node's other accepted
// frames of that job are re-rendered; as acceptance is final in the log, a
// mismatch among them is reported (log, metrics, status) rather than
// undone. Raise the verify rate where that matters. Results stored without
// a verdict (the coordinator stopped first) are verified after a restart.
// Results of external renderers (worker --render-cmd) re-render only with
// the same renderer: serve such nodes with a verify rate of 0. Changing the
// render size while frames are leased makes their verification fail.
//
// # Completion and burn
//
// When a job's last frame is accepted the coordinator appends JobCompleted
// (the provenance root: domain.ProvenanceRoot of the accepted output hashes
// in frame order) and BurnRecorded: usd is the value of the job's accepted
// frames, Σ ob_score × duration_ms / 3,600,000 × usd_per_obh, rounded up to
// 10^-18 USD; burned = ceil(usd × 10^8 / RenderUSDPrice). The burn's
// tx_signature is the one given with the job (burn_tx_signature, from the
// payment processor that executed the burn); it is kept in memory until the
// job completes, so a job submitted without one — or completed after a
// restart — records DerivedBurnSignature(job_id), a stable reference and not
// a Solana transaction.
//
// # Epochs
//
// POST /v1/epochs/close appends EpochClosed for the open epoch (the
// emission default Emission). With EpochClock the coordinator does the same
// at the first boundary EpochGenesis + k × EpochLength after the open epoch
// began (its EpochClosed, or the log's first event); after a downtime over
// several boundaries it closes once: the log numbers epochs in order, and
// weeks without a coordinator had no work to allocate. Epoch membership is
// log order: a result stored after an EpochClosed counts in the next epoch.
//
// # Reading beside the coordinator
//
// Ledger (or View, with Position, Ready and Head: a readapi.LedgerSource)
// gives read access to the live ledger under the read lock; Routes and
// OpsRoutes take any *http.ServeMux, so a read API and a web page can be
// served by the same process.
package coordinator
