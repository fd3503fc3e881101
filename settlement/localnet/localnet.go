// Package localnet runs a local Solana VM behind a JSON-RPC endpoint, for
// settlement tests and for `epochledger localnet`.
//
// The VM is LiteSVM (npm package litesvm, pinned at 1.5.0 by
// server/package-lock.json) inside a small Node.js server (server/*.js). The
// real System, SPL Token, Associated Token Account and Memo programs execute;
// signatures, blockhash age (150 blocks), the 1,232-byte packet limit and
// duplicate signatures are enforced; answers have the shapes of a real RPC
// node, so github.com/gagliardetto/solana-go/rpc works unchanged. Test-only
// methods (prefix localnet_) create mints and treasuries, advance slots and
// inject faults into sendTransaction. See README.md.
//
// State lives in the server's memory only: every Start is a fresh chain.
package localnet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gagliardetto/solana-go"
)

// DefaultStartTimeout bounds how long Start waits for the ready line when the
// context has no deadline.
const DefaultStartTimeout = 60 * time.Second

// Options configure Start.
type Options struct {
	// Port to listen on at 127.0.0.1; 0 picks a free one.
	Port int
	// StateDir, when set, receives treasury.json (Solana CLI keypair) and,
	// once the endpoint is ready, localnet.json. localnet.json is removed again
	// when the server stops, since the chain it describes is gone.
	StateDir string
	// NodeBin is the Node.js binary; default "node".
	NodeBin string
	// Stdout and Stderr receive the server's output (the ready line is not
	// forwarded: it carries the treasury secret key). Nil discards.
	Stdout, Stderr io.Writer
	// Verbose makes the server log every send, fault and landing to Stderr.
	Verbose bool
	// StartTimeout overrides DefaultStartTimeout.
	StartTimeout time.Duration
}

// Localnet is a running server. Close it when done.
type Localnet struct {
	// RPC is the JSON-RPC endpoint, http://127.0.0.1:PORT.
	RPC string
	// Mint is the 8-decimal mint created at start; the server holds its mint authority.
	Mint solana.PublicKey
	// Decimals of Mint.
	Decimals uint8
	// Treasury owns TreasuryTokenAccount, funded with TreasuryAmount base
	// units of Mint and 1,000,000 SOL.
	Treasury solana.PrivateKey
	// TreasuryTokenAccount is the treasury's associated token account for Mint.
	TreasuryTokenAccount solana.PublicKey
	// TreasuryAmount is what was minted to TreasuryTokenAccount at start.
	TreasuryAmount uint64
	// TreasuryKeypairPath is StateDir/treasury.json, or "" without StateDir.
	TreasuryKeypairPath string
	// PID of the node process.
	PID int

	cmd       *exec.Cmd
	stdin     io.Closer
	stderr    *tailBuffer
	done      chan struct{}
	waitErr   error
	closeOnce sync.Once
	closeErr  error
	client    *http.Client
	nextID    atomic.Uint64
}

// readyLine is what server.js prints once it serves.
type readyLine struct {
	Ready                bool   `json:"ready"`
	RPC                  string `json:"rpc"`
	Mint                 string `json:"mint"`
	Decimals             uint8  `json:"decimals"`
	Treasury             string `json:"treasury"`
	TreasurySecretKeyRaw []int  `json:"treasury_secret_key"`
	TreasuryTokenAccount string `json:"treasury_token_account"`
	TreasuryAmount       string `json:"treasury_amount"`
	TreasuryKeypair      string `json:"treasury_keypair"`
	PID                  int    `json:"pid"`
}

// Start installs the server if needed (see EnsureInstalled), spawns node and
// waits for its ready line. ctx bounds the start only, not the server's life.
func Start(ctx context.Context, opts Options) (*Localnet, error) {
	if opts.NodeBin == "" {
		opts.NodeBin = "node"
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("localnet: Options.Port %d: want 0..65535", opts.Port)
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	script, err := ensureInstalled(ctx, opts.NodeBin)
	if err != nil {
		return nil, err
	}
	nodeBin, err := exec.LookPath(opts.NodeBin)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNodeNotFound, err)
	}

	args := []string{script, "--port", strconv.Itoa(opts.Port), "--exit-on-stdin-close"}
	if opts.StateDir != "" {
		dir, err := filepath.Abs(opts.StateDir)
		if err != nil {
			return nil, fmt.Errorf("localnet: state dir: %w", err)
		}
		args = append(args, "--state", dir)
	}
	if opts.Verbose {
		args = append(args, "--verbose")
	}
	cmd := exec.Command(nodeBin, args...)
	cmd.Dir = filepath.Dir(script)
	setProcessGroup(cmd)
	cmd.Env = os.Environ()

	// The server exits when its stdin closes: if this process dies without
	// calling Close, the kernel closes the pipe and the server follows.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("localnet: %w", err)
	}
	// A pipe of our own (not StdoutPipe) so Wait does not race the reader.
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("localnet: %w", err)
	}
	cmd.Stdout = outW
	errTail := newTailBuffer(8 << 10)
	var stderr io.Writer = errTail
	if opts.Stderr != nil {
		stderr = io.MultiWriter(errTail, opts.Stderr)
	}
	cmd.Stderr = stderr

	if err := cmd.Start(); err != nil {
		_ = outR.Close()
		_ = outW.Close()
		return nil, fmt.Errorf("localnet: start %s: %w", nodeBin, err)
	}
	_ = outW.Close()

	l := &Localnet{
		cmd:    cmd,
		stdin:  stdin,
		stderr: errTail,
		done:   make(chan struct{}),
		PID:    cmd.Process.Pid,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 20 * time.Second}},
	}
	go func() {
		l.waitErr = cmd.Wait()
		close(l.done)
	}()

	readyCh := make(chan readyLine, 1)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sawReady := false
		for sc.Scan() {
			line := sc.Bytes()
			if !sawReady {
				var r readyLine
				if json.Unmarshal(line, &r) == nil && r.Ready {
					sawReady = true
					readyCh <- r
					continue
				}
			}
			if opts.Stdout != nil {
				_, _ = opts.Stdout.Write(append(append([]byte(nil), line...), '\n'))
			}
		}
		if !sawReady {
			readErr <- errors.New("stdout closed before the ready line")
		}
		_ = outR.Close()
	}()

	fail := func(what error) (*Localnet, error) {
		l.kill()
		<-l.done
		msg := fmt.Sprintf("localnet: server did not become ready: %v", what)
		if l.waitErr != nil {
			msg += fmt.Sprintf(" (node: %v)", l.waitErr)
		}
		if t := l.stderr.String(); t != "" {
			msg += "\nstderr:\n" + t
		}
		return nil, errors.New(msg)
	}

	var r readyLine
	select {
	case r = <-readyCh:
	case err := <-readErr:
		return fail(err)
	case <-l.done:
		return fail(errors.New("node exited"))
	case <-ctx.Done():
		return fail(ctx.Err())
	}

	if err := l.adopt(r); err != nil {
		return fail(err)
	}
	return l, nil
}

func (l *Localnet) adopt(r readyLine) error {
	var err error
	l.RPC = r.RPC
	if l.Mint, err = solana.PublicKeyFromBase58(r.Mint); err != nil {
		return fmt.Errorf("ready line: mint: %w", err)
	}
	l.Decimals = r.Decimals
	if len(r.TreasurySecretKeyRaw) != 64 {
		return fmt.Errorf("ready line: treasury_secret_key has %d bytes, want 64", len(r.TreasurySecretKeyRaw))
	}
	key := make([]byte, 64)
	for i, v := range r.TreasurySecretKeyRaw {
		if v < 0 || v > 255 {
			return fmt.Errorf("ready line: treasury_secret_key[%d] = %d", i, v)
		}
		key[i] = byte(v)
	}
	l.Treasury = solana.PrivateKey(key)
	if l.Treasury.PublicKey().String() != r.Treasury {
		return fmt.Errorf("ready line: treasury secret key does not match pubkey %s", r.Treasury)
	}
	if l.TreasuryTokenAccount, err = solana.PublicKeyFromBase58(r.TreasuryTokenAccount); err != nil {
		return fmt.Errorf("ready line: treasury_token_account: %w", err)
	}
	if l.TreasuryAmount, err = strconv.ParseUint(r.TreasuryAmount, 10, 64); err != nil {
		return fmt.Errorf("ready line: treasury_amount: %w", err)
	}
	l.TreasuryKeypairPath = r.TreasuryKeypair
	return nil
}

// Done is closed when the server process has exited.
func (l *Localnet) Done() <-chan struct{} { return l.done }

// Close stops the server (SIGTERM to its process group, SIGKILL after 5 s)
// and waits for it. It reports an error if the server had already died on its own.
func (l *Localnet) Close() error {
	l.closeOnce.Do(func() {
		select {
		case <-l.done:
			if l.waitErr != nil {
				l.closeErr = fmt.Errorf("localnet: server exited before Close: %v\nstderr:\n%s", l.waitErr, l.stderr.String())
			}
			return
		default:
		}
		signalGroup(l.cmd, sigTerm)
		select {
		case <-l.done:
		case <-time.After(5 * time.Second):
			l.kill()
			<-l.done
		}
		_ = l.stdin.Close()
		l.client.CloseIdleConnections()
	})
	return l.closeErr
}

func (l *Localnet) kill() {
	signalGroup(l.cmd, sigKill)
}

// RPCError is a JSON-RPC error answered by the server.
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("localnet: rpc error %d: %s", e.Code, e.Message)
}

// Call sends one JSON-RPC request and decodes its result into result (which
// may be nil). params may be nil, a slice (positional) or a struct/map (named).
// An error answer comes back as *RPCError.
func (l *Localnet) Call(ctx context.Context, method string, params any, result any) error {
	req := struct {
		JSONRPC string `json:"jsonrpc"`
		ID      uint64 `json:"id"`
		Method  string `json:"method"`
		Params  any    `json:"params,omitempty"`
	}{"2.0", l.nextID.Add(1), method, params}
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("localnet: %s: encode params: %w", method, err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, l.RPC, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("localnet: %s: %w", method, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(hreq)
	if err != nil {
		return fmt.Errorf("localnet: %s: %w", method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("localnet: %s: read answer: %w", method, err)
	}
	var out struct {
		Result json.RawMessage `json:"result"`
		Error  *RPCError       `json:"error"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return fmt.Errorf("localnet: %s: HTTP %d, undecodable answer %q: %w", method, resp.StatusCode, tail(raw, 512), err)
	}
	if out.Error != nil {
		return out.Error
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(out.Result, result); err != nil {
		return fmt.Errorf("localnet: %s: decode result: %w", method, err)
	}
	return nil
}

// Slots is where the clock stands after AdvanceSlots.
type Slots struct {
	Slot                 uint64 `json:"slot"`
	BlockHeight          uint64 `json:"blockHeight"`
	Blockhash            string `json:"blockhash"`
	LastValidBlockHeight uint64 `json:"lastValidBlockHeight"`
}

// AdvanceSlots moves slot and block height forward by n (n ≥ 1) and issues a
// new blockhash. Blockhashes older than 150 blocks stop being accepted, so
// AdvanceSlots(ctx, 151) expires every blockhash handed out before it.
func (l *Localnet) AdvanceSlots(ctx context.Context, n uint64) error {
	_, err := l.Advance(ctx, n)
	return err
}

// Advance is AdvanceSlots that also reports the new clock.
func (l *Localnet) Advance(ctx context.Context, n uint64) (Slots, error) {
	var s Slots
	if n == 0 {
		return s, errors.New("localnet: AdvanceSlots: n must be at least 1")
	}
	err := l.Call(ctx, "localnet_advanceSlots", map[string]uint64{"n": n}, &s)
	return s, err
}

// Faults arms fault injection for the next sendTransaction calls. Each
// counter is consumed by one send, in the order fail, drop, timeout.
type Faults struct {
	// DropNextSends: answer with the signature as if accepted, but never execute.
	DropNextSends int `json:"dropNextSends"`
	// TimeoutNextSends: execute (preflight and all) but withhold the HTTP
	// answer, so the client times out not knowing the transaction landed.
	TimeoutNextSends int `json:"timeoutNextSends"`
	// FailNextSends: answer with an RPC error (-32005 "Node is unhealthy …")
	// and do not execute.
	FailNextSends int `json:"failNextSends"`
	// TimeoutDelay, if positive, answers withheld sends after this delay
	// instead of never.
	TimeoutDelay time.Duration `json:"-"`
}

// SetFaults replaces all fault counters (the zero Faults disarms them).
func (l *Localnet) SetFaults(ctx context.Context, f Faults) error {
	if f.DropNextSends < 0 || f.TimeoutNextSends < 0 || f.FailNextSends < 0 || f.TimeoutDelay < 0 {
		return errors.New("localnet: SetFaults: counters must not be negative")
	}
	params := map[string]any{
		"dropNextSends":    f.DropNextSends,
		"timeoutNextSends": f.TimeoutNextSends,
		"failNextSends":    f.FailNextSends,
		"timeoutDelayMs":   f.TimeoutDelay.Milliseconds(),
	}
	return l.Call(ctx, "localnet_faults", params, nil)
}

// SetPrioritizationFees sets what getRecentPrioritizationFees answers:
// fees (micro-lamports per compute unit) for the most recent len(fees)
// slots, oldest first. Without accounts they answer every query; with
// them, they raise the answer of queries naming one of those accounts.
// An empty fees clears the global list (or those accounts').
func (l *Localnet) SetPrioritizationFees(ctx context.Context, fees []uint64, accounts ...solana.PublicKey) error {
	fs := make([]string, len(fees))
	for i, f := range fees {
		fs[i] = strconv.FormatUint(f, 10)
	}
	params := map[string]any{"fees": fs}
	if len(accounts) > 0 {
		as := make([]string, len(accounts))
		for i, a := range accounts {
			as[i] = a.String()
		}
		params["accounts"] = as
	}
	return l.Call(ctx, "localnet_setPrioritizationFees", params, nil)
}

// CreateMint creates a mint with the given decimals through the real SPL
// Token program. The server holds its mint authority (see MintTo).
func (l *Localnet) CreateMint(ctx context.Context, decimals uint8) (solana.PublicKey, error) {
	var out struct {
		Mint string `json:"mint"`
	}
	if err := l.Call(ctx, "localnet_createMint", map[string]any{"decimals": decimals}, &out); err != nil {
		return solana.PublicKey{}, err
	}
	return solana.PublicKeyFromBase58(out.Mint)
}

// MintTo creates owner's associated token account for mint if needed and
// mints amount base units to it. mint must come from CreateMint (or be Mint).
func (l *Localnet) MintTo(ctx context.Context, mint, owner solana.PublicKey, amount uint64) (solana.PublicKey, error) {
	var out struct {
		TokenAccount string `json:"tokenAccount"`
	}
	params := map[string]any{"mint": mint.String(), "owner": owner.String(), "amount": strconv.FormatUint(amount, 10)}
	if err := l.Call(ctx, "localnet_mintTo", params, &out); err != nil {
		return solana.PublicKey{}, err
	}
	return solana.PublicKeyFromBase58(out.TokenAccount)
}

// Airdrop credits lamports to pubkey directly (no transaction).
func (l *Localnet) Airdrop(ctx context.Context, pubkey solana.PublicKey, lamports uint64) error {
	return l.Call(ctx, "localnet_airdrop", map[string]any{"pubkey": pubkey.String(), "lamports": strconv.FormatUint(lamports, 10)}, nil)
}

// TokenBalance returns the amount of mint held in owner's associated token
// account, 0 when that account does not exist.
func (l *Localnet) TokenBalance(ctx context.Context, owner, mint solana.PublicKey) (uint64, error) {
	var out struct {
		Amount string `json:"amount"`
	}
	if err := l.Call(ctx, "localnet_getTokenBalance", map[string]string{"owner": owner.String(), "mint": mint.String()}, &out); err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(out.Amount, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("localnet: localnet_getTokenBalance: amount %q: %w", out.Amount, err)
	}
	return n, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}
