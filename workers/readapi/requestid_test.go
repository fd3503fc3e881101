package readapi

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
)

// A 5xx body names the request id serve's middleware set (the cause is in
// the log under it); a 4xx body, which says what was wrong, does not need
// it.
func TestErrorNamesRequestID(t *testing.T) {
	for _, c := range []struct {
		status int
		want   string
	}{{500, "internal error (request id abc123)"}, {503, "internal error (request id abc123)"}, {404, "internal error"}} {
		w := httptest.NewRecorder()
		w.Header().Set(HeaderRequestID, "abc123")
		WriteError(w, c.status, "internal error")
		var body errorBody
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error != c.want || body.Status != c.status {
			t.Errorf("%d: %s", c.status, w.Body.Bytes())
		}
	}
}
