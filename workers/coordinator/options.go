package coordinator

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/workers/api"
	"github.com/epochledger/epochledger/workers/render"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Server. Start from DefaultOptions.
type Options struct {
	// AdminToken is the bearer token of the admin and artist routes. Empty
	// disables them (403 admin_disabled).
	AdminToken string
	// LeaseDuration is the default lease; a worker may ask for up to
	// MaxLeaseDuration. An expired lease's frame is leased to another node.
	LeaseDuration    time.Duration
	MaxLeaseDuration time.Duration
	// MaxLeaseFrames caps the frames of one lease request.
	MaxLeaseFrames int
	// LeasesPerGPU is how many live leases a node may hold per GPU its
	// registration names (GPUCount), and so how many lanes of wall time
	// its reported durations may fill (bound.go).
	LeasesPerGPU int
	// MaxResults caps the results of one results request.
	MaxResults int
	// VerifyRate is the fraction of results (0..1) the verifier re-renders
	// before accepting; the rest are accepted at once. NodeVerifyRates
	// overrides it per node id. A node whose result failed verification is
	// verified at 100% from then on.
	VerifyRate      float64
	NodeVerifyRates map[string]float64
	// Verifiers is the number of goroutines re-rendering sampled frames
	// (0: one; negative: none, results wait for a restart — tests).
	Verifiers int
	// Render is the frame size of the built-in renderer (workers/render):
	// workers render it, the verifier re-renders it.
	Render api.RenderSpec
	// RenderUSDPrice is the RENDER price in USD at which completed jobs'
	// burns are recorded.
	RenderUSDPrice domain.USD
	// Emission is what an EpochClosed records unless the close request
	// names another.
	Emission domain.BaseUnits
	// EpochClock appends EpochClosed at the epoch boundaries of
	// EpochGenesis + k × EpochLength.
	EpochClock   bool
	EpochGenesis time.Time
	EpochLength  time.Duration
	// RequestWindow bounds the clock difference of a signed request's
	// timestamp; nonces are remembered for twice as long.
	RequestWindow time.Duration
	// ReplayFloorPath is the file that keeps the replay floor across
	// restarts: the newest signed-request timestamp the coordinator may
	// have accepted (plus a second), so that a request captured before a
	// restart is refused after it although the nonce cache starts empty.
	// Empty keeps it in memory: the floor is then the start time, which
	// leaves out requests signed by a clock running ahead of the
	// coordinator's.
	ReplayFloorPath string
	// MaxBodyBytes caps a request body.
	MaxBodyBytes int64
	// SupplyCap bounds the emissions of all epochs together (0: the
	// default, domain.MaxSupply); an EpochClosed past it is refused.
	SupplyCap domain.BaseUnits
	// ComputeClients are registered at start (ComputeClientRegistered)
	// unless the log already holds them with these keys and caps; see
	// compute.go.
	ComputeClients []ComputeClient
	// Metrics is the Prometheus registry the coordinator registers its
	// collectors with (serve: the process's one registry, shared with the
	// read API and the store); nil gives the Server one of its own, which
	// OpsRoutes' GET /metrics serves. One registry holds one Server at a
	// time: Close (or a failed New) takes its collectors out again.
	Metrics *prometheus.Registry
	// Observer, if set, is told of every durable append and of frames
	// accepted and rejected (readapi.Metrics is one), beside the
	// coordinator's own collectors.
	Observer Observer
	// HeartbeatInterval is how often workers are asked to send signed
	// heartbeats (0: 10 s); online time counts the gaps between a node's
	// heartbeats of at most 3 × the interval (see heartbeat.go).
	HeartbeatInterval time.Duration
	// Schedule is appended at start where the log lacks it (the entries of
	// serve --schedule FILE; see SetSchedule).
	Schedule []domain.EmissionScheduleSet
	// Logger receives the coordinator's log; nil discards it.
	Logger *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Observer receives the coordinator's measurements.
type Observer interface {
	ObserveAppend(d time.Duration, err error)
	FrameAccepted()
	FrameRejected()
}

// DefaultRenderUSDPrice is the default RENDER price: configuration, never
// a rule.
const DefaultRenderUSDPrice = "5"

// DefaultOptions returns the options of `epochledger serve` without flags.
func DefaultOptions() *Options {
	price, _ := domain.ParseUSD(DefaultRenderUSDPrice)
	return &Options{
		LeaseDuration:    2 * time.Minute,
		MaxLeaseDuration: time.Hour,
		MaxLeaseFrames:   64,
		LeasesPerGPU:     1,
		MaxResults:       256,
		VerifyRate:       0.05,
		Verifiers:        1,
		Render:           api.RenderSpec{Width: 64, Height: 48, Spp: render.DefaultSpp},
		RenderUSDPrice:   price,
		Emission:         domain.DefaultEmission,
		EpochClock:       true,
		EpochGenesis:     domain.EpochGenesis,
		EpochLength:      domain.EpochLength,
		RequestWindow:    time.Minute,
		MaxBodyBytes:     1 << 20,
	}
}

// Validate fills defaults for zero values and checks the options.
func (o *Options) Validate() error {
	d := DefaultOptions()
	if o.LeaseDuration == 0 {
		o.LeaseDuration = d.LeaseDuration
	}
	if o.MaxLeaseDuration == 0 {
		o.MaxLeaseDuration = max(d.MaxLeaseDuration, o.LeaseDuration)
	}
	if o.MaxLeaseFrames == 0 {
		o.MaxLeaseFrames = d.MaxLeaseFrames
	}
	if o.LeasesPerGPU == 0 {
		o.LeasesPerGPU = d.LeasesPerGPU
	}
	if o.MaxResults == 0 {
		o.MaxResults = d.MaxResults
	}
	if o.Verifiers == 0 {
		o.Verifiers = d.Verifiers
	}
	if o.Render == (api.RenderSpec{}) {
		o.Render = d.Render
	}
	if o.Render.Spp == 0 {
		o.Render.Spp = render.DefaultSpp
	}
	if o.RenderUSDPrice.IsZero() {
		o.RenderUSDPrice = d.RenderUSDPrice
	}
	if o.Emission == 0 {
		o.Emission = d.Emission
	}
	if o.EpochGenesis.IsZero() {
		o.EpochGenesis = d.EpochGenesis
	}
	if o.EpochLength == 0 {
		o.EpochLength = d.EpochLength
	}
	if o.RequestWindow == 0 {
		o.RequestWindow = d.RequestWindow
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = d.MaxBodyBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case o.LeaseDuration < 0 || o.MaxLeaseDuration < o.LeaseDuration:
		return fmt.Errorf("coordinator: lease %v and max lease %v: want 0 < lease <= max lease", o.LeaseDuration, o.MaxLeaseDuration)
	case o.LeasesPerGPU < 1 || o.LeasesPerGPU > 1024:
		return fmt.Errorf("coordinator: leases per GPU %d out of range 1..1024", o.LeasesPerGPU)
	case o.MaxLeaseFrames < 1 || o.MaxResults < 1:
		return errors.New("coordinator: max lease frames and max results must be positive")
	case o.VerifyRate < 0 || o.VerifyRate > 1:
		return fmt.Errorf("coordinator: verify rate %v is not in 0..1", o.VerifyRate)
	case o.Render.Width < 1 || o.Render.Height < 1 || o.Render.Width > render.MaxSize || o.Render.Height > render.MaxSize:
		return fmt.Errorf("coordinator: render size %dx%d out of range 1..%d", o.Render.Width, o.Render.Height, render.MaxSize)
	case o.Render.Spp < 1 || o.Render.Spp > render.MaxSpp:
		return fmt.Errorf("coordinator: render spp %d out of range 1..%d", o.Render.Spp, render.MaxSpp)
	case o.EpochLength < time.Second:
		return fmt.Errorf("coordinator: epoch length %v is too short", o.EpochLength)
	case o.RequestWindow < time.Second:
		return fmt.Errorf("coordinator: request window %v is too short", o.RequestWindow)
	}
	if err := validateComputeClients(o.ComputeClients); err != nil {
		return err
	}
	for n, r := range o.NodeVerifyRates {
		if r < 0 || r > 1 {
			return fmt.Errorf("coordinator: verify rate %v of node %q is not in 0..1", r, n)
		}
	}
	return nil
}
