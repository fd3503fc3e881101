package coordinator

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/epochledger/epochledger/workers/api"
)

// The HTTP hardening of serve lives here, as middleware and server
// configuration rather than in the handlers, so that every route mounted
// on serve's mux (the coordinator's, the read API's, one added later) gets
// it without doing anything:
//
//   - Guard gives every request an id (X-Request-Id, also named in 5xx
//     bodies and in the log) and turns the mux's own 404 and 405 answers
//     (text/plain in net/http) into the JSON error body of package api.
//   - HTTPServer sets the deadlines: the request line and headers
//     (HeaderTimeout), the whole request with its body (BodyTimeout, so a
//     body sent a byte a second is cut), the answer (WriteTimeout) and an
//     idle keep-alive connection (IdleTimeout).
//   - LimitListener caps the open connections below the process's file
//     descriptor limit, so that a flood of connections cannot take the
//     descriptors the event store needs to create its next segment.
//
// Handlers authenticate before they read a body where the route allows it
// (signature headers, the bearer token), and answer such refusals with
// Connection: close, so an unauthenticated client cannot hold a
// connection open with a slow body for longer than it takes to send the
// headers.

// HeaderRequestID is the response header that names a request's id.
const HeaderRequestID = api.HeaderRequestID

// HTTPOptions are the deadlines and the connection cap of serve's HTTP
// server. Start from DefaultHTTPOptions.
type HTTPOptions struct {
	HeaderTimeout time.Duration // request line and headers
	BodyTimeout   time.Duration // the whole request, body included
	WriteTimeout  time.Duration // from the end of the headers to the end of the answer
	IdleTimeout   time.Duration // an idle keep-alive connection
	MaxConns      int           // open connections; 0: no cap
}

// DefaultHTTPOptions are serve's defaults: a body of 1 MiB (the cap) takes
// well under BodyTimeout on any link a worker uses, and WriteTimeout
// leaves an append round many seconds.
func DefaultHTTPOptions() HTTPOptions {
	return HTTPOptions{HeaderTimeout: 10 * time.Second, BodyTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxConns: 4096}
}

// HTTPServer returns an http.Server for h with o's deadlines.
func HTTPServer(h http.Handler, o HTTPOptions) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: o.HeaderTimeout,
		ReadTimeout:       max(o.BodyTimeout, o.HeaderTimeout),
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
}

// Guard wraps serve's mux: request ids, and JSON for the mux's own 404 and
// 405 answers.
func Guard(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderRequestID, newRequestID())
		if _, pattern := mux.Handler(r); pattern == "" {
			// No route matched the path, or none matched the method:
			// the mux would answer in text/plain. Let it decide which
			// (and set Allow for a 405), then write the JSON body.
			mux.ServeHTTP(&muxErrorWriter{ResponseWriter: w, r: r}, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// muxErrorWriter replaces the body of the mux's error answers (404, 405;
// a redirect passes through) with the api.Error JSON.
type muxErrorWriter struct {
	http.ResponseWriter
	r       *http.Request
	swallow bool
}

func (m *muxErrorWriter) WriteHeader(code int) {
	if code < 400 {
		m.ResponseWriter.WriteHeader(code)
		return
	}
	m.swallow = true
	e := &api.Error{Status: code, Code: api.CodeNotFound, Message: "no route " + m.r.URL.Path + "; see the API in docs/api.md"}
	if code == http.StatusMethodNotAllowed {
		e.Code = api.CodeMethod
		e.Message = "method " + m.r.Method + " is not allowed on " + m.r.URL.Path + "; allowed: " + m.Header().Get("Allow")
	}
	h := m.Header()
	h.Del("Content-Length") // the mux's, of its text body
	if h.Get(api.HeaderLogPosition) == "" {
		h.Set(api.HeaderLogPosition, "0")
	}
	api.WriteError(m.ResponseWriter, e)
}

func (m *muxErrorWriter) Write(b []byte) (int, error) {
	if m.swallow {
		return len(b), nil
	}
	return m.ResponseWriter.Write(b)
}

// LimitListener returns a listener that holds at most n connections open:
// Accept waits while n are open, so excess connections wait in the
// kernel's backlog instead of taking file descriptors; each closed
// connection (a deadline cut it, or its client closed it) lets one more in.
func LimitListener(ln net.Listener, n int) net.Listener {
	if n <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
