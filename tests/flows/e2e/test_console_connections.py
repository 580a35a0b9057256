"""The console never keeps a gateway's connection alive (deploy/gunicorn.conf.py).

A server that closes a kept-alive connection after its idle timeout races a gateway that sends
its next authorize call on that connection at the same moment: the gateway reads a reset, may not
resend a call with a body, and answers its client 503 console_unavailable. Traefik did, now and
then, when gunicorn ran gthread workers with their 2 s keep-alive (a `threads` setting turns sync
workers into gthread ones)."""

import http.client
import socket
from urllib.parse import urlsplit

import pytest

from tests.flows.e2e.conftest import start_console


def _two_requests_on_one_connection(url: str) -> tuple[str | None, bytes]:
    """The first answer's Connection header, and what a second request on the same socket gets
    back (b"" once the server has closed the connection)."""
    parts = urlsplit(url)
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as raw:
        raw.sendall(request)
        first = http.client.HTTPResponse(raw)
        first.begin()
        first.read()
        try:
            raw.sendall(request)
            second = raw.recv(65536)
        except (BrokenPipeError, ConnectionResetError):
            second = b""
    return first.getheader("Connection"), second


@pytest.fixture(scope="module")
def gthread_console(test_database, e2e_logs):
    process, url = start_console(
        test_database, e2e_logs, name="console-gthread", WEB_WORKER_CLASS="gthread"
    )
    yield url
    process.stop()


def test_the_deployed_console_closes_every_connection_after_its_answer(console):
    said, second = _two_requests_on_one_connection(console)

    assert said == "close"
    assert second == b""


def test_gthread_workers_keep_no_connection_alive_either(gthread_console):
    said, second = _two_requests_on_one_connection(gthread_console)

    assert said == "close"
    assert second == b""


def test_the_deployed_console_runs_sync_workers(console, e2e_logs):
    log = (e2e_logs / "console-error.log").read_text()

    assert "Using worker: sync" in log
