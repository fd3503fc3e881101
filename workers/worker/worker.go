// Package worker is the GPU worker process of `epochledger worker`: it
// leases frames from the coordinator, renders them (the built-in
// deterministic ray tracer, or an external renderer through a command
// template), hashes the output, collects the frame's telemetry (NVML when
// present, else the CPU), signs the proof message with the node key and
// reports the result, retrying with backoff. On SIGTERM (ctx cancelled) it
// finishes the frame in hand — renders and reports it — within a grace
// period, then returns nil: leases cannot be handed back early (the log
// has no release event), so finishing is what frees the frame soonest; a
// frame abandoned after the grace period is re-leased when its lease
// expires.
//
// Faults for scripted scenarios (Options.Fault) make a worker misbehave on
// purpose: "cheat" reports a made-up output hash (correctly signed),
// "duplicate" reports every result twice, "slow-report" holds its first
// result until the coordinator's open epoch has moved on.
package worker

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/workers/api"
	"github.com/epochledger/epochledger/workers/render"
	"github.com/epochledger/epochledger/workers/telemetry"
)

// Fault names.
const (
	FaultCheat      = "cheat"
	FaultDuplicate  = "duplicate"
	FaultSlowReport = "slow-report"
)

// Options configure a worker.
type Options struct {
	Client *api.Client // with the node key
	// RenderCmd is an external renderer's command template (see
	// render.ExternalJob); empty uses the built-in renderer.
	RenderCmd string
	// SceneDir holds scene files named by scene hash for RenderCmd's
	// {scene}; empty passes the scene hash itself.
	SceneDir string
	GPUIndex int
	// Lease asks for leases of this length (0: the coordinator's default).
	Lease time.Duration
	// FrameTime pads every frame to at least this long (a slower GPU in a
	// scenario).
	FrameTime time.Duration
	// Grace bounds finishing the frame in hand after ctx is cancelled.
	Grace time.Duration
	// Poll is the wait when there is no work (grows to 8× with backoff).
	Poll time.Duration
	// Standby keeps the node online without taking work: it sends
	// heartbeats and leases nothing until ctx ends (a node held in
	// reserve earns availability only).
	Standby bool
	// Heartbeat is the interval of signed heartbeats, sent while idle and
	// while rendering (0: DefaultHeartbeat; negative: none).
	Heartbeat time.Duration
	// MaxFrames stops the worker after this many reported frames (0: no limit).
	MaxFrames int
	Fault     string
	Logger    *slog.Logger
}

// Stats counts what a worker did.
type Stats struct {
	Frames     int // results reported and stored
	Duplicates int // answers that said the result was already stored
	Refused    int // results the coordinator refused
}

// Run works until ctx is cancelled (then finishes the frame in hand) or
// MaxFrames are reported. It returns an error only when it cannot work at
// all (unknown node key, bad options).
func Run(ctx context.Context, o Options) (Stats, error) {
	var st Stats
	if o.Client == nil || o.Client.Key == nil {
		return st, errors.New("worker: a client with a node key is needed")
	}
	switch o.Fault {
	case "", FaultCheat, FaultDuplicate, FaultSlowReport:
	default:
		return st, fmt.Errorf("worker: unknown fault %q (cheat, duplicate, slow-report)", o.Fault)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Grace == 0 {
		o.Grace = 30 * time.Second
	}
	if o.Poll == 0 {
		o.Poll = 250 * time.Millisecond
	}
	w := &worker{o: o, log: o.Logger}
	info, err := w.me(ctx)
	if err != nil {
		return st, err
	}
	if info == nil {
		return st, nil // cancelled before the coordinator answered
	}
	w.info = info
	w.log = w.log.With("node", info.NodeID)
	w.sampler = telemetry.Open(o.GPUIndex)
	defer w.sampler.Close()
	w.log.Info("worker started", "operator", info.OperatorID, "ob_score", info.OBScore, "open_epoch", info.OpenEpoch, "fault", o.Fault)
	var rendering atomic.Bool
	if o.Heartbeat >= 0 {
		iv := o.Heartbeat
		if iv == 0 {
			iv = DefaultHeartbeat
		}
		hctx, stop := context.WithCancel(ctx)
		defer stop()
		go w.heartbeats(hctx, iv, &rendering)
	}
	if o.Standby {
		if o.Heartbeat < 0 {
			return st, errors.New("worker: a standby worker needs heartbeats")
		}
		w.log.Info("standing by: heartbeats only, no leases")
		<-ctx.Done()
		w.log.Info("worker stopped", "frames", 0)
		return st, nil
	}
	idle := 0
	held := false
	for ctx.Err() == nil && (o.MaxFrames == 0 || st.Frames < o.MaxFrames) {
		var leases []api.Lease
		err := w.retry(ctx, "lease", func() error {
			r, err := o.Client.Lease(ctx, api.LeaseRequest{Max: 1, LeaseSeconds: o.Lease.Seconds()})
			if err == nil {
				leases = r.Leases
			}
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return st, err
		}
		if len(leases) == 0 {
			idle = min(idle+1, 3)
			sleep(ctx, jitter(o.Poll<<idle))
			continue
		}
		idle = 0
		for _, l := range leases {
			// The frame in hand is finished even after SIGTERM, within
			// the grace period.
			fctx, cancel := graceContext(ctx, o.Grace)
			rendering.Store(true)
			res, err := w.renderFrame(fctx, l)
			rendering.Store(false)
			if err != nil {
				cancel()
				if fctx.Err() != nil {
					w.log.Warn("frame abandoned: grace period over; its lease will expire", "job", l.JobID, "frame", l.Frame)
					return st, nil
				}
				w.log.Error("render failed; the lease will expire", "job", l.JobID, "frame", l.Frame, "err", err)
				continue
			}
			if o.Fault == FaultSlowReport && !held {
				held = true
				w.holdUntilEpochMoves(fctx)
			}
			w.report(fctx, res, &st)
			if o.Fault == FaultDuplicate {
				w.report(fctx, res, &st)
			}
			cancel()
		}
	}
	w.log.Info("worker stopped", "frames", st.Frames, "duplicates", st.Duplicates, "refused", st.Refused)
	return st, nil
}

type worker struct {
	o       Options
	log     *slog.Logger
	info    *api.NodeInfo
	sampler telemetry.Sampler
}

// me asks the coordinator who this key is, retrying while it is not
// reachable; an unknown key is an error.
func (w *worker) me(ctx context.Context) (*api.NodeInfo, error) {
	var info *api.NodeInfo
	err := w.retry(ctx, "me", func() error {
		var err error
		info, err = w.o.Client.Me(ctx)
		return err
	})
	if ctx.Err() != nil {
		return nil, nil
	}
	return info, err
}

// retry calls fn until it succeeds, ctx ends, or it gets a 4xx (returned).
// Network errors and 5xx are retried with exponential backoff and jitter.
func (w *worker) retry(ctx context.Context, what string, fn func() error) error {
	backoff := 100 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return nil
		}
		var ae *api.Error
		if errors.As(err, &ae) && ae.Status < 500 {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.log.Warn("coordinator unreachable; retrying", "call", what, "err", err, "in", backoff)
		sleep(ctx, jitter(backoff))
		backoff = min(backoff*2, 5*time.Second)
	}
}

// renderFrame renders, hashes and signs one leased frame.
func (w *worker) renderFrame(ctx context.Context, l api.Lease) (api.Result, error) {
	start := time.Now()
	w.sampler.Begin()
	var hash string
	switch {
	case w.o.Fault == FaultCheat:
		// A cheater skips the work and makes up an output.
		sum := sha256.Sum256(fmt.Appendf(nil, "no render %s/%d", l.JobID, l.Frame))
		hash = hex.EncodeToString(sum[:])
	case w.o.RenderCmd != "":
		out, err := w.external(ctx, l)
		if err != nil {
			w.sampler.End()
			return api.Result{}, err
		}
		hash = render.OutputHash(out)
	default:
		sc := render.SceneFromHash(l.SceneHash, l.Render.Width, l.Render.Height)
		sc.Spp = l.Render.Spp
		png, err := render.RenderPNG(ctx, sc, int(l.Frame))
		if err != nil {
			w.sampler.End()
			return api.Result{}, err
		}
		hash = render.OutputHash(png)
	}
	if pad := w.o.FrameTime - time.Since(start); pad > 0 {
		if !sleep(ctx, pad) {
			w.sampler.End()
			return api.Result{}, ctx.Err()
		}
	}
	tel := w.sampler.End()
	dur := uint64(max(time.Since(start).Milliseconds(), 1))
	tj, _ := json.Marshal(tel)
	msg := domain.ProofMessage(l.JobID, l.Frame, w.info.NodeID, hash, dur)
	return api.Result{JobID: l.JobID, Frame: l.Frame, OutputHash: hash, DurationMS: dur, Telemetry: tj,
		Signature: domain.SignProof(ed25519.PrivateKey(w.o.Client.Key), msg)}, nil
}

func (w *worker) external(ctx context.Context, l api.Lease) ([]byte, error) {
	dir, err := os.MkdirTemp("", "epochledger-frame-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	scene := l.SceneHash
	if w.o.SceneDir != "" {
		scene = filepath.Join(w.o.SceneDir, l.SceneHash)
	}
	return render.RunExternalJob(ctx, render.ExternalJob{Template: w.o.RenderCmd, Scene: scene, Frame: int(l.Frame),
		Out: filepath.Join(dir, "frame.png"), Width: l.Render.Width, Height: l.Render.Height})
}

// report sends one result, retrying transient failures with the same body
// (the coordinator recognizes a retry of a stored result).
func (w *worker) report(ctx context.Context, res api.Result, st *Stats) {
	var out *api.ResultsResponse
	err := w.retry(ctx, "report", func() error {
		var err error
		out, err = w.o.Client.Report(ctx, res)
		return err
	})
	switch {
	case err != nil:
		st.Refused++
		w.log.Warn("result refused", "job", res.JobID, "frame", res.Frame, "err", err)
	case out.Results[0].Duplicate:
		st.Duplicates++
		w.log.Info("result already stored (duplicate answered)", "job", res.JobID, "frame", res.Frame, "status", out.Results[0].Status, "position", out.Results[0].Position)
	default:
		st.Frames++
		w.log.Info("result stored", "job", res.JobID, "frame", res.Frame, "status", out.Results[0].Status, "position", out.Results[0].Position, "duration_ms", res.DurationMS)
	}
}

// holdUntilEpochMoves waits until the coordinator's open epoch is past the
// one the worker started in (the slow-report fault).
func (w *worker) holdUntilEpochMoves(ctx context.Context) {
	w.log.Info("holding the result until the epoch closes (slow-report fault)", "open_epoch", w.info.OpenEpoch)
	for ctx.Err() == nil {
		info, err := w.o.Client.Me(ctx)
		if err == nil && info.OpenEpoch > w.info.OpenEpoch {
			w.log.Info("epoch closed; reporting the held result", "open_epoch", info.OpenEpoch)
			return
		}
		sleep(ctx, 50*time.Millisecond)
	}
}

// graceContext is a context that ends grace after parent does.
func graceContext(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() {
		t := time.NewTimer(grace)
		select {
		case <-t.C:
			cancel()
		case <-ctx.Done():
			t.Stop()
		}
	})
	return ctx, func() { stop(); cancel() }
}

// sleep waits d or until ctx ends; false if ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d)/2+1))
}

// IsUnknownNode reports whether err says the key is not registered.
func IsUnknownNode(err error) bool {
	var ae *api.Error
	return errors.As(err, &ae) && ae.Status == http.StatusUnauthorized && ae.Code == api.CodeUnknownNode
}
