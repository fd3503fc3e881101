package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/epochledger/epochledger/workers/api"
	"github.com/epochledger/epochledger/workers/nodekey"
	"github.com/epochledger/epochledger/workers/telemetry"
	"github.com/epochledger/epochledger/workers/worker"
)

func runWorker(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "register" {
		return runWorkerRegister(ctx, e, args[1:])
	}
	fs := newFlagSet(e, "worker", "--server URL --key FILE [flags]", `
Work for a coordinator (epochledger serve): lease a frame, render it (the
built-in deterministic ray tracer, or --render-cmd), hash the output,
collect the frame's GPU telemetry through NVML (or say why not and use the
CPU), sign the proof message with the node key and report the result;
retry with backoff while the coordinator is unreachable. SIGTERM or
Ctrl-C finishes the frame in hand (within --grace), reports it and exits 0.

The node must be registered first: epochledger worker register.

--render-cmd runs an external renderer without a shell; {scene}, {frame},
{out}, {width} and {height} are replaced in each argument, e.g.
  --render-cmd 'blender -b {scene} -o {out} -F PNG -x 0 -f {frame}'
{scene} is --scene-dir/<scene_hash> (or the scene hash itself).

Exit status: 0 after a clean stop, 1 when the key is not registered or
the coordinator refuses the worker, 2 on usage errors.`)
	server := fs.String("server", e.getenv("EPOCHLEDGER_SERVER"), "coordinator URL, e.g. http://127.0.0.1:8080 (env EPOCHLEDGER_SERVER)")
	keyFile := fs.String("key", "node-key.json", "node key (Solana CLI keypair JSON; epochledger keygen)")
	renderCmd := fs.String("render-cmd", "", "external renderer command template (default: the built-in renderer)")
	sceneDir := fs.String("scene-dir", "", "directory of scene files named by scene hash, for {scene}")
	gpu := fs.Int("gpu-index", 0, "NVML index of the GPU to report telemetry for")
	lease := fs.Duration("lease", 0, "lease length to ask for (default: the coordinator's)")
	grace := fs.Duration("grace", 30*time.Second, "how long a stop waits for the frame in hand")
	frameTime := fs.Duration("frame-time", 0, "pad every frame to at least this long (simulates a slower GPU)")
	maxFrames := fs.Int("max-frames", 0, "stop after reporting this many frames (0: run until stopped)")
	standby := fs.Bool("standby", false, "stay online (heartbeats) without taking work: a node held in reserve earns availability only")
	heartbeat := fs.Duration("heartbeat", worker.DefaultHeartbeat, "interval of signed heartbeats, sent while idle and rendering (online time of the availability channel; 0: none)")
	fault := fs.String("fault", "", "misbehave on purpose, for scenarios: cheat, duplicate or slow-report")
	verbose := fs.Bool("v", false, "debug logging (every frame is logged at info level anyway)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("worker: unexpected argument %q", pos[0])
	}
	if *server == "" {
		return usagef("worker: --server URL is required")
	}
	key, err := nodekey.Load(*keyFile)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	_, err = worker.Run(ctx, worker.Options{
		Client: api.NewClient(*server, key, ""), RenderCmd: *renderCmd, SceneDir: *sceneDir, GPUIndex: *gpu,
		Lease: *lease, Grace: *grace, FrameTime: *frameTime, MaxFrames: *maxFrames, Fault: *fault, Logger: log,
		Heartbeat: heartbeatOption(*heartbeat), Standby: *standby,
	})
	if err != nil {
		if worker.IsUnknownNode(err) {
			return fmt.Errorf("worker: the coordinator does not know key %s: register the node first (epochledger worker register --key %s …)", nodekey.Pubkey(key), *keyFile)
		}
		return fmt.Errorf("worker: %w", err)
	}
	return nil
}

func runWorkerRegister(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "worker register", "--server URL --key FILE --node-id ID --operator ID --ob-score S [--gpu NAME] [--vram-gb N]", `
Register a node with the coordinator. Operators register nodes through the
foundation: the request carries the admin token (--admin-token-file or
EPOCHLEDGER_ADMIN_TOKEN) and is signed by the node key being registered,
which proves the operator holds it. Registering the same node again with
the same details is a no-op.`)
	server := fs.String("server", e.getenv("EPOCHLEDGER_SERVER"), "coordinator URL (env EPOCHLEDGER_SERVER)")
	keyFile := fs.String("key", "node-key.json", "node key (Solana CLI keypair JSON)")
	nodeID := fs.String("node-id", "", "node id (required)")
	operator := fs.String("operator", "", "operator id (required)")
	ob := fs.String("ob-score", "", "OctaneBench score, e.g. 860.5 (required)")
	gpu := fs.String("gpu", "", "GPU model (default: what NVML reports, else the CPU)")
	vram := fs.Uint("vram-gb", 0, "GPU memory in GB, 1..4096 (default: what NVML reports; a node without it earns no availability reward)")
	tokenFile := fs.String("admin-token-file", "", "file holding the admin token (default: env EPOCHLEDGER_ADMIN_TOKEN)")
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("worker register: unexpected argument %q", pos[0])
	}
	if *server == "" || *nodeID == "" || *operator == "" || *ob == "" {
		return usagef("worker register: --server, --node-id, --operator and --ob-score are required")
	}
	token, err := adminToken(e, *tokenFile)
	if err != nil {
		return err
	}
	if token == "" {
		return usagef("worker register: the admin token is needed (--admin-token-file or EPOCHLEDGER_ADMIN_TOKEN)")
	}
	key, err := nodekey.Load(*keyFile)
	if err != nil {
		return err
	}
	if *gpu == "" || *vram == 0 {
		s := telemetry.Open(0)
		s.Begin()
		t := s.End()
		s.Close()
		if *gpu == "" {
			*gpu = t.Device
			if *gpu == "" {
				*gpu = "CPU " + t.CPUModel
			}
		}
		if *vram == 0 && t.MemoryTotalBytes > 0 {
			*vram = uint((t.MemoryTotalBytes + 1<<29) >> 30) // NVML's total, in whole GB
		}
	}
	c := api.NewClient(*server, key, token)
	r, err := c.RegisterNode(ctx, api.RegisterNodeRequest{NodeID: *nodeID, OperatorID: *operator, GPU: *gpu, OBScore: *ob, VRAMGB: uint32(min(*vram, 1<<20))})
	if err != nil {
		return fmt.Errorf("worker register: %w", err)
	}
	if *asJSON {
		return writeJSON(e.stdout, r)
	}
	if r.Duplicate {
		fmt.Fprintf(e.stdout, "node %s was already registered (position %d)\n", *nodeID, r.Position)
	} else {
		fmt.Fprintf(e.stdout, "registered node %s of operator %s with key %s (position %d)\n", *nodeID, *operator, nodekey.Pubkey(key), r.Position)
	}
	return nil
}

// adminToken reads the admin token from file, or from the environment.
func adminToken(e *env, file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("admin token: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return strings.TrimSpace(e.getenv("EPOCHLEDGER_ADMIN_TOKEN")), nil
}

// heartbeatOption maps --heartbeat to worker.Options.Heartbeat (0: none).
func heartbeatOption(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}
