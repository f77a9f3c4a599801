package apps

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-dev/berth/internal/page"
)

// A visitor's request counts against its app's server for as long as it is
// in flight: the server is neither reaped nor evicted meanwhile. So that a
// visitor cannot hold a server (and berth's memory) forever, every request
// ends once its visitor stops taking response bytes, or stops sending
// request bytes, for StallTimeout; and at most MaxInflight requests per
// deployment are in flight (or waiting for its server to start) at once.

// enter counts a request in to deploymentID, or reports false when
// MaxInflight are already in flight; leave counts it out.
func (s *Manager) enter(deploymentID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy[deploymentID] >= s.cfg.MaxInflight {
		return false
	}
	s.busy[deploymentID]++
	return true
}

func (s *Manager) leave(deploymentID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy[deploymentID]--; s.busy[deploymentID] <= 0 {
		delete(s.busy, deploymentID)
	}
}

// writeBusy answers 503 with a page and a Retry-After.
func writeBusy(w http.ResponseWriter, r *http.Request, retryAfter time.Duration, title, text string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter.Seconds())))
	page.Write(w, r, http.StatusServiceUnavailable, title, text)
}

// bounded wraps w and r.Body so that each write to the visitor, and each
// read of its request body, fails once it has waited for timeout. A
// streamed response that keeps moving is never cut. done clears the write
// deadline, which the connection otherwise keeps for its next request.
func bounded(w http.ResponseWriter, r *http.Request, timeout time.Duration) (http.ResponseWriter, *http.Request, func()) {
	rc := http.NewResponseController(w)
	if r.Body != nil && r.Body != http.NoBody {
		r2 := *r
		r2.Body = &stallBody{ReadCloser: r.Body, rc: rc, timeout: timeout}
		r = &r2
	}
	return &stallWriter{ResponseWriter: w, rc: rc, timeout: timeout}, r, func() { rc.SetWriteDeadline(time.Time{}) }
}

// stallWriter moves the write deadline forward before every write.
// Unwrap lets http.ResponseController (which the reverse proxy uses to
// flush and to hijack upgrades) reach the server's writer; a hijack clears
// the deadlines.
type stallWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (w *stallWriter) extend() { w.rc.SetWriteDeadline(time.Now().Add(w.timeout)) }

func (w *stallWriter) WriteHeader(code int) {
	w.extend()
	w.ResponseWriter.WriteHeader(code)
}

func (w *stallWriter) Write(p []byte) (int, error) {
	w.extend()
	return w.ResponseWriter.Write(p)
}

func (w *stallWriter) FlushError() error {
	w.extend()
	return w.rc.Flush()
}

func (w *stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// stallBody moves the read deadline forward before every read of the
// request body, until the body ends: then the server reads the connection
// itself (to notice a visitor leaving) and a deadline would cut that short.
type stallBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	ended   bool
}

func (b *stallBody) Read(p []byte) (int, error) {
	if b.ended {
		return b.ReadCloser.Read(p)
	}
	b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.ended = true
	}
	return n, err
}
