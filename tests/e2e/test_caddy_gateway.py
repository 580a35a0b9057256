"""Debian's Caddy with exactly deploy/Caddyfile in front of a fake provider, driven by the
official OpenAI and Anthropic SDKs and a Gemini-style `?key=` call (README, CONTRACT.md
section 2): allowed requests reach the provider with X-Key-Id and without the client's key;
denials reach the SDKs as their own error types with the contract's code."""

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anthropic
import openai
import pytest

from audit import Actor
from billing.models import ModelPrice, Wallet
from keys import services
from tests.factories import make_key

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("caddy") is None, reason="Debian's caddy is not installed"),
]

CADDYFILE = Path(__file__).resolve().parents[2] / "deploy" / "Caddyfile"
GATEWAY_TOKEN = "e2e-gateway-token"
UPSTREAM_KEY = "provider-secret-held-by-the-gateway"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeProvider(BaseHTTPRequestHandler):
    seen: list = []

    def log_message(self, *args):
        pass

    def _answer(self, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        FakeProvider.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if self.path.startswith("/v1/chat/completions"):
            self._answer(
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": 1,
                    "model": body.get("model"),
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": "hello from upstream"},
                        }
                    ],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
                }
            )
        elif self.path.startswith("/v1/messages"):
            self._answer(
                {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": body.get("model"),
                    "content": [{"type": "text", "text": "hello from upstream"}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": 5, "output_tokens": 3},
                }
            )
        else:
            self._answer(
                {"candidates": [{"content": {"parts": [{"text": "hello from upstream"}]}}]}
            )


@pytest.fixture
def provider():
    FakeProvider.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeProvider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture
def gateway(live_server, provider, settings, tmp_path):
    settings.GATEWAY_TOKENS = [GATEWAY_TOKEN]
    port = free_port()
    env = {
        **os.environ,
        "LISTEN": f"127.0.0.1:{port}",
        "CONSOLE": live_server.url.removeprefix("http://"),
        "UPSTREAM": f"http://127.0.0.1:{provider.server_port}",
        "UPSTREAM_API_KEY": UPSTREAM_KEY,
        "GATEWAY_TOKEN": GATEWAY_TOKEN,
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    process = subprocess.Popen(
        ["caddy", "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"caddy exited: {process.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("caddy did not start listening")
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def funded_org(org):
    for model in ("gpt-4o-mini", "claude-3-5-haiku", "gemini-2.0-flash"):
        ModelPrice.objects.create(
            model=model,
            input_per_million=Decimal("0.15"),
            output_per_million=Decimal("0.60"),
            max_output_tokens=8192,
        )
    Wallet.objects.create(org=org, balance_micros=100_000_000)
    return org


def test_openai_sdk_call_reaches_the_provider_with_the_key_id_and_not_the_client_key(
    gateway, funded_org
):
    key, plaintext = make_key(funded_org, name="openai-app", user_id="svc-openai")
    client = openai.OpenAI(base_url=f"{gateway}/v1", api_key=plaintext, max_retries=0)

    answer = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )

    assert answer.choices[0].message.content == "hello from upstream"
    seen = FakeProvider.seen[-1]
    assert seen["headers"]["X-Key-Id"] == str(key.pk)
    assert seen["headers"]["X-User-Id"] == "svc-openai"
    assert seen["headers"]["Authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert plaintext not in json.dumps(seen)
    # Every copied header has a real value (no unreplaced Caddy placeholder).
    assert not any("{http." in value for value in seen["headers"].values())


def test_anthropic_sdk_call_reaches_the_provider_without_the_client_key(gateway, funded_org):
    key, plaintext = make_key(funded_org, name="anthropic-app")
    client = anthropic.Anthropic(base_url=gateway, api_key=plaintext, max_retries=0)

    message = client.messages.create(
        model="claude-3-5-haiku", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )

    assert message.content[0].text == "hello from upstream"
    seen = FakeProvider.seen[-1]
    assert seen["headers"]["X-Key-Id"] == str(key.pk)
    assert plaintext not in json.dumps(seen)


def test_gemini_style_query_key_is_authorized_and_not_passed_on(gateway, funded_org):
    key, plaintext = make_key(funded_org, name="gemini-app", model_scope=("gemini-2.0-flash",))
    request = urllib.request.Request(
        f"{gateway}/v1beta/models/gemini-2.0-flash:generateContent?key={plaintext}",
        data=json.dumps({"contents": [{"parts": [{"text": "hi"}]}]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    seen = FakeProvider.seen[-1]
    assert seen["headers"]["X-Key-Id"] == str(key.pk)
    assert plaintext not in seen["path"]


def test_gemini_style_call_for_a_model_outside_the_scope_is_refused_by_name(gateway, funded_org):
    _, plaintext = make_key(funded_org, name="scoped", model_scope=("gpt-4o-mini",))
    request = urllib.request.Request(
        f"{gateway}/v1beta/models/gemini-2.0-flash:generateContent?key={plaintext}",
        data=b"{}",
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert json.loads(refused.value.read())["error"]["code"] == "model_not_allowed"
    assert FakeProvider.seen == []


def test_a_disabled_key_reaches_the_openai_sdk_as_its_authentication_error(gateway, funded_org):
    key, plaintext = make_key(funded_org, name="soon-disabled")
    services.disable_key(key=key, actor=Actor.system("tests"))
    client = openai.OpenAI(base_url=f"{gateway}/v1", api_key=plaintext, max_retries=0)

    with pytest.raises(openai.AuthenticationError) as refused:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )

    assert refused.value.status_code == 401
    assert refused.value.code == "api_key_disabled"
    assert FakeProvider.seen == []


def test_an_unknown_key_reaches_the_anthropic_sdk_as_its_authentication_error(gateway, funded_org):
    client = anthropic.Anthropic(base_url=gateway, api_key="sk-gw-not-a-real-key", max_retries=0)

    with pytest.raises(anthropic.AuthenticationError) as refused:
        client.messages.create(
            model="claude-3-5-haiku", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )

    assert refused.value.status_code == 401
    assert refused.value.body["error"]["code"] == "invalid_api_key"


def test_requests_per_minute_reach_the_openai_sdk_as_its_rate_limit_error(gateway, funded_org):
    _, plaintext = make_key(funded_org, name="slow", rpm_limit=1)
    client = openai.OpenAI(base_url=f"{gateway}/v1", api_key=plaintext, max_retries=0)
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "one"}]
    )

    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "two"}]
        )

    assert refused.value.code == "rate_limit_exceeded"
    assert 1 <= int(refused.value.response.headers["Retry-After"]) <= 60
    assert len(FakeProvider.seen) == 1


def test_an_empty_wallet_reaches_the_openai_sdk_as_a_402_with_the_contract_code(
    gateway, funded_org
):
    Wallet.objects.filter(org=funded_org).update(balance_micros=0)
    _, plaintext = make_key(funded_org, name="broke")
    client = openai.OpenAI(base_url=f"{gateway}/v1", api_key=plaintext, max_retries=0)

    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )

    assert refused.value.status_code == 402
    assert refused.value.code == "billing_shortfall"
