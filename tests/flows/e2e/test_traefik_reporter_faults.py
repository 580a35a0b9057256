"""The usage reporter when the console does not take its events: it sends a batch again with
growing pauses until the console has it (counted once: usage is idempotent by request id), and
when the console stays away it keeps at most USAGE_QUEUE_SIZE events and logs what it drops.

A proxy stands in front of the console and refuses usage posts (503) as the test says; every
other call passes through to the console."""

import http.client
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import openai
import pytest
from django.conf import settings
from django.utils import timezone

from billing.limits import holds
from billing.usage.models import UsageEvent
from tests.flows.e2e.conftest import (
    ROOT,
    Process,
    free_port,
    gateway_env,
    http_status,
    wait_for_usage,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class FlakyConsole(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, console: str, *, refuse_first: int):
        super().__init__(("127.0.0.1", 0), _Proxy)
        self.console = urlsplit(console)
        self.refuse_first = refuse_first
        self.usage_posts: list[bytes] = []
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class _Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FlakyConsole

    def log_message(self, *args):
        pass

    def _any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if self.path.startswith("/api/v1/gateway/usage"):
            with self.server.lock:
                self.server.usage_posts.append(body)
                refuse = len(self.server.usage_posts) <= self.server.refuse_first
            if refuse:
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        upstream = http.client.HTTPConnection(
            self.server.console.hostname, self.server.console.port, timeout=10
        )
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        upstream.request(self.command, self.path, body=body, headers=headers)
        answer = upstream.getresponse()
        payload = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _any


@pytest.fixture
def traefik_via(console, provider, e2e_logs):
    """deploy/traefik/run with CONSOLE pointing at a FlakyConsole; yields a starter."""
    started = []

    def start(flaky: FlakyConsole, **extra) -> tuple[str, Process]:
        port = free_port()
        process = Process(
            "traefik behind a flaky console",
            [str(ROOT / "deploy" / "traefik" / "run")],
            {**gateway_env(flaky.url, provider, port), **extra},
            e2e_logs / f"traefik-flaky-{port}.log",
        )
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        process.wait_until(lambda: http_status(f"{url}/v1/models") == 401)
        return url, process

    yield start
    for process in started:
        process.stop()


def _chat(url: str, secret: str) -> str:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=secret, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    return raw.headers["x-gateway-request-id"]


def test_a_refused_batch_is_sent_again_until_the_console_has_it_and_counts_once(
    console, traefik_via, e2e_org, new_key
):
    flaky = FlakyConsole(console, refuse_first=3)
    url, _ = traefik_via(flaky)
    key, secret = new_key(name="patient")

    request_id = _chat(url, secret)

    event = wait_for_usage([request_id])[request_id]
    assert event.key_id == key.pk
    assert len(flaky.usage_posts) == 4
    assert len(set(flaky.usage_posts)) == 1  # the same batch each time
    assert UsageEvent.objects.filter(request_id=request_id).count() == 1


def test_a_console_that_stays_away_fills_the_queue_and_the_drops_are_logged(
    console, traefik_via, e2e_org, new_key
):
    flaky = FlakyConsole(console, refuse_first=10**6)
    # At the shipped log level: Traefik logs a plugin's standard output only at DEBUG.
    url, process = traefik_via(flaky, USAGE_QUEUE_SIZE="2", LOG_LEVEL="INFO")
    _, secret = new_key(name="overflow")

    for _ in range(8):
        _chat(url, secret)

    deadline = time.monotonic() + 10
    while "dropped" not in process.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    dropped = [line for line in process.log.read_text().splitlines() if "dropped" in line]
    assert dropped, process.log.read_text()[-2000:]
    assert "usage events" in dropped[0] and "queueSize" in dropped[0]
    assert not UsageEvent.objects.exists()
    # What nothing settled waits for the release task, after HOLD_TTL.
    later = timezone.now() + timedelta(seconds=settings.HOLD_TTL + 1)
    assert holds.release_expired(now=later) == 8
