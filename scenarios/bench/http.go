package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// HTTPLoadResult is what HTTPLoad measured.
type HTTPLoadResult struct {
	Requests    int           // completed with 200 or 304
	Errors      int           // transport errors and other statuses
	Duration    time.Duration // wall time of the run
	ReqPerSec   float64       // Requests / Duration
	P50, P99    time.Duration // latency of the completed requests
	Max         time.Duration
	Concurrency int
}

func (r HTTPLoadResult) String() string {
	return fmt.Sprintf("%d clients: %.0f req/s, p50 %v, p99 %v, max %v (%d requests, %d errors in %v)",
		r.Concurrency, r.ReqPerSec, r.P50, r.P99, r.Max, r.Requests, r.Errors, r.Duration.Round(time.Millisecond))
}

// HTTPLoad runs concurrency clients over keep-alive connections, each
// GETting paths (relative to baseURL) round robin for d, and reports
// throughput and latency; a 200 or 304 counts as completed. It is the load
// generator of the read API's loopback benchmark (TestLoadLoopback): the
// server's rate limit must be off for the figures to mean anything
// (readapi.Options.RateLimit = 0).
func HTTPLoad(ctx context.Context, baseURL string, paths []string, concurrency int, d time.Duration) (HTTPLoadResult, error) {
	if concurrency < 1 || len(paths) == 0 || d <= 0 {
		return HTTPLoadResult{}, errors.New("bench: HTTPLoad needs paths, concurrency ≥ 1 and a duration")
	}
	tr := &http.Transport{MaxIdleConns: concurrency, MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()

	type worker struct {
		lat    []time.Duration
		errors int
	}
	ws := make([]worker, concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range ws {
		wg.Add(1)
		go func(w *worker, k int) {
			defer wg.Done()
			w.lat = make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+paths[k%len(paths)], nil)
				if err != nil {
					w.errors++
					return
				}
				k++
				t0 := time.Now()
				res, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						w.errors++
					}
					continue
				}
				_, err = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				lat := time.Since(t0)
				if err != nil || (res.StatusCode != http.StatusOK && res.StatusCode != http.StatusNotModified) {
					if ctx.Err() == nil {
						w.errors++
					}
					continue
				}
				w.lat = append(w.lat, lat)
			}
		}(&ws[i], i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	res := HTTPLoadResult{Duration: elapsed, Concurrency: concurrency}
	for _, w := range ws {
		all = append(all, w.lat...)
		res.Errors += w.errors
	}
	res.Requests = len(all)
	if res.Requests == 0 {
		return res, fmt.Errorf("bench: HTTP load completed no request (%d errors)", res.Errors)
	}
	slices.Sort(all)
	q := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
	res.P50, res.P99, res.Max = q(0.50), q(0.99), all[len(all)-1]
	res.ReqPerSec = float64(res.Requests) / elapsed.Seconds()
	return res, nil
}
