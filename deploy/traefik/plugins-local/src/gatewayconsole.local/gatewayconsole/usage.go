package gatewayconsole

import (
	"bytes"
	"encoding/json"
)

const (
	// The last bytes of a JSON answer kept to find its usage in.
	maxTail = 64 << 10
	// The longest SSE line read for usage.
	maxLine = 1 << 20
)

// tokenCount is what one request used, as far as its answer said.
type tokenCount struct {
	input  int64
	output int64
	seen   bool
}

// merge keeps the larger of each count: streams repeat their counts as they grow (Anthropic's
// message_start then message_delta, Gemini's every chunk), never shrinking them.
func (t *tokenCount) merge(other tokenCount) {
	if !other.seen {
		return
	}
	t.seen = true
	if other.input > t.input {
		t.input = other.input
	}
	if other.output > t.output {
		t.output = other.output
	}
}

var usageKeys = [][]byte{[]byte(`"usage"`), []byte(`"usageMetadata"`)}

// findUsage reads the last usage object of a JSON text (or of its tail): OpenAI's
// {"usage": {"prompt_tokens", "completion_tokens"}} (chat, completions, embeddings) and
// {"usage": {"input_tokens", "output_tokens"}} (responses), Anthropic's
// {"usage": {"input_tokens", "output_tokens", "cache_*_input_tokens"}}, Gemini's
// {"usageMetadata": {"promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount"}}.
func findUsage(data []byte) tokenCount {
	for _, key := range usageKeys {
		end := len(data)
		for {
			at := bytes.LastIndex(data[:end], key)
			if at < 0 {
				break
			}
			end = at
			if counts, ok := usageAt(data, at, len(key)); ok {
				return counts
			}
		}
	}
	return tokenCount{}
}

// usageAt decodes the object that follows the key at data[at:], if the key is a member name:
// after `{` or `,` (inside a string a quote is escaped) and before `:` and `{`.
func usageAt(data []byte, at, keyLength int) (tokenCount, bool) {
	before := bytes.TrimRight(data[:at], " \t\r\n")
	if len(before) == 0 || (before[len(before)-1] != '{' && before[len(before)-1] != ',') {
		return tokenCount{}, false
	}
	rest := bytes.TrimLeft(data[at+keyLength:], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return tokenCount{}, false
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '{' {
		return tokenCount{}, false
	}
	decoder := json.NewDecoder(bytes.NewReader(rest))
	decoder.UseNumber()
	var usage map[string]interface{}
	if decoder.Decode(&usage) != nil {
		return tokenCount{}, false
	}
	input, hasInput := first(usage, "prompt_tokens", "input_tokens", "promptTokenCount")
	output, hasOutput := first(usage, "completion_tokens", "output_tokens", "candidatesTokenCount")
	if !hasInput && !hasOutput {
		return tokenCount{}, false
	}
	// Billed as input or output though counted apart: Anthropic's prompt cache, Gemini's tool
	// prompts and thinking.
	input += number(usage["cache_creation_input_tokens"]) + number(usage["cache_read_input_tokens"])
	input += number(usage["toolUsePromptTokenCount"])
	output += number(usage["thoughtsTokenCount"])
	return tokenCount{input: input, output: output, seen: true}, true
}

func first(usage map[string]interface{}, names ...string) (int64, bool) {
	for _, name := range names {
		if value, ok := usage[name]; ok && value != nil {
			return number(value), true
		}
	}
	return 0, false
}

func number(value interface{}) int64 {
	n, ok := value.(json.Number)
	if !ok {
		return 0
	}
	i, err := n.Int64()
	if err != nil || i < 0 {
		return 0
	}
	return i
}

// keepTail appends p to tail and keeps at most the last limit bytes.
func keepTail(tail, p []byte, limit int) []byte {
	if len(p) >= limit {
		return append(tail[:0], p[len(p)-limit:]...)
	}
	if len(tail)+len(p) > limit {
		drop := len(tail) + len(p) - limit
		tail = append(tail[:0], tail[drop:]...)
	}
	return append(tail, p...)
}
