package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/workers/api"
	"github.com/epochledger/epochledger/workers/nodekey"
	"github.com/epochledger/epochledger/workers/render"
)

const serveToken = "serve-test-admin-token"

// startServe runs `epochledger serve` in-process on a free loopback port
// and returns its URL; the server stops at the end of the test.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	_, url := startServeStoppable(t, args...)
	return url
}

// startServeStoppable starts serve in-process (later args override the
// defaults, --data included) and returns a stop that waits for it to exit
// (also run at cleanup; a second call does nothing) and its URL.
func startServeStoppable(t *testing.T, args ...string) (stop func(), url string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	e := &env{stdin: strings.NewReader(""), stdout: pw, stderr: io.Discard, getenv: func(k string) string {
		if k == "EPOCHLEDGER_ADMIN_TOKEN" {
			return serveToken
		}
		return ""
	}}
	data := filepath.Join(t.TempDir(), "data")
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--json", "--epoch-clock=false", "--verify-rate", "0"}, args...), e)
		pw.Close()
	}()
	var hello struct {
		URL string `json:"url"`
	}
	if err := json.NewDecoder(pr).Decode(&hello); err != nil || hello.URL == "" {
		cancel()
		t.Fatalf("serve did not start: %v (exit %d)", err, <-done)
	}
	go io.Copy(io.Discard, pr)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("serve exited %d", code)
			}
		})
	}
	t.Cleanup(stop)
	return stop, hello.URL
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// serveWork registers a node, submits a job and renders, reports and
// gets accepted n frames through serve, as a worker does.
func serveWork(ctx context.Context, url, prefix string, frames int) error {
	key, _ := nodekey.Generate()
	c := api.NewClient(url, key, serveToken)
	node := prefix + "-n"
	if _, err := c.RegisterNode(ctx, api.RegisterNodeRequest{NodeID: node, OperatorID: prefix + "-op", GPU: "RTX 4090", OBScore: "500"}); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	job := prefix + "-j"
	scene := render.OutputHash([]byte(job))
	if _, err := c.SubmitJob(ctx, api.SubmitJobRequest{JobID: job, Artist: "studio", SceneHash: scene, Frames: uint32(frames), USDPerOBh: "1"}); err != nil {
		return fmt.Errorf("job: %w", err)
	}
	for done := 0; done < frames; {
		r, err := c.Lease(ctx, api.LeaseRequest{Max: 1})
		if err != nil {
			return fmt.Errorf("lease: %w", err)
		}
		for _, l := range r.Leases {
			hash := render.OutputHash([]byte(fmt.Sprintf("%s/%d", l.JobID, l.Frame)))
			sig := domain.SignProof(key, domain.ProofMessage(l.JobID, l.Frame, node, hash, 1))
			res, err := c.Report(ctx, api.Result{JobID: l.JobID, Frame: l.Frame, OutputHash: hash, DurationMS: 1, Telemetry: json.RawMessage(`{}`), Signature: sig})
			if err != nil {
				return fmt.Errorf("report: %w", err)
			}
			if res.Results[0].Status != api.StatusAccepted {
				return fmt.Errorf("report: %+v", res.Results[0])
			}
			done++
		}
	}
	return nil
}

// Issue 19: the read API mounts GET /metrics first, and the coordinator's
// metrics never reached a scrape of serve. They do now, beside the read
// API's and the store's, and they move with the work.
func TestServeMetricsHaveCoordinator(t *testing.T) {
	url := startServe(t)
	if err := serveWork(context.Background(), url, "m", 2); err != nil {
		t.Fatal(err)
	}
	// A labelled family has series (and so appears) once the read API
	// has served a request.
	if code, _, _ := get(t, url+"/v1/epochs"); code != 200 {
		t.Fatalf("/v1/epochs: %d", code)
	}
	code, hdr, text := get(t, url+"/metrics")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", code, hdr.Get("Content-Type"))
	}
	for _, want := range []string{
		"# TYPE epochledger_coordinator_auth_failures_total counter",
		"# TYPE epochledger_coordinator_results_total counter",
		`epochledger_coordinator_results_total{outcome="accepted"} 2`,
		"# TYPE epochledger_coordinator_verifications_total counter",
		"# TYPE epochledger_coordinator_verify_queue gauge",
		"# TYPE epochledger_coordinator_append_seconds histogram",
		"# TYPE epochledger_coordinator_frames_leased_total counter",
		"# TYPE epochledger_http_requests_total counter",
		"# TYPE epochledger_store_fsyncs_total counter",
		"# TYPE epochledger_log_position gauge",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("serve's /metrics lacks %q", want)
		}
	}
	// Each family once: the exposition format allows no repeats.
	seen := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, _, _ = strings.Cut(name, " ")
			if seen[name] {
				t.Errorf("family %s written twice", name)
			}
			seen[name] = true
		}
	}
	if t.Failed() {
		t.Log(text)
	}
}

// Issue 19: one registry per serve run holds the coordinator's, the
// store's and the read API's collectors; one scrape shows every family
// once with its type, and frames leased are counted under one name. A
// second serve in the same process starts from a registry of its own.
func TestServeMetricsOneRegistry(t *testing.T) {
	want := map[string]string{
		// coordinator
		"epochledger_coordinator_results_total":         "counter",
		"epochledger_coordinator_auth_failures_total":   "counter",
		"epochledger_coordinator_verifications_total":   "counter",
		"epochledger_coordinator_frames_leased_total":   "counter",
		"epochledger_coordinator_append_rounds_total":   "counter",
		"epochledger_coordinator_appended_events_total": "counter",
		"epochledger_coordinator_verify_queue":          "gauge",
		"epochledger_coordinator_append_seconds":        "histogram",
		"epochledger_coordinator_reports_over_bound":    "gauge",
		"epochledger_ledger_position":                   "gauge",
		"epochledger_ledger_open_epoch":                 "gauge",
		// the coordinator's appends and verdicts, observed by the read API's
		"epochledger_store_append_seconds":              "histogram",
		"epochledger_store_append_errors_total":         "counter",
		"epochledger_coordinator_frames_accepted_total": "counter",
		"epochledger_coordinator_frames_rejected_total": "counter",
		// embedded store
		"epochledger_store_fsyncs_total":        "counter",
		"epochledger_store_written_bytes_total": "counter",
		"epochledger_store_fsync_seconds_total": "counter",
		// read API
		"epochledger_http_requests_total":         "counter",
		"epochledger_http_request_seconds":        "histogram",
		"epochledger_http_rate_limited_total":     "counter",
		"epochledger_log_position":                "gauge",
		"epochledger_log_head":                    "gauge",
		"epochledger_projection_lag_events":       "gauge",
		"epochledger_projection_ready":            "gauge",
		"epochledger_ledger_closed_epochs":        "gauge",
		"epochledger_settlement_epoch":            "gauge",
		"epochledger_settlement_state":            "gauge",
		"epochledger_settlement_unsettled_epochs": "gauge",
	}
	for run := range 2 {
		url := startServe(t)
		if err := serveWork(context.Background(), url, "m", 2); err != nil {
			t.Fatal(err)
		}
		if code, _, _ := get(t, url+"/v1/epochs"); code != 200 {
			t.Fatalf("/v1/epochs: %d", code)
		}
		code, _, text := get(t, url+"/metrics")
		if code != 200 {
			t.Fatalf("run %d: /metrics: %d\n%s", run, code, text)
		}
		types := map[string]string{}
		values := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
			if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
				name, typ, _ := strings.Cut(rest, " ")
				if _, dup := types[name]; dup {
					t.Errorf("run %d: family %s written twice", run, name)
				}
				types[name] = typ
			} else if !strings.HasPrefix(line, "#") {
				series, v, _ := strings.Cut(line, " ")
				values[series] = v
			}
		}
		for name, typ := range want {
			if types[name] != typ {
				t.Errorf("run %d: %s has type %q, want %s", run, name, types[name], typ)
			}
		}
		for name := range types {
			if _, ok := want[name]; !ok {
				t.Errorf("run %d: family %s not known to this test (add it here and to docs/api.md)", run, name)
			}
		}
		// Each run counts its own work only: 2 frames leased, 2 accepted.
		for series, v := range map[string]string{
			"epochledger_coordinator_frames_leased_total":                         "2",
			"epochledger_coordinator_frames_accepted_total":                       "2",
			`epochledger_coordinator_results_total{outcome="accepted"}`:           "2",
			`epochledger_coordinator_auth_failures_total{reason="bad_signature"}`: "0",
		} {
			if values[series] != v {
				t.Errorf("run %d: %s = %q, want %s", run, series, values[series], v)
			}
		}
		if t.Failed() {
			t.Fatal(text)
		}
	}
}

// serve's unknown routes and methods answer the JSON error body.
func TestServeMuxErrorsAreJSON(t *testing.T) {
	url := startServe(t)
	for _, c := range []struct {
		method, path string
		status       int
	}{{"GET", "/no/such/route", 404}, {"PUT", api.PathLease, 405}, {"DELETE", "/v1/epochs", 405}} {
		req, _ := http.NewRequest(c.method, url+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e api.Error
		if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &e) != nil || e.Status != c.status || e.Message == "" {
			t.Errorf("%s %s: %d %q %s", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	}
}

// raiseNoFile lifts the soft descriptor limit to the hard one and returns
// the soft limit.
func raiseNoFile(t *testing.T) uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	if rl.Cur < rl.Max {
		old := rl.Cur
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			rl.Cur = old
		} else {
			t.Cleanup(func() {
				rl.Cur = old
				_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
			})
		}
	}
	return rl.Cur
}

// Issue 18.5: thousands of connections sending a body a byte at a time (an
// insider with the admin token, so authentication cannot refuse them
// before the body) and thousands more that never finish their headers. The
// coordinator cuts them at its deadlines, never holds more connections
// than its cap, and serves and appends normal workers' requests meanwhile
// and after, without a restart. EPOCHLEDGER_SLOW_CONNS overrides the
// count (default 5,000, lowered to what the descriptor limit allows).
func TestServeSlowBodies(t *testing.T) {
	n := 5000
	if v := os.Getenv("EPOCHLEDGER_SLOW_CONNS"); v != "" {
		fmt.Sscan(v, &n)
	}
	limit := raiseNoFile(t)
	// Client and server ends are both in this process: two descriptors a
	// connection, and a margin for the store and the test.
	if room := int(limit/2) - 1000; room < n {
		n = max(room, 100)
		t.Logf("descriptor limit %d: %d slow connections", limit, n)
	}
	url := startServe(t, "--body-timeout", "2s", "--header-timeout", "1s", "--max-conns", "1024")
	host := strings.TrimPrefix(url, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	stop := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 30 * time.Second}
			c, err := d.DialContext(ctx, "tcp", host)
			if err != nil {
				return // the backlog was full: the kernel refused it
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if i%2 == 0 {
				fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", api.PathJobs, serveToken)
			} else {
				fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\n", api.PathJobs) // headers never finished
			}
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				case <-tick.C:
					if _, err := c.Write([]byte(" ")); err != nil {
						return // cut by the server
					}
				}
			}
		}()
	}
	// Normal workers while the slow connections are held.
	for w := range 3 {
		if err := serveWork(ctx, url, fmt.Sprintf("w%d", w), 3); err != nil {
			t.Fatalf("worker %d during the slow-body flood: %v", w, err)
		}
	}
	code, _, body := get(t, url+"/readyz")
	if code != 200 {
		t.Fatalf("/readyz during the flood: %d %s", code, body)
	}
	// Every slow connection is cut by the server at its deadlines: reads
	// end (the answer, if any, then EOF or a reset) well before this
	// generous bound, and none was answered 2xx.
	deadline := time.Now().Add(45 * time.Second)
	held, ok2xx := 0, 0
	mu.Lock()
	opened := len(conns)
	for _, c := range conns {
		c.SetReadDeadline(deadline)
		b, err := io.ReadAll(c)
		if ne, isNet := err.(net.Error); isNet && ne.Timeout() {
			held++
		}
		if strings.HasPrefix(string(b), "HTTP/1.1 2") {
			ok2xx++
		}
	}
	mu.Unlock()
	close(stop)
	wg.Wait()
	for _, c := range conns {
		c.Close()
	}
	t.Logf("%d slow connections opened; %d still held by the server, %d answered 2xx", opened, held, ok2xx)
	if held != 0 || ok2xx != 0 {
		t.Fatalf("%d slow connections held past the deadlines, %d slow requests answered 2xx", held, ok2xx)
	}
	// And afterwards: serving and appending, no restart.
	if err := serveWork(ctx, url, "after", 3); err != nil {
		t.Fatalf("worker after the flood: %v", err)
	}
	var st api.Status
	if err := api.NewClient(url, nil, serveToken).Call(ctx, "GET", api.PathStatus, api.Bearer, nil, &st); err != nil || st.Failed != "" {
		t.Fatalf("status after the flood: %v %+v", err, st.Failed)
	}
	jobs := 0
	for _, j := range st.Jobs {
		if j.Accepted == 3 {
			jobs++
		}
	}
	if jobs != 4 {
		t.Fatalf("%d of 4 jobs fully accepted: %+v", jobs, st.Jobs)
	}
}
