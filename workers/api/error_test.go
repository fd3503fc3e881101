package api

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
)

// A 5xx body names the request id serve's middleware set (the cause is in
// the log under it); a 4xx body, which says what was wrong, does not need
// it. The body is the Error, with its status and code, never cached.
func TestWriteErrorNamesRequestID(t *testing.T) {
	for _, c := range []struct {
		status int
		code   string
		want   string
	}{{500, CodeInternal, "internal error (request id abc123)"}, {503, CodeUnavailable, "internal error (request id abc123)"}, {404, CodeNotFound, "internal error"}} {
		w := httptest.NewRecorder()
		w.Header().Set(HeaderRequestID, "abc123")
		w.Header().Set("ETag", `"stale"`)
		in := &Error{Status: c.status, Code: c.code, Message: "internal error"}
		WriteError(w, in)
		var body Error
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Message != c.want || body.Status != c.status || body.Code != c.code || w.Code != c.status {
			t.Errorf("%d: %d %s", c.status, w.Code, w.Body.Bytes())
		}
		if in.Message != "internal error" {
			t.Errorf("WriteError changed its argument: %q", in.Message)
		}
		if h := w.Header(); h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != "no-store" || h.Get("ETag") != "" {
			t.Errorf("%d: headers %v", c.status, h)
		}
	}
	w := httptest.NewRecorder()
	WriteError(w, &Error{Code: CodeInternal, Message: "no status"})
	if w.Code != 500 {
		t.Errorf("an Error without a status answers %d, want 500", w.Code)
	}
}
