package coordinator

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/epochledger/epochledger/workers/api"
	"github.com/epochledger/epochledger/workers/render"
)

// verifyTask is a result to re-render: a sampled result waiting for its
// verdict, or (recheck) an accepted result of a node caught cheating.
type verifyTask struct {
	job        string
	frame      uint32
	node       string
	hash       string // what the node reported
	scene      string // the job's scene_hash
	renderedID string
	recheck    bool
}

// verifyQueue is an unbounded FIFO of tasks without repeats.
type verifyQueue struct {
	mu     sync.Mutex
	q      []verifyTask
	queued map[string]bool
	notify chan struct{}
	closed bool
}

func newVerifyQueue() *verifyQueue {
	return &verifyQueue{queued: map[string]bool{}, notify: make(chan struct{}, 1)}
}

func taskKey(t verifyTask) string {
	if t.recheck {
		return "r" + t.renderedID
	}
	return "v" + t.renderedID
}

func (v *verifyQueue) push(t verifyTask) {
	v.mu.Lock()
	if v.closed || v.queued[taskKey(t)] {
		v.mu.Unlock()
		return
	}
	v.queued[taskKey(t)] = true
	v.q = append(v.q, t)
	v.mu.Unlock()
	select {
	case v.notify <- struct{}{}:
	default:
	}
}

// pop waits for a task; false when ctx ends or the queue is closed.
func (v *verifyQueue) pop(ctx context.Context) (verifyTask, bool) {
	for {
		v.mu.Lock()
		if v.closed {
			v.mu.Unlock()
			return verifyTask{}, false
		}
		if len(v.q) > 0 {
			t := v.q[0]
			v.q[0] = verifyTask{}
			v.q = v.q[1:]
			more := len(v.q) > 0
			v.mu.Unlock()
			if more {
				select {
				case v.notify <- struct{}{}:
				default:
				}
			}
			return t, true
		}
		v.mu.Unlock()
		select {
		case <-v.notify:
		case <-ctx.Done():
			return verifyTask{}, false
		}
	}
}

// done forgets a task once handled, so it may be queued again.
func (v *verifyQueue) done(t verifyTask) {
	v.mu.Lock()
	delete(v.queued, taskKey(t))
	v.mu.Unlock()
}

// len counts tasks queued or being handled.
func (v *verifyQueue) len() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.queued)
}

func (v *verifyQueue) close() {
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
}

// verifier re-renders queued results with the built-in renderer and
// records the verdicts. The renderer is deterministic (fixed-point, own
// PNG encoder), so an honest result has exactly the re-rendered hash.
func (s *Server) verifier(ctx context.Context) {
	for {
		t, ok := s.vq.pop(ctx)
		if !ok {
			return
		}
		retry := s.verifyOne(ctx, t)
		s.vq.done(t)
		if retry {
			// The store could not store the verdict and nothing was
			// written; the log still works: judge it again after a pause.
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
				s.vq.push(t)
			}
		}
	}
}

// verifyOne re-renders t and records its verdict; it reports whether the
// verdict should be tried again (the store stored nothing, transiently).
func (s *Server) verifyOne(ctx context.Context, t verifyTask) bool {
	scene := render.SceneFromHash(t.scene, s.opts.Render.Width, s.opts.Render.Height)
	scene.Spp = s.opts.Render.Spp
	png, err := render.RenderPNG(ctx, scene, int(t.frame))
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("verifier: render failed", "job", t.job, "frame", t.frame, "err", err)
		}
		return false
	}
	got := render.OutputHash(png)
	if t.recheck {
		if got != t.hash {
			s.mu.Lock()
			s.sched.recheck = append(s.sched.recheck, api.FrameRef{JobID: t.job, Frame: t.frame, Node: t.node})
			s.mu.Unlock()
			s.m.verifications.WithLabelValues("recheck_mismatch").Inc()
			s.log.Warn("an accepted result of a node caught cheating does not re-render; acceptance is final in the log",
				"job", t.job, "frame", t.frame, "node", t.node, "reported", t.hash, "rendered", got)
		}
		return false
	}
	vt := &verdictTxn{waiter: newWaiter(), task: t, got: got}
	if err := s.submit(ctx, vt, &vt.waiter); err != nil {
		if err != errStale && ctx.Err() == nil {
			s.log.Error("verifier: verdict not recorded", "job", t.job, "frame", t.frame, "err", err)
		}
		return errors.Is(err, errNotStoredNow)
	}
	if got == t.hash {
		s.m.verifications.WithLabelValues("match").Inc()
		s.log.Debug("verified", "job", t.job, "frame", t.frame, "node", t.node)
	} else {
		s.m.verifications.WithLabelValues("mismatch").Inc()
		s.log.Warn("result rejected: re-render differs", "job", t.job, "frame", t.frame, "node", t.node, "reported", t.hash, "rendered", got)
	}
	return false
}
