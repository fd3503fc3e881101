package coordinator

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mr-tron/base58"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/projections"
)

// Store is what the coordinator needs of the event log: appends (atomic
// across streams when the store is an eventstore.MultiAppender, as the
// embedded store is), reads to fold the log at start, the head, and
// stream reads (where positions have gaps, as on EventStoreDB, a round's
// positions are read back: eventstore.AppendInOrder).
type Store interface {
	Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error)
	ReadAll(ctx context.Context, from uint64, fn func(*eventstore.RecordedEvent) error) error
	ReadStream(ctx context.Context, stream string, from uint64, fn func(*eventstore.RecordedEvent) error) error
	Head(ctx context.Context) (uint64, error)
}

// ErrUnavailable is returned (503) once the coordinator is closing or its
// log has failed.
var ErrUnavailable = errors.New("coordinator: unavailable")

// nodeKey is a registered node as the request authenticator sees it.
type nodeKey struct {
	id       string
	operator string
	pub      ed25519.PublicKey
	pubText  string
}

// Server is the coordinator: it owns the live Ledger folded from the log
// and is the only appender. See the package documentation.
type Server struct {
	opts  Options
	store Store
	log   *slog.Logger

	// mu guards ledger and sched. The commit loop takes it for writing
	// while it checks a round and while it applies it, never during the
	// fsync; handlers take it for reading.
	mu     sync.RWMutex
	ledger *projections.Ledger
	sched  *sched
	// burnTxs are the burn signatures given with job submissions, kept
	// until the job completes (memory only: after a restart a job without
	// one records DerivedBurnSignature).
	burnTxs map[string]string

	keys   atomic.Pointer[map[string]*nodeKey] // base58 pubkey → node, copy on write
	nonces nonceCache
	avail  availability // heartbeats and leases of the open epoch (heartbeat.go)
	replay *replayFloor

	in      chan txn
	quit    chan struct{}
	loopEnd chan struct{}
	closed  atomic.Bool
	failed  atomic.Pointer[error]
	rounds  uint64 // commit-loop owned

	vq      *verifyQueue
	bg      sync.WaitGroup
	bgStop  context.CancelFunc
	salt    [32]byte
	m       *metrics
	started time.Time
}

// New folds the log into a ledger and the leasing state and starts the
// commit loop, the verifiers and (when enabled) the epoch clock. The
// caller keeps ownership of store: Close the Server first, then the store.
func New(ctx context.Context, store Store, opts *Options) (*Server, error) {
	o := *DefaultOptions()
	if opts != nil {
		o = *opts
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		opts: o, store: store, log: o.Logger,
		ledger: projections.New(projections.Config{DefaultEmission: o.Emission, SupplyCap: o.SupplyCap}),
		sched:  newSched(o.LeasesPerGPU), burnTxs: map[string]string{},
		in:   make(chan txn),
		quit: make(chan struct{}), loopEnd: make(chan struct{}),
		vq: newVerifyQueue(), started: o.Now(),
	}
	var err error
	if s.m, err = newMetrics(s, o.Metrics); err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started { // a failed start leaves the caller's registry as it was
			s.m.unregister()
		}
	}()
	s.nonces.window = 2 * o.RequestWindow
	if s.replay, err = loadReplayFloor(o.ReplayFloorPath, s.started.UnixMilli()); err != nil {
		return nil, err
	}
	if _, err := rand.Read(s.salt[:]); err != nil {
		return nil, err
	}
	empty := map[string]*nodeKey{}
	s.keys.Store(&empty)
	if err := s.fold(ctx); err != nil {
		return nil, err
	}
	s.avail.begin(s.sched.epochOpened.UnixMilli())
	// Jobs fully accepted whose completion was not recorded before a
	// restart are completed first.
	var initial []txn
	for _, j := range s.sched.completions {
		if !(j.completed && j.burned) {
			initial = append(initial, &completionTxn{job: j})
		}
	}
	s.sched.completions = nil
	bgctx, cancel := context.WithCancel(context.Background())
	s.bgStop = cancel
	go s.loop(initial)
	if err := s.appendSchedules(ctx); err != nil {
		cancel()
		s.Close()
		return nil, err
	}
	for range o.Verifiers {
		s.bg.Add(1)
		go func() { defer s.bg.Done(); s.verifier(bgctx) }()
	}
	if o.EpochClock {
		s.bg.Add(1)
		go func() { defer s.bg.Done(); s.epochClock(bgctx) }()
	}
	if err := s.registerComputeClients(ctx); err != nil {
		s.Close()
		return nil, err
	}
	started = true
	return s, nil
}

// fold reads the whole log into the ledger and the scheduler.
func (s *Server) fold(ctx context.Context) error {
	head, err := s.store.Head(ctx)
	if err != nil {
		return err
	}
	first := true
	err = s.store.ReadAll(ctx, 1, func(e *eventstore.RecordedEvent) error {
		if e.Position > head {
			return errStopFold
		}
		if first {
			first = false
			if t, err := time.Parse(time.RFC3339Nano, e.Time); err == nil {
				s.sched.epochOpened = t
			}
		}
		ev, err := domain.DecodeEvent(e.Type, e.Data)
		if err != nil {
			s.ledger.ApplyRecorded(e) // records the anomaly
			return nil
		}
		s.applyOne(e.Position, e.ID, e.Time, ev)
		return nil
	})
	if err != nil && !errors.Is(err, errStopFold) {
		return fmt.Errorf("coordinator: fold the log: %w", err)
	}
	if first {
		s.sched.epochOpened = s.opts.Now()
	}
	// Results stored without a verdict were sampled before a restart.
	for _, j := range s.sched.jobs {
		for f := range j.slots {
			if sl := &j.slots[f]; sl.state == frameRendered {
				s.vq.push(verifyTask{job: j.id, frame: uint32(f), node: sl.resNode, hash: sl.resHash, scene: j.sceneHash, renderedID: sl.resID})
			}
		}
	}
	if n := s.sched.overBound; n > 0 {
		s.log.Warn("the log holds frame reports beyond their node's wall time (written before the bound; docs/api.md, \"Work bounded by wall time\")", "count", n)
	}
	if n := s.ledger.AnomalyCount; n > 0 {
		s.log.Warn("the log holds events the fold could not use", "count", n, "first", s.ledger.Anomalies[0].Error)
	}
	s.log.Info("log folded", "position", s.ledger.Position, "events", s.ledger.Events,
		"nodes", len(s.ledger.Nodes), "jobs", len(s.ledger.Jobs), "open_epoch", s.ledger.Open().N, "unjudged", s.vq.len())
	return nil
}

var errStopFold = errors.New("stop")

// applyOne folds one stored event into the ledger, the scheduler and the
// key table. Called with mu held for writing (or before the server runs).
func (s *Server) applyOne(pos uint64, id, t string, ev domain.Event) {
	s.ledger.ApplyStored(pos, id, ev)
	s.sched.apply(pos, id, t, ev)
	s.avail.apply(t, ev)
	if e, ok := ev.(*domain.NodeRegistered); ok {
		s.addKey(e)
	}
}

func (s *Server) addKey(e *domain.NodeRegistered) {
	pub, err := base58.Decode(e.NodePubkey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return
	}
	old := *s.keys.Load()
	if _, dup := old[e.NodePubkey]; dup {
		return // a key serves one node: the first registration wins
	}
	m := make(map[string]*nodeKey, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[e.NodePubkey] = &nodeKey{id: e.NodeID, operator: e.OperatorID, pub: pub, pubText: e.NodePubkey}
	s.keys.Store(&m)
}

func (s *Server) keyOf(pubkey string) *nodeKey { return (*s.keys.Load())[pubkey] }

// Ledger calls fn with the live ledger under the read lock: fn must not
// modify it or keep references past its return. This is the accessor for
// read APIs mounted beside the coordinator's routes.
func (s *Server) Ledger(fn func(*projections.Ledger)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(s.ledger)
}

// View is Ledger under the name of readapi.LedgerSource: with Position,
// Ready and Head the Server is a source for the read API.
func (s *Server) View(fn func(*projections.Ledger)) { s.Ledger(fn) }

// Ready reports whether the coordinator serves: always after New (the log
// is folded before it returns) until Close or a failure of the log.
func (s *Server) Ready() bool { return s.Failed() == nil && !s.closed.Load() }

// Head is the newest log position: the coordinator is the only appender,
// so its ledger is always at the head.
func (s *Server) Head() uint64 { return s.Position() }

// Position returns the log position the live ledger reflects.
func (s *Server) Position() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ledger.Position
}

// Failed returns the error that stopped appends, or nil.
func (s *Server) Failed() error {
	if p := s.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// Close stops the verifiers and the epoch clock, then the commit loop:
// requests still arriving are answered 503. Call it after the HTTP server
// has shut down; it does not close the store.
func (s *Server) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.bgStop()
	s.vq.close()
	s.bg.Wait()
	close(s.quit)
	<-s.loopEnd
	// The registry may outlive the Server (a restart in one process
	// registers a new one with it).
	s.m.unregister()
	return nil
}

func (s *Server) now() time.Time { return s.opts.Now().UTC() }

// derivedID returns a version-8 UUID from sha256 of the parts: the ids of
// events whose retry must be recognized (a result reported twice, a job
// submitted twice, an epoch closed twice) are a function of their content,
// so the store's idempotent append and the duplicate checks here see the
// same id.
func derivedID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var s [32]byte
	h.Sum(s[:0])
	s[6] = s[6]&0x0f | 0x80
	s[8] = s[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

// randomID returns a random (version 4) UUID.
func randomID() string {
	var s [16]byte
	_, _ = rand.Read(s[:])
	s[6] = s[6]&0x0f | 0x40
	s[8] = s[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

// renderedID is the id of a FrameRendered: the same result reported again
// under the same lease has the same id.
func renderedID(jobID string, frame uint32, node string, leasePos uint64, outputHash string) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(frame))
	binary.BigEndian.PutUint64(b[8:], leasePos)
	return derivedID("FrameRendered", jobID, string(b[:]), node, outputHash)
}

// sampled decides whether a result is verified before it is accepted:
// always for suspect nodes, else with the node's rate, by a keyed hash of
// the result's id that workers cannot predict.
func (s *Server) sampled(node, id string) bool {
	if s.sched.suspects[node] {
		return true
	}
	rate, ok := s.opts.NodeVerifyRates[node]
	if !ok {
		rate = s.opts.VerifyRate
	}
	if rate >= 1 {
		return true
	}
	if rate <= 0 {
		return false
	}
	h := sha256.New()
	h.Write(s.salt[:])
	h.Write([]byte(id))
	var sum [32]byte
	h.Sum(sum[:0])
	return float64(binary.BigEndian.Uint64(sum[:8])>>11)/(1<<53) < rate
}

// ledgerT is the ledger type, for handler signatures.
type ledgerT = projections.Ledger
