package gatewayconsole

import (
	"bytes"
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
	if req.Body != nil && req.Body != http.NoBody {
		// Read here, within the limit, so that a body of unknown length (chunked) is bounded
		// too; ForwardAuth then sends exactly these bytes to the console.
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
	g.next.ServeHTTP(rw, req)
}

func (g *guard) tooLarge(rw http.ResponseWriter) {
	writeError(rw, http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large",
		fmt.Sprintf("The request body is larger than this gateway accepts (%d bytes). Send a smaller request.", g.maxBody))
}
