package gatewayconsole

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// reporter runs after ForwardAuth, in front of one provider.
type reporter struct {
	next        http.Handler
	provider    string
	providerKey string
	sender      *sender
}

func newReporter(next http.Handler, config *Config, name string) (http.Handler, error) {
	switch config.Provider {
	case "openai", "anthropic", "gemini":
	default:
		return nil, fmt.Errorf("%s: provider must be openai, anthropic or gemini, not %q", name, config.Provider)
	}
	if config.ProviderKey == "" {
		return nil, fmt.Errorf("%s: providerKey is empty (set UPSTREAM_API_KEY or the provider's own)", name)
	}
	if !strings.HasPrefix(config.Console, "http://") && !strings.HasPrefix(config.Console, "https://") {
		return nil, fmt.Errorf("%s: console must be the console's URL, such as http://127.0.0.1:8000", name)
	}
	return &reporter{
		next:        next,
		provider:    config.Provider,
		providerKey: config.ProviderKey,
		sender:      senderFor(config),
	}, nil
}

func (r *reporter) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	started := time.Now()
	markPassed(req)
	requestID := req.Header.Get("X-Gateway-Request-Id")
	keyID := req.Header.Get("X-Key-Id")
	model := req.Header.Get("X-Gateway-Model")
	dropConsoleHeaders(req.Header)
	r.useProviderKey(req)
	// The reporter reads the answer: the provider sends it uncompressed (Traefik's transport
	// asks for gzip itself and unpacks it when the client did not ask).
	req.Header.Del("Accept-Encoding")

	if requestID == "" || keyID == "" || model == "" {
		// Not a request the console named and priced (it could not learn the model): there is
		// nothing to report and nothing held.
		r.next.ServeHTTP(rw, req)
		return
	}
	bodyBytes := req.ContentLength
	if r.provider == "openai" {
		askForStreamUsage(req)
	}
	rw.Header().Set("X-Gateway-Request-Id", requestID)
	watcher := &usageWriter{rw: rw}
	event := usageEvent{RequestID: requestID, KeyID: keyID, Model: model}
	// Reported however the answer ends: Traefik's proxy aborts the handler with a panic
	// (http.ErrAbortHandler) when the client hangs up mid-answer, and that request counts too.
	defer func() {
		aborted := recover()
		r.report(event, watcher, req, started, bodyBytes, aborted != nil)
		if aborted != nil && !watcher.clientGone && req.Context().Err() == nil {
			// The provider broke off mid-answer: abort the client's connection too, so that it
			// sees a cut answer rather than a complete one. (After the client left there is no
			// one to tell.)
			panic(aborted)
		}
	}()
	r.next.ServeHTTP(watcher, req)
}

// report enqueues the usage event of one answered (or abandoned) request.
func (r *reporter) report(event usageEvent, watcher *usageWriter, req *http.Request, started time.Time, bodyBytes int64, aborted bool) {
	watcher.finish()
	status := watcher.status
	if status == 0 {
		status = http.StatusOK
	}
	// The answer did not end: a write to the client failed, or the proxy aborted. (A closed
	// connection alone says nothing: a client that read the whole answer may close it at once,
	// even before this runs.)
	hungUp := aborted || watcher.clientGone
	switch {
	case watcher.clientGone || (aborted && req.Context().Err() != nil):
		status = 499 // the client closed the request before the answer ended
	case aborted:
		status = http.StatusBadGateway // the provider broke off mid-answer
	}
	in, out := watcher.tokens.input, watcher.tokens.output
	if !watcher.tokens.seen && hungUp && watcher.status > 0 && watcher.status < 400 {
		// The provider was answering when the client left, before the usage arrived (an OpenAI
		// stream names it in its last chunk): what was seen is each streamed delta, about one
		// token, and a prompt of about a token per four bytes.
		in = (bodyBytes + 3) / 4
		out = watcher.deltas
	}
	event.InputTokens, event.OutputTokens, event.StatusCode = in, out, status
	event.LatencyMs = time.Since(started).Milliseconds()
	event.OccurredAt = started.UTC().Format("2006-01-02T15:04:05.000Z")
	r.sender.enqueue(event)
}

// useProviderKey sends the provider the gateway's key the way that provider takes it, and
// drops the client's console key from every place a client may put it.
func (r *reporter) useProviderKey(req *http.Request) {
	req.Header.Del("Authorization")
	req.Header.Del("X-Api-Key")
	req.Header.Del("X-Goog-Api-Key")
	if query := req.URL.Query(); query.Has("key") {
		query.Del("key")
		req.URL.RawQuery = query.Encode()
		req.RequestURI = req.URL.RequestURI()
	}
	switch r.provider {
	case "openai":
		req.Header.Set("Authorization", "Bearer "+r.providerKey)
	case "anthropic":
		req.Header.Set("X-Api-Key", r.providerKey)
	case "gemini":
		req.Header.Set("X-Goog-Api-Key", r.providerKey)
	}
}

// askForStreamUsage turns on `stream_options.include_usage` for an OpenAI stream, without
// which a streamed chat completion never says how many tokens it used.
func askForStreamUsage(req *http.Request) {
	if req.Body == nil || req.Body == http.NoBody || !strings.HasSuffix(req.URL.Path, "completions") {
		return
	}
	raw, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(raw))
	if err != nil || !bytes.Contains(raw, []byte(`"stream"`)) {
		return
	}
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.UseNumber()
	var body map[string]interface{}
	if decoder.Decode(&body) != nil {
		return
	}
	if stream, _ := body["stream"].(bool); !stream {
		return
	}
	options, _ := body["stream_options"].(map[string]interface{})
	if options == nil {
		options = map[string]interface{}{}
	}
	if included, _ := options["include_usage"].(bool); included {
		return
	}
	options["include_usage"] = true
	body["stream_options"] = options
	changed, err := json.Marshal(body)
	if err != nil {
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(changed))
	req.ContentLength = int64(len(changed))
	req.Header.Set("Content-Length", fmt.Sprint(len(changed)))
}

// usageWriter passes the answer on as it comes and reads its token usage on the way.
type usageWriter struct {
	rw          http.ResponseWriter
	status      int
	decided     bool
	sse         bool
	line        []byte
	tail        []byte
	tokens      tokenCount
	deltas      int64
	wroteHeader bool
	clientGone  bool
}

func (w *usageWriter) Header() http.Header {
	return w.rw.Header()
}

func (w *usageWriter) WriteHeader(code int) {
	if code >= 200 && !w.wroteHeader {
		w.wroteHeader = true
		w.status = code
		w.sse = strings.HasPrefix(w.rw.Header().Get("Content-Type"), "text/event-stream")
	}
	w.rw.WriteHeader(code)
}

func (w *usageWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.sse {
		w.readEvents(p)
	} else {
		w.tail = keepTail(w.tail, p, maxTail)
	}
	n, err := w.rw.Write(p)
	if err != nil {
		w.clientGone = true
		return n, err
	}
	// Traefik's compiled proxy does not see this interpreted writer as an http.Flusher, so it
	// never flushes through it: flush the writer underneath, so that every chunk of a stream
	// reaches the client as soon as the provider sends it.
	w.Flush()
	return n, err
}

// finish reads the usage of an answer that was not a stream of events: it sits in the answer's
// last bytes (OpenAI, Anthropic and Gemini all put it at the end).
func (w *usageWriter) finish() {
	if !w.sse && len(w.tail) > 0 {
		w.tokens.merge(findUsage(w.tail))
	}
}

func (w *usageWriter) Flush() {
	if flusher, ok := w.rw.(http.Flusher); ok {
		flusher.Flush()
	}
}

// readEvents reads the SSE lines of an answer: every `data:` line that carries usage counts.
func (w *usageWriter) readEvents(p []byte) {
	w.line = append(w.line, p...)
	for {
		end := bytes.IndexByte(w.line, '\n')
		if end < 0 {
			break
		}
		line := bytes.TrimRight(w.line[:end], "\r")
		if bytes.HasPrefix(line, []byte("data:")) {
			data := bytes.TrimSpace(line[5:])
			if bytes.Contains(data, []byte(`"usage`)) {
				w.tokens.merge(findUsage(data))
			}
			if bytes.Contains(data, []byte(`delta"`)) {
				w.deltas++
			}
		}
		w.line = w.line[end+1:]
	}
	if len(w.line) > maxLine {
		// A line this long is not an event this reporter can read: let it pass unread.
		w.line = nil
	}
	if cap(w.line) > maxLine && len(w.line) < 1024 {
		w.line = append([]byte(nil), w.line...)
	}
}
