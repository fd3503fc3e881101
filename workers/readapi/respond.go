package readapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// HeaderLogPosition is the response header that names the log position a
// response reflects.
const HeaderLogPosition = "X-Log-Position"

// Error is a request refusal: an HTTP status and a message for the client.
// Messages name the parameter and the rule; they never carry internal
// error text.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

func errorf(status int, format string, a ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, a...)}
}

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

// HeaderRequestID names a request's id, set by serve's middleware
// (coordinator.Guard) on every answer; a 5xx body names it, so that the
// log line with the cause can be found.
const HeaderRequestID = "X-Request-Id"

// WriteError writes a JSON error response {"error": msg, "status": status}.
// The coordinator's routes use it so that every error of `serve` looks the
// same.
func WriteError(w http.ResponseWriter, status int, msg string) {
	if id := w.Header().Get(HeaderRequestID); status >= 500 && id != "" {
		msg += " (request id " + id + ")"
	}
	b, _ := json.Marshal(errorBody{Error: msg, Status: status})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("ETag")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// WriteJSON writes v as a JSON response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, "internal error")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// respondDoc writes a read document with its log position and a strong
// ETag over the body, answering 304 when the client already has it.
func respondDoc(w http.ResponseWriter, r *http.Request, pos uint64, body []byte) {
	respondBody(w, r, pos, "application/json", body)
}

// respondBody is respondDoc for a body of any content type.
func respondBody(w http.ResponseWriter, r *http.Request, pos uint64, contentType string, body []byte) {
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	h := w.Header()
	h.Set(HeaderLogPosition, strconv.FormatUint(pos, 10))
	h.Set("ETag", etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// etagMatch implements the weak comparison If-None-Match asks for (RFC
// 9110 §13.1.2): a list of tags or "*"; W/ prefixes are ignored.
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
