package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mr-tron/base58"
)

func base58Encode(b []byte) string { return base58.Encode(b) }

func pubkeyText(key ed25519.PrivateKey) string {
	return base58.Encode(key.Public().(ed25519.PublicKey))
}

// Client calls a coordinator. Key signs worker requests; AdminToken is the
// bearer token of admin and artist routes. A Client is safe for concurrent
// use.
type Client struct {
	BaseURL    string // e.g. http://127.0.0.1:8080
	HTTP       *http.Client
	Key        ed25519.PrivateKey
	AdminToken string

	// offsetMS is the server clock minus ours, learned from a
	// stale_timestamp refusal, so a worker with a skewed clock recovers.
	offsetMS atomic.Int64
}

// NewClient returns a client for baseURL with a pooled transport.
func NewClient(baseURL string, key ed25519.PrivateKey, adminToken string) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Transport: tr, Timeout: 60 * time.Second}, Key: key, AdminToken: adminToken}
}

// Auth says how a request authenticates.
type Auth uint8

const (
	Signed Auth = 1 << iota // node key signature headers
	Bearer                  // Authorization: Bearer AdminToken
)

// Call sends method path with in as its JSON body (nil: none) and decodes a
// 2xx answer into out (nil: discard). A refusal is returned as *Error. A
// stale_timestamp or sign_again refusal adjusts the clock offset and is
// retried once.
func (c *Client) Call(ctx context.Context, method, path string, auth Auth, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	err := c.CallRaw(ctx, method, path, auth, body, out)
	var ae *Error
	if errors.As(err, &ae) && (ae.Code == CodeStale || ae.Code == CodeSignAgain) && ae.ServerTimeMS > 0 {
		c.offsetMS.Store(ae.ServerTimeMS - time.Now().UnixMilli())
		err = c.CallRaw(ctx, method, path, auth, body, out)
	}
	return err
}

// CallRaw is Call with the body given as bytes (sent as is).
func (c *Client) CallRaw(ctx context.Context, method, path string, auth Auth, body []byte, out any) error {
	req, err := c.NewRequest(ctx, method, path, auth, body)
	if err != nil {
		return err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{}
		if json.Unmarshal(b, e) != nil || e.Message == "" {
			e.Code, e.Message = CodeInternal, strings.TrimSpace(string(b))
		}
		e.Status = resp.StatusCode
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: answer is not the expected JSON: %v", method, path, err)
	}
	return nil
}

// NewRequest builds a request with its authentication headers.
func (c *Client) NewRequest(ctx context.Context, method, path string, auth Auth, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth&Bearer != 0 {
		req.Header.Set("Authorization", "Bearer "+c.AdminToken)
	}
	if auth&Signed != 0 {
		if c.Key == nil {
			return nil, errors.New("api: a signed request needs a node key")
		}
		ts := time.Now().UnixMilli() + c.offsetMS.Load()
		for k, v := range SignRequest(c.Key, method, req.URL.RequestURI(), body, ts, NewNonce()) {
			req.Header.Set(k, v)
		}
	}
	return req, nil
}

// Me returns the node's registration (signed).
func (c *Client) Me(ctx context.Context) (*NodeInfo, error) {
	var out NodeInfo
	return &out, c.Call(ctx, http.MethodGet, PathMe, Signed, nil, &out)
}

// Lease leases up to max frames (signed).
func (c *Client) Lease(ctx context.Context, req LeaseRequest) (*LeaseResponse, error) {
	var out LeaseResponse
	return &out, c.Call(ctx, http.MethodPost, PathLease, Signed, req, &out)
}

// Report reports results (signed).
func (c *Client) Report(ctx context.Context, results ...Result) (*ResultsResponse, error) {
	var out ResultsResponse
	return &out, c.Call(ctx, http.MethodPost, PathResults, Signed, ResultsRequest{Results: results}, &out)
}

// Compute reports compute-client work (signed).
func (c *Client) Compute(ctx context.Context, req ComputeRequest) (*EventResponse, error) {
	var out EventResponse
	return &out, c.Call(ctx, http.MethodPost, PathCompute, Signed, req, &out)
}

// RegisterNode registers the client's key as a node (bearer and signed).
func (c *Client) RegisterNode(ctx context.Context, req RegisterNodeRequest) (*EventResponse, error) {
	var out EventResponse
	return &out, c.Call(ctx, http.MethodPost, PathNodes, Bearer|Signed, req, &out)
}

// SetWallet sets an operator's wallet (bearer).
func (c *Client) SetWallet(ctx context.Context, operatorID string, req WalletRequest) (*EventResponse, error) {
	var out EventResponse
	return &out, c.Call(ctx, http.MethodPost, WalletPath(operatorID), Bearer, req, &out)
}

// SubmitJob submits a job (bearer).
func (c *Client) SubmitJob(ctx context.Context, req SubmitJobRequest) (*EventResponse, error) {
	var out EventResponse
	return &out, c.Call(ctx, http.MethodPost, PathJobs, Bearer, req, &out)
}

// CloseEpoch closes the open epoch (bearer).
func (c *Client) CloseEpoch(ctx context.Context, req CloseEpochRequest) (*EventResponse, error) {
	var out EventResponse
	return &out, c.Call(ctx, http.MethodPost, PathEpochClose, Bearer, req, &out)
}

// Status returns the coordinator's status (bearer).
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var out Status
	return &out, c.Call(ctx, http.MethodGet, PathStatus, Bearer, nil, &out)
}

// Position returns the X-Log-Position of a response (0 when absent).
func Position(h http.Header) uint64 {
	p, _ := strconv.ParseUint(h.Get(HeaderLogPosition), 10, 64)
	return p
}
