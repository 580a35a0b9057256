"""The local webhook receiver of the alert tests."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Receiver:
    """What the local receiver saw; it answers `fail_status` to the first `fail_first` POSTs."""

    def __init__(self):
        self.url = ""
        self.port = 0
        self.secret = ""
        self.fail_first = 0
        self.fail_status = 500
        self.posts: list[dict] = []

    def verify(self, headers, body: bytes) -> bool:
        timestamp = headers["X-Console-Timestamp"]
        expected = hmac.new(
            self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        fresh = abs(time.time() - int(timestamp)) < 300
        return fresh and hmac.compare_digest(headers["X-Console-Signature"], f"sha256={expected}")


@pytest.fixture
def receiver():
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.posts.append(
                {
                    "path": self.path,
                    "host": self.headers["Host"],
                    "content_type": self.headers["Content-Type"],
                    "verified": state.verify(self.headers, body),
                    "json": json.loads(body),
                }
            )
            failing = len(state.posts) <= state.fail_first
            self.send_response(state.fail_status if failing else 204)
            if failing and state.fail_status in (301, 302, 307, 308):
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.port = server.server_port
    state.url = f"http://127.0.0.1:{state.port}/hooks/console"
    yield state
    server.shutdown()
    server.server_close()
