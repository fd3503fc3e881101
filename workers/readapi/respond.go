package readapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/epochledger/epochledger/workers/api"
)

// errorf builds a refusal of the read API: serve's one error body
// (api.Error), with the code of its status. Messages name the parameter
// and the rule; they never carry internal error text.
func errorf(status int, format string, a ...any) *api.Error {
	return &api.Error{Status: status, Code: codeOf(status), Message: fmt.Sprintf(format, a...)}
}

// codeOf is the code of each status the read API answers with.
func codeOf(status int) string {
	switch status {
	case http.StatusBadRequest:
		return api.CodeBadRequest
	case http.StatusNotFound:
		return api.CodeNotFound
	case http.StatusMethodNotAllowed:
		return api.CodeMethod
	case http.StatusRequestEntityTooLarge:
		return api.CodeTooLarge
	case http.StatusTooManyRequests:
		return api.CodeRateLimited
	case http.StatusNotImplemented:
		return api.CodeNotImplemented
	case http.StatusServiceUnavailable:
		return api.CodeUnavailable
	}
	return api.CodeInternal
}

// writeError answers a refusal with api.WriteError.
func writeError(w http.ResponseWriter, status int, msg string) {
	api.WriteError(w, errorf(status, "%s", msg))
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal error")
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
	h.Set(api.HeaderLogPosition, strconv.FormatUint(pos, 10))
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
