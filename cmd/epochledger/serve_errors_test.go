package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/epochledger/epochledger/workers/api"
)

// Issue 19: everything serve answers with an error is one body, api.Error,
// whoever answers: the read API's routes and the coordinator's (and the
// mux's 404). Each decodes into api.Error with nothing left over, with its
// HTTP status, a code and a message, and the same headers.
func TestServeOneErrorBody(t *testing.T) {
	url := startServe(t)
	for _, c := range []struct {
		who, method, path, token string
		status                   int
		code                     string
	}{
		{"read API", "GET", "/v1/epochs?limit=0", "", 400, api.CodeBadRequest},
		{"read API", "GET", "/v1/operators/nobody", "", 404, api.CodeNotFound},
		{"read API", "GET", "/v1/operators/nobody/payouts.csv?from_epoch=x", "", 400, api.CodeBadRequest},
		{"coordinator", "POST", api.PathJobs, "", 401, api.CodeMissingAuth},
		{"coordinator", "POST", api.PathEpochClose, "not-the-admin-token", 401, api.CodeBadToken},
		{"coordinator", "GET", api.PathStatus, "", 401, api.CodeMissingAuth},
		{"mux", "GET", "/no/such/route", "", 404, api.CodeNotFound},
	} {
		req, _ := http.NewRequest(c.method, url+c.path, strings.NewReader("{}"))
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e api.Error
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Errorf("%s %s %s: not an api.Error (%v): %s", c.who, c.method, c.path, err, b)
			continue
		}
		if resp.StatusCode != c.status || e.Status != c.status || e.Code != c.code || e.Message == "" {
			t.Errorf("%s %s %s: %d %s, want %d with code %q", c.who, c.method, c.path, resp.StatusCode, b, c.status, c.code)
		}
		h := resp.Header
		if h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get(api.HeaderLogPosition) == "" || h.Get(api.HeaderRequestID) == "" || h.Get("ETag") != "" {
			t.Errorf("%s %s %s: headers %v", c.who, c.method, c.path, h)
		}
	}
}
