"""A model provider for the end-to-end tests: OpenAI chat completions and responses, Anthropic
messages and Gemini generateContent, each as JSON or as a stream of server-sent events, with
token counts the tests know in advance.

Input tokens are fixed per provider (PROMPT_TOKENS); output tokens are the request's own output
limit when it names one, else DEFAULT_OUTPUT_TOKENS. A stream names its usage the way the real
provider does: an OpenAI chat stream only when asked (`stream_options.include_usage`), in its
last chunk; Anthropic in message_start and message_delta; Gemini in every chunk, growing.

A client header steers one answer (it passes through the gateways like any client header):
`X-Fake-Provider: error` answers 429 with an error body and no usage; `hold` streams the first
chunk and waits for `provider.release` (set by the test) before the rest; `slow` pauses between
chunks.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PROMPT_TOKENS = {"openai": 11, "anthropic": 13, "gemini": 17}
DEFAULT_OUTPUT_TOKENS = 7
# Gemini counts thinking apart from the answer; both are output.
GEMINI_THOUGHTS = 2
CHUNKS = ["Hel", "lo ", "from ", "upstream"]


class Seen:
    def __init__(self, path: str, headers: dict, body: dict, provider: str):
        self.path = path
        self.headers = headers
        self.body = body
        self.provider = provider
        self.input_tokens = 0
        self.output_tokens = 0


class FakeProvider(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.first_chunk_sent = threading.Event()
        self.last_chunk_sent = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def reset(self) -> None:
        with self.lock:
            self.seen = []
        self.release.clear()
        self.first_chunk_sent.clear()
        self.last_chunk_sent.clear()

    def start(self) -> "FakeProvider":
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeProvider

    def log_message(self, *args):
        pass

    # Plumbing

    def _send_json(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _event(self, data: dict | str, event: str | None = None) -> None:
        text = data if isinstance(data, str) else json.dumps(data)
        prefix = f"event: {event}\n" if event else ""
        self._chunk(f"{prefix}data: {text}\n\n".encode())

    def _stream(self, events: list, behaviour: str) -> None:
        """Sends the events one by one; the last one only after the first went out, and, for
        `hold`, only once the test says so."""
        self._start_stream()
        try:
            for i, (data, event) in enumerate(events):
                if i == len(events) - 1 and behaviour == "hold":
                    self.server.release.wait(timeout=15)
                if i == len(events) - 1:
                    self.server.last_chunk_sent.set()
                self._event(data, event)
                if i == 0:
                    self.server.first_chunk_sent.set()
                if behaviour == "slow":
                    time.sleep(0.2)
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # Requests

    def do_GET(self):
        self._send_json(200, {"object": "list", "data": [{"id": "gpt-4o-mini"}]})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else {}
        url = urlsplit(self.path)
        provider = (
            "anthropic"
            if url.path.startswith("/v1/messages")
            else "gemini"
            if ":" in url.path
            else "openai"
        )
        # One spelling of each name, whatever case the gateway sent (Envoy sends lower case).
        headers = {
            "-".join(p.capitalize() for p in k.split("-")): v for k, v in self.headers.items()
        }
        seen = Seen(self.path, headers, body, provider)
        with self.server.lock:
            self.server.seen.append(seen)
        behaviour = self.headers.get("X-Fake-Provider", "")
        if behaviour == "error":
            self._send_json(
                429,
                {"error": {"type": "rate_limit_error", "message": "The provider is busy."}},
            )
            return
        seen.input_tokens = PROMPT_TOKENS[provider]
        if provider == "anthropic":
            self._anthropic(seen, body, behaviour)
        elif provider == "gemini":
            self._gemini(seen, body, url, behaviour)
        elif url.path.endswith("/responses"):
            self._openai_responses(seen, body, behaviour)
        else:
            self._openai_chat(seen, body, behaviour)

    def _openai_chat(self, seen: Seen, body: dict, behaviour: str) -> None:
        seen.output_tokens = (
            body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_OUTPUT_TOKENS
        )
        usage = {
            "prompt_tokens": seen.input_tokens,
            "completion_tokens": seen.output_tokens,
            "total_tokens": seen.input_tokens + seen.output_tokens,
        }
        base = {"id": "chatcmpl-1", "created": 1, "model": body.get("model")}
        if not body.get("stream"):
            self._send_json(
                200,
                {
                    **base,
                    "object": "chat.completion",
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": "".join(CHUNKS)},
                        }
                    ],
                    "usage": usage,
                },
            )
            return
        chunk = {**base, "object": "chat.completion.chunk"}
        events = [
            ({**chunk, "choices": [{"index": 0, "delta": {"content": text}}]}, None)
            for text in CHUNKS
        ]
        events.append(
            ({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}, None)
        )
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(({**chunk, "choices": [], "usage": usage}, None))
        else:
            seen.output_tokens = seen.input_tokens = 0  # the provider never said
        events.append(("[DONE]", None))
        self._stream(events, behaviour)

    def _openai_responses(self, seen: Seen, body: dict, behaviour: str) -> None:
        seen.output_tokens = body.get("max_output_tokens") or DEFAULT_OUTPUT_TOKENS
        usage = {
            "input_tokens": seen.input_tokens,
            "output_tokens": seen.output_tokens,
            "total_tokens": seen.input_tokens + seen.output_tokens,
        }
        response = {
            "id": "resp_1",
            "object": "response",
            "created_at": 1,
            "model": body.get("model"),
            "status": "completed",
            "output": [
                {
                    "type": "message",
                    "id": "msg_1",
                    "status": "completed",
                    "role": "assistant",
                    "content": [
                        {"type": "output_text", "text": "".join(CHUNKS), "annotations": []}
                    ],
                }
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": usage,
        }
        if not body.get("stream"):
            self._send_json(200, response)
            return
        events = [
            (
                {
                    "type": "response.created",
                    "sequence_number": 0,
                    "response": {**response, "status": "in_progress", "usage": None},
                },
                "response.created",
            )
        ]
        for i, text in enumerate(CHUNKS):
            events.append(
                (
                    {
                        "type": "response.output_text.delta",
                        "sequence_number": i + 1,
                        "item_id": "msg_1",
                        "output_index": 0,
                        "content_index": 0,
                        "delta": text,
                        "logprobs": [],
                    },
                    "response.output_text.delta",
                )
            )
        events.append(
            (
                {"type": "response.completed", "sequence_number": 9, "response": response},
                "response.completed",
            )
        )
        self._stream(events, behaviour)

    def _anthropic(self, seen: Seen, body: dict, behaviour: str) -> None:
        seen.output_tokens = body.get("max_tokens") or DEFAULT_OUTPUT_TOKENS
        message = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": [{"type": "text", "text": "".join(CHUNKS)}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": seen.input_tokens, "output_tokens": seen.output_tokens},
        }
        if not body.get("stream"):
            self._send_json(200, message)
            return
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": seen.input_tokens, "output_tokens": 1},
        }
        events = [({"type": "message_start", "message": start}, "message_start")]
        events.append(
            (
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
                "content_block_start",
            )
        )
        for text in CHUNKS:
            events.append(
                (
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": text},
                    },
                    "content_block_delta",
                )
            )
        events.append(({"type": "content_block_stop", "index": 0}, "content_block_stop"))
        events.append(
            (
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": seen.output_tokens},
                },
                "message_delta",
            )
        )
        events.append(({"type": "message_stop"}, "message_stop"))
        self._stream(events, behaviour)

    def _gemini(self, seen: Seen, body: dict, url, behaviour: str) -> None:
        config = body.get("generationConfig") or {}
        answer = config.get("maxOutputTokens") or DEFAULT_OUTPUT_TOKENS
        seen.output_tokens = answer + GEMINI_THOUGHTS

        def usage(candidates: int) -> dict:
            return {
                "promptTokenCount": seen.input_tokens,
                "candidatesTokenCount": candidates,
                "thoughtsTokenCount": GEMINI_THOUGHTS,
                "totalTokenCount": seen.input_tokens + candidates + GEMINI_THOUGHTS,
            }

        def candidate(text: str) -> dict:
            return {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}

        if "streamGenerateContent" not in url.path:
            self._send_json(
                200,
                {"candidates": [candidate("".join(CHUNKS))], "usageMetadata": usage(answer)},
            )
            return
        if parse_qs(url.query).get("alt") != ["sse"]:
            self._send_json(400, {"error": {"message": "this fake streams only with alt=sse"}})
            return
        events = []
        for i, text in enumerate(CHUNKS):
            grown = answer if i == len(CHUNKS) - 1 else i + 1
            events.append(({"candidates": [candidate(text)], "usageMetadata": usage(grown)}, None))
        self._stream(events, behaviour)
