package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mr-tron/base58"

	"github.com/epochledger/epochledger/scenarios/simlog"
)

// lockedBuffer is a bytes.Buffer safe for a command writing it while the
// test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serveOnce starts serve with args until it listens, then stops it.
func serveOnce(t *testing.T, data string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb lockedBuffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--json", "--epoch-clock=false"}, args...), e)
	}()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), `"url"`) {
		select {
		case code := <-done:
			cancel()
			t.Fatalf("serve exited %d: %s", code, errb.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not start: %s", errb.String())
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, errb.String())
	}
}

// TestServeRecordsComputeClients: serve --compute-client registers the
// client with the configured caps in the log, once; new caps are recorded
// as a new registration (what an auditor reads them from).
func TestServeRecordsComputeClients(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	key := base58.Encode(simlog.ClientKey("io.net").Public().(ed25519.PublicKey))
	registrations := func() []string {
		_, out, _ := cli(t, "", "export", "--data", data)
		var regs []string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, `"type":"ComputeClientRegistered"`) {
				regs = append(regs, l)
			}
		}
		return regs
	}
	serveOnce(t, data, "--compute-client", "io.net="+key)
	serveOnce(t, data, "--compute-client", "io.net="+key)
	regs := registrations()
	if len(regs) != 1 || !strings.Contains(regs[0], `"client_id":"io.net","client_pubkey":"`+key+`","max_usd_per_task":"100","max_usd_per_node_epoch":"1000"`) {
		t.Fatalf("registrations: %v", regs)
	}
	serveOnce(t, data, "--compute-client", "io.net="+key, "--compute-max-usd-per-task", "5")
	if regs = registrations(); len(regs) != 2 || !strings.Contains(regs[1], `"max_usd_per_task":"5"`) {
		t.Fatalf("registrations after new caps: %v", regs)
	}
}

func TestServeComputeAndSupplyFlags(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--supply-cap", "0"}, "--supply-cap"},
		{[]string{"--supply-cap", "10", "--emission", "11"}, "over --supply-cap"},
		{[]string{"--compute-client", "io.net"}, "want ID=PUBKEY"},
		{[]string{"--compute-client", "io.net=" + strings.Repeat("1", 32)}, "small order"},
		{[]string{"--compute-client", "io.net=" + base58.Encode(simlog.ClientKey("c").Public().(ed25519.PublicKey)), "--compute-max-usd-per-task", "2000"}, "must be at most max_usd_per_node_epoch"},
	} {
		code, _, errs := cli(t, "", append([]string{"serve", "--data", data}, c.args...)...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Fatalf("%v: exit %d %s", c.args, code, errs)
		}
	}
}
