package gatewayconsole

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
)

// guard runs before ForwardAuth.
type guard struct {
	next         http.Handler
	maxBody      int64
	token        string
	reportsUsage bool
}

func (g *guard) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	if req.ContentLength > g.maxBody {
		g.tooLarge(rw)
		return
	}
	if req.ContentLength < 0 && req.Body != nil && req.Body != http.NoBody {
		// A body of unknown length (chunked): read it here, within the limit, so that it is
		// bounded too; ForwardAuth then sends exactly these bytes to the console. (A declared
		// length is held to by Go's server: checked above, nothing to read.)
		body, err := io.ReadAll(io.LimitReader(req.Body, g.maxBody+1))
		_ = req.Body.Close()
		if err != nil {
			writeError(rw, http.StatusBadRequest, "invalid_request_error", "invalid_request_body",
				"The request body could not be read. Send it again.")
			return
		}
		if int64(len(body)) > g.maxBody {
			g.tooLarge(rw)
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.TransferEncoding = nil
		req.Header.Set("Content-Length", fmt.Sprint(len(body)))
	}
	dropConsoleHeaders(req.Header)
	req.Header.Set("X-Gateway-Token", g.token)
	if g.reportsUsage {
		req.Header.Set("X-Gateway-Reports-Usage", "true")
	}
	// When ForwardAuth cannot reach the console it answers a bare 500; the client should get
	// the console's own answer for that, in the contract's body. The report middleware marks
	// the request as past ForwardAuth, so a provider's 5xx is never taken for it.
	passed := new(bool)
	watcher := &guardWriter{rw: rw, passed: passed}
	g.next.ServeHTTP(watcher, req.WithContext(context.WithValue(req.Context(), passedKey{}, passed)))
	if watcher.swallowed {
		rw.Header().Set("Retry-After", "5")
		writeError(rw, http.StatusServiceUnavailable, "service_unavailable", "console_unavailable",
			"The key service could not be reached. Retry in a few seconds.")
	}
}

type passedKey struct{}

// markPassed tells the guard that the request got past ForwardAuth.
func markPassed(req *http.Request) {
	if passed, ok := req.Context().Value(passedKey{}).(*bool); ok {
		*passed = true
	}
}

// guardWriter holds back a bare server error of ForwardAuth's own (no content type: the
// console's answers are all JSON) so that the guard can answer in the contract's body.
type guardWriter struct {
	rw        http.ResponseWriter
	passed    *bool
	swallowed bool
}

func (w *guardWriter) Header() http.Header {
	return w.rw.Header()
}

func (w *guardWriter) WriteHeader(code int) {
	if code >= 500 && !*w.passed && w.rw.Header().Get("Content-Type") == "" {
		w.swallowed = true
		return
	}
	w.rw.WriteHeader(code)
}

func (w *guardWriter) Write(p []byte) (int, error) {
	if w.swallowed {
		return len(p), nil
	}
	n, err := w.rw.Write(p)
	w.Flush()
	return n, err
}

func (w *guardWriter) Flush() {
	if flusher, ok := w.rw.(http.Flusher); ok {
		flusher.Flush()
	}
}

func (g *guard) tooLarge(rw http.ResponseWriter) {
	writeError(rw, http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large",
		fmt.Sprintf("The request body is larger than this gateway accepts (%d bytes). Send a smaller request.", g.maxBody))
}
