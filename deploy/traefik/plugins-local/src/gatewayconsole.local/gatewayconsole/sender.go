package gatewayconsole

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// usageEvent is one request's usage, as the console's POST /api/v1/gateway/usage takes it.
type usageEvent struct {
	RequestID    string `json:"request_id"`
	KeyID        string `json:"key_id"`
	Model        string `json:"model"`
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
	StatusCode   int    `json:"status_code"`
	LatencyMs    int64  `json:"latency_ms"`
	OccurredAt   string `json:"occurred_at"`
}

// sender posts usage events to the console in batches, one goroutine per console and token,
// shared by every report middleware (Traefik builds a middleware again on each configuration
// change; the events waiting stay where they are).
type sender struct {
	url           string
	token         string
	queue         chan usageEvent
	every         time.Duration
	batchSize     int
	maxRetryDelay time.Duration
	client        *http.Client
	dropped       int64
	enqueueMu     sync.Mutex
}

var (
	sendersMu sync.Mutex
	senders   = map[string]*sender{}
)

func senderFor(config *Config) *sender {
	url := strings.TrimRight(config.Console, "/") + "/api/v1/gateway/usage"
	sendersMu.Lock()
	defer sendersMu.Unlock()
	if existing, ok := senders[url+"\n"+config.GatewayToken]; ok {
		return existing
	}
	batch := config.BatchSize
	if batch <= 0 || batch > 1000 {
		batch = 1000
	}
	s := &sender{
		url:           url,
		token:         config.GatewayToken,
		queue:         make(chan usageEvent, positive(config.QueueSize, 20000)),
		every:         time.Duration(positive(config.FlushIntervalMs, 250)) * time.Millisecond,
		batchSize:     batch,
		maxRetryDelay: time.Duration(positive(config.MaxRetryDelayMs, 30000)) * time.Millisecond,
		client:        &http.Client{Timeout: 30 * time.Second},
	}
	senders[url+"\n"+config.GatewayToken] = s
	go s.run()
	return s
}

func positive(value, fallback int) int {
	if value > 0 {
		return value
	}
	return fallback
}

// enqueue never blocks a client's request: a full queue drops the event (and counts it).
//
// Not a select with a default case: Yaegi, which runs this plugin, keeps one set of cases per
// select statement and fills in the value to send on each run, so two requests enqueueing at
// once could both send the same event and lose the other (a usage event missing, its hold
// open until HOLD_TTL). Under the lock a queue with room keeps it until the send: only run
// takes events out.
func (s *sender) enqueue(event usageEvent) {
	s.enqueueMu.Lock()
	defer s.enqueueMu.Unlock()
	if len(s.queue) == cap(s.queue) {
		atomic.AddInt64(&s.dropped, 1)
		return
	}
	s.queue <- event
}

func (s *sender) run() {
	ticker := time.NewTicker(s.every)
	defer ticker.Stop()
	batch := make([]usageEvent, 0, s.batchSize)
	for {
		select {
		case event := <-s.queue:
			batch = append(batch, event)
			if len(batch) >= s.batchSize {
				s.post(batch)
				batch = make([]usageEvent, 0, s.batchSize)
			}
		case <-ticker.C:
			if len(batch) > 0 {
				s.post(batch)
				batch = make([]usageEvent, 0, s.batchSize)
			}
			s.logDrops()
		}
	}
}

// logDrops says how many events a full queue turned away since it last said so.
func (s *sender) logDrops() {
	if dropped := atomic.SwapInt64(&s.dropped, 0); dropped > 0 {
		logf("ERROR", "dropped %d usage events: %d were already waiting for the console (queueSize); their holds are released after the console's HOLD_TTL and their cost is not recorded", dropped, cap(s.queue))
	}
}

// post delivers one batch, retrying server errors and unreachable consoles with growing pauses
// until it is delivered: usage is idempotent by request id, so a batch that did arrive before
// its answer was lost counts once.
func (s *sender) post(batch []usageEvent) {
	payload, err := json.Marshal(map[string]interface{}{"events": batch})
	if err != nil {
		logf("ERROR", "dropped %d usage events: %v", len(batch), err)
		return
	}
	delay := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		status, answer, err := s.send(payload)
		switch {
		case err == nil && status < 300:
			logRejected(answer)
			return
		case err == nil && status < 500:
			// A refusal that sending again cannot change (a wrong gateway token, a malformed
			// batch): say what the console said.
			logf("ERROR", "the console refused %d usage events with %d: %s", len(batch), status, truncate(answer, 500))
			logRejected(answer)
			return
		case err != nil:
			logf("WARN", "usage events not delivered (attempt %d, %d events): %v; retrying in %s", attempt, len(batch), err, delay)
		default:
			logf("WARN", "usage events not delivered (attempt %d, %d events): the console answered %d; retrying in %s", attempt, len(batch), status, delay)
		}
		// While the console is away the queue fills: say so now, not once it is back.
		s.logDrops()
		time.Sleep(delay)
		delay *= 2
		if delay > s.maxRetryDelay {
			delay = s.maxRetryDelay
		}
	}
}

func (s *sender) send(payload []byte) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, s.url, bytes.NewReader(payload))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Gateway-Token", s.token)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, answer, nil
}

// logRejected names each event the console refused (the events hold no secret: ids, a model
// and counts).
func logRejected(answer []byte) {
	var result struct {
		Results []struct {
			RequestID string `json:"request_id"`
			Status    string `json:"status"`
			Error     struct {
				Field   string `json:"field"`
				Message string `json:"message"`
			} `json:"error"`
		} `json:"results"`
	}
	if json.Unmarshal(answer, &result) != nil {
		return
	}
	for _, outcome := range result.Results {
		if outcome.Status == "rejected" {
			logf("ERROR", "the console refused usage event %s: %s: %s", outcome.RequestID, outcome.Error.Field, outcome.Error.Message)
		}
	}
}

func truncate(text []byte, limit int) string {
	if len(text) > limit {
		return string(text[:limit]) + "…"
	}
	return string(text)
}
