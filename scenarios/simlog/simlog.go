// Package simlog builds valid, deterministic event logs of a rendering
// network for tests, benchmarks and demos: nodes with keys derived from
// their ids, jobs, frames leased, rendered (really signed), accepted or
// rejected, compute work, burns and epoch closes. The same calls give the
// same bytes on every machine.
package simlog

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/mr-tron/base58"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
)

// Builder accumulates envelopes.
type Builder struct {
	// FakeSignatures skips ed25519 signing (a fixed, well-formed signature
	// instead): for benchmark logs appended without the command layer's
	// checks. Such logs fold normally but are refused by import.
	FakeSignatures bool

	seed string
	now  time.Time
	n    uint64
	envs []*domain.Envelope
	keys map[string]ed25519.PrivateKey
	// clients are the compute clients registered so far: Compute has
	// "io.net" sign its reports once it is registered.
	clients map[string]ed25519.PrivateKey
	jobs    map[string]uint32
	frame   map[string]string // job/frame → last output hash
}

// New starts a log whose first event is at start; seed makes ids differ
// between builders.
func New(seed string, start time.Time) *Builder {
	return &Builder{seed: seed, now: start, keys: map[string]ed25519.PrivateKey{}, clients: map[string]ed25519.PrivateKey{}, jobs: map[string]uint32{}, frame: map[string]string{}}
}

// NodeKey is the deterministic ed25519 key of a node id.
func NodeKey(nodeID string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte("simlog-node-key:" + nodeID))
	return ed25519.NewKeyFromSeed(s[:])
}

// ClientKey is the deterministic ed25519 key of a compute client id.
func ClientKey(clientID string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte("simlog-client-key:" + clientID))
	return ed25519.NewKeyFromSeed(s[:])
}

// Wallet is a deterministic Solana address for an operator.
func Wallet(operatorID string) string {
	s := sha256.Sum256([]byte("simlog-wallet:" + operatorID))
	return base58.Encode(s[:])
}

// Hash is a deterministic hex sha256 of a label.
func Hash(label string) string {
	s := sha256.Sum256([]byte(label))
	return hex.EncodeToString(s[:])
}

func (b *Builder) id() string {
	b.n++
	s := sha256.Sum256(fmt.Appendf(nil, "%s/%d", b.seed, b.n))
	s[6] = s[6]&0x0f | 0x40
	s[8] = s[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

// Tick moves the clock.
func (b *Builder) Tick(d time.Duration) { b.now = b.now.Add(d) }

// Add appends an event (panics on an invalid one: builders are for tests).
func (b *Builder) Add(stream string, ev domain.Event) *domain.Envelope {
	env, err := domain.NewEnvelope(b.id(), stream, b.now, ev)
	if err != nil {
		panic(fmt.Sprintf("simlog: %v", err))
	}
	b.envs = append(b.envs, env)
	b.now = b.now.Add(time.Second)
	return env
}

// Node registers a node with its deterministic key.
func (b *Builder) Node(nodeID, operatorID, ob string) {
	k := NodeKey(nodeID)
	b.keys[nodeID] = k
	score, err := domain.ParseOBScore(ob)
	if err != nil {
		panic(err)
	}
	b.Add("node-"+nodeID, &domain.NodeRegistered{NodeID: nodeID, OperatorID: operatorID, NodePubkey: base58.Encode(k.Public().(ed25519.PublicKey)), GPU: "RTX 4090", OBScore: score})
}

// SetWallet gives an operator its deterministic wallet.
func (b *Builder) SetWallet(operatorID string) {
	b.Add("operator-"+operatorID, &domain.OperatorWalletSet{OperatorID: operatorID, Wallet: Wallet(operatorID)})
}

// Job submits a job.
func (b *Builder) Job(jobID string, frames uint32, usdPerOBh string) {
	p, err := domain.ParseUSD(usdPerOBh)
	if err != nil {
		panic(err)
	}
	b.jobs[jobID] = frames
	b.Add("job-"+jobID, &domain.JobSubmitted{JobID: jobID, Artist: "artist-1", SceneHash: Hash("scene:" + jobID), Frames: frames, USDPerOBh: p})
}

// Assign leases a frame to a node for ten minutes.
func (b *Builder) Assign(jobID string, frame uint32, nodeID string) {
	b.Add("job-"+jobID, &domain.FrameAssigned{JobID: jobID, Frame: frame, NodeID: nodeID, LeaseUntil: b.now.Add(10 * time.Minute).UTC().Format(time.RFC3339)})
}

// Rendered reports a frame, signed with the node's key; output labels the
// output bytes (a cheater reports another label).
func (b *Builder) Rendered(jobID string, frame uint32, nodeID string, durationMS uint64, output string) {
	h := Hash(fmt.Sprintf("%s/%d/%s", jobID, frame, output))
	sig := b.sign(nodeID, domain.ProofMessage(jobID, frame, nodeID, h, durationMS))
	b.frame[fmt.Sprintf("%s/%d", jobID, frame)] = h
	b.Add("job-"+jobID, &domain.FrameRendered{JobID: jobID, Frame: frame, NodeID: nodeID, OutputHash: h, DurationMS: durationMS, Telemetry: []byte(`{"backend":"cpu"}`), Signature: sig})
}

var fakeSignature = base58.Encode(make([]byte, ed25519.SignatureSize))

func (b *Builder) sign(nodeID string, msg []byte) string {
	if b.FakeSignatures {
		return fakeSignature
	}
	return base58.Encode(ed25519.Sign(b.keys[nodeID], msg))
}

// Accept accepts a node's rendered frame.
func (b *Builder) Accept(jobID string, frame uint32, nodeID string) {
	b.Add("job-"+jobID, &domain.FrameAccepted{JobID: jobID, Frame: frame, NodeID: nodeID})
}

// Reject rejects a node's rendered frame.
func (b *Builder) Reject(jobID string, frame uint32, nodeID, reason string) {
	b.Add("job-"+jobID, &domain.FrameRejected{JobID: jobID, Frame: frame, NodeID: nodeID, Reason: reason})
}

// Frame leases, renders and accepts one frame.
func (b *Builder) Frame(jobID string, frame uint32, nodeID string, durationMS uint64) {
	b.Assign(jobID, frame, nodeID)
	b.Rendered(jobID, frame, nodeID, durationMS, "ok")
	b.Accept(jobID, frame, nodeID)
}

// Complete records a job's provenance root over its accepted outputs.
func (b *Builder) Complete(jobID string) {
	hashes := make([]string, b.jobs[jobID])
	for i := range hashes {
		hashes[i] = b.frame[fmt.Sprintf("%s/%d", jobID, i)]
		if hashes[i] == "" {
			hashes[i] = Hash("never rendered") // a premature completion, for refusal tests
		}
	}
	root, err := domain.ProvenanceRoot(hashes)
	if err != nil {
		panic(err)
	}
	b.Add("job-"+jobID, &domain.JobCompleted{JobID: jobID, ProvenanceRoot: domain.HashHex(root)})
}

// Burn records a job's burn at a price.
func (b *Builder) Burn(jobID, usd, price string) {
	u, _ := domain.ParseUSD(usd)
	p, _ := domain.ParseUSD(price)
	burned, err := domain.BurnedBaseUnits(u, p)
	if err != nil {
		panic(err)
	}
	sig := base58.Encode(append(sha256.New().Sum([]byte(jobID))[:32], make([]byte, 32)...)[:64])
	b.Add("job-"+jobID, &domain.BurnRecorded{JobID: jobID, USD: u, RenderUSDPrice: p, Burned: burned, TxSignature: sig})
}

// ComputeClient registers a compute client with its deterministic key and
// caps in USD (per task, per node per epoch).
func (b *Builder) ComputeClient(clientID, maxPerTask, maxPerNodeEpoch string) {
	k := ClientKey(clientID)
	b.clients[clientID] = k
	t, err := domain.ParseUSD(maxPerTask)
	if err != nil {
		panic(err)
	}
	n, err := domain.ParseUSD(maxPerNodeEpoch)
	if err != nil {
		panic(err)
	}
	b.Add("client-"+clientID, &domain.ComputeClientRegistered{ClientID: clientID, ClientPubkey: base58.Encode(k.Public().(ed25519.PublicKey)), MaxUSDPerTask: t, MaxUSDPerNodeEpoch: n})
}

// Compute reports io.net compute work, signed by the node and, once
// ComputeClient registered io.net, attested by the client.
func (b *Builder) Compute(taskID, nodeID string, durationMS uint64, usd string) {
	b.ComputeBy("io.net", taskID, nodeID, durationMS, usd)
}

// ComputeBy reports compute work for client, signed by the node and, if
// the builder registered client, by the client (the old form otherwise).
func (b *Builder) ComputeBy(client, taskID, nodeID string, durationMS uint64, usd string) {
	u, _ := domain.ParseUSD(usd)
	h := Hash("task:" + taskID)
	ev := &domain.ComputeWorkCompleted{TaskID: taskID, NodeID: nodeID, Client: client, DurationMS: durationMS, USD: u, OutputHash: h}
	ev.Signature = b.sign(nodeID, ev.ProofMessage())
	if k := b.clients[client]; k != nil {
		ev.ClientSignature = base58.Encode(ed25519.Sign(k, ev.ClientMessage()))
		if b.FakeSignatures {
			ev.ClientSignature = fakeSignature
		}
	}
	b.Add("node-"+nodeID, ev)
}

// CloseEpoch closes epoch n with an emission.
func (b *Builder) CloseEpoch(n uint64, emission domain.BaseUnits) {
	b.Add(fmt.Sprintf("epoch-%d", n), &domain.EpochClosed{Epoch: n, Emission: emission})
}

// Drain returns the events so far and forgets them (for logs too large to
// hold in memory).
func (b *Builder) Drain() []*domain.Envelope {
	out := b.envs
	b.envs = nil
	return out
}

// Envelopes returns the events so far.
func (b *Builder) Envelopes() []*domain.Envelope { return b.envs }

// WriteJSONL writes the events as an import file.
func (b *Builder) WriteJSONL(w io.Writer) error {
	bw := bufio.NewWriter(w)
	var line []byte
	for _, e := range b.envs {
		line = append(e.AppendJSON(line[:0]), '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// AppendBatch appends envs to s in order (atomically on the embedded store).
func AppendBatch(ctx context.Context, s eventstore.Store, envs []*domain.Envelope) error {
	evs := make([]eventstore.StreamEvent, len(envs))
	for i, e := range envs {
		evs[i] = eventstore.StreamEvent{Stream: e.Stream, Event: eventstore.EventData{ID: e.ID, Type: e.Type, Time: e.Time, Data: e.Data}}
	}
	_, _, err := eventstore.AppendInOrder(ctx, s, evs)
	return err
}

// AppendTo appends the events to a store, in order, one append each
// (without the command layer's checks: the builder's events are valid).
func (b *Builder) AppendTo(ctx context.Context, s eventstore.Store) error {
	for _, e := range b.envs {
		if _, err := s.Append(ctx, e.Stream, eventstore.Any(), eventstore.EventData{ID: e.ID, Type: e.Type, Time: e.Time, Data: e.Data}); err != nil {
			return err
		}
	}
	return nil
}
