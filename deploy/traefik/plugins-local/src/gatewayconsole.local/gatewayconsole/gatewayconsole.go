// Package gatewayconsole is Gateway Console's data plane inside Traefik, run by Traefik's own Go
// interpreter (Yaegi) as a local plugin. One plugin, two places in a router's chain:
//
//	guard   (before ForwardAuth)  bounds the request body, with a 413 in the console's JSON error
//	                              body; drops every X-Gateway-* header and X-Request-Id that the
//	                              client sent; adds the gateway's token and says that this gateway
//	                              reports usage, so that the console holds the request's cost.
//	report  (after ForwardAuth)   takes the request id, key and model that the console answered
//	                              with; removes every console header and the client's key before
//	                              the provider sees the request and sends the provider its own
//	                              key; streams the answer through, reading its token usage (JSON
//	                              or SSE); posts one usage event per request to the console, in
//	                              batches, and retries until the console has it.
//
// docs/gateway.md in the Gateway Console repository describes the whole data plane.
package gatewayconsole

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

// Config is the plugin's dynamic configuration (deploy/traefik/dynamic.yml).
type Config struct {
	// "guard" or "report".
	Mode string `json:"mode,omitempty"`
	// The gateway's token, one of the console's GATEWAY_TOKENS (both modes).
	GatewayToken string `json:"gatewayToken,omitempty"`

	// guard: the largest request body passed on; longer ones get a 413. Keep it at or below
	// ForwardAuth's maxBodySize, which stays at or below the console's GATEWAY_MAX_BODY_BYTES.
	MaxBodyBytes int64 `json:"maxBodyBytes,omitempty"`
	// guard: this gateway reports usage (a report middleware follows ForwardAuth). The console
	// then holds each request's worst-case cost until its usage event arrives.
	ReportsUsage bool `json:"reportsUsage,omitempty"`

	// report: "openai", "anthropic" or "gemini": how the provider takes its key.
	Provider string `json:"provider,omitempty"`
	// report: the key the gateway holds for the provider. Clients never see it.
	ProviderKey string `json:"providerKey,omitempty"`
	// report: the console's base URL, e.g. http://127.0.0.1:8000.
	Console string `json:"console,omitempty"`
	// report: events are posted at least this often (milliseconds) ...
	FlushIntervalMs int `json:"flushIntervalMs,omitempty"`
	// ... and as soon as this many are waiting (the console takes at most 1,000 per batch).
	BatchSize int `json:"batchSize,omitempty"`
	// report: events kept in memory while the console cannot be reached; beyond this, new
	// events are dropped and the drops are logged.
	QueueSize int `json:"queueSize,omitempty"`
	// report: the longest wait between two attempts to post a batch (milliseconds).
	MaxRetryDelayMs int `json:"maxRetryDelayMs,omitempty"`
}

// CreateConfig returns the defaults.
func CreateConfig() *Config {
	return &Config{
		MaxBodyBytes:    4 << 20,
		FlushIntervalMs: 250,
		BatchSize:       500,
		QueueSize:       20000,
		MaxRetryDelayMs: 30000,
	}
}

// New builds one middleware of the chain.
func New(ctx context.Context, next http.Handler, config *Config, name string) (http.Handler, error) {
	if config.GatewayToken == "" {
		return nil, fmt.Errorf("%s: gatewayToken is empty (set GATEWAY_TOKEN)", name)
	}
	switch config.Mode {
	case "guard":
		if config.MaxBodyBytes <= 0 {
			return nil, fmt.Errorf("%s: maxBodyBytes must be positive", name)
		}
		return &guard{next: next, maxBody: config.MaxBodyBytes, token: config.GatewayToken, reportsUsage: config.ReportsUsage}, nil
	case "report":
		return newReporter(next, config, name)
	}
	return nil, fmt.Errorf("%s: mode must be \"guard\" or \"report\", not %q", name, config.Mode)
}

// dropConsoleHeaders removes every header that only the gateway and the console may set: a
// client must not choose its request id, its token counts, its model or the gateway's token.
func dropConsoleHeaders(header http.Header) {
	for name := range header {
		if strings.HasPrefix(strings.ToLower(name), "x-gateway-") {
			delete(header, name)
		}
	}
	header.Del("X-Request-Id")
}

// writeError answers in the console's error body, OpenAI-style, so that SDKs show the message.
func writeError(rw http.ResponseWriter, status int, errType, code, message string) {
	body := fmt.Sprintf(`{"error":{"type":%q,"code":%q,"message":%q}}`, errType, code, message)
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Content-Length", fmt.Sprint(len(body)))
	rw.WriteHeader(status)
	_, _ = rw.Write([]byte(body))
}

// logf writes to standard error, which Traefik logs at its ERROR level: a plugin's standard
// output is logged at DEBUG, so at any other level (INFO, the default) no drop, refusal or
// retry would show.
func logf(level, format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "%s %s plugin=gatewayconsole %s\n", time.Now().UTC().Format(time.RFC3339), level, fmt.Sprintf(format, args...))
}
