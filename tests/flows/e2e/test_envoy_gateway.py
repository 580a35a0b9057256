"""Envoy as shipped (deploy/envoy/run and config.py: ext_authz with the body) in front of a fake
provider: the console sees the body, so a model named only there is checked; a client's console
headers and key never reach the provider; the console names each request; nothing is held, as
Envoy reports no usage."""

import json

import openai
import pytest

from billing.limits.models import Hold
from tests.flows.e2e.conftest import PROVIDER_KEYS, post_json
from tests.flows.e2e.fake_provider import CHUNKS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _openai(envoy: str, secret: str, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{envoy}/v1", api_key=secret, max_retries=0, **kwargs)


def test_an_openai_call_reaches_the_provider_with_its_key_and_the_consoles_id(
    envoy, provider, e2e_org, new_key
):
    key, secret = new_key(name="via-envoy", model_scope=("gpt-4o-mini",))

    raw = _openai(envoy, secret).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )

    assert raw.parse().choices[0].message.content == "".join(CHUNKS)
    assert raw.headers["x-gateway-request-id"].startswith("req_")
    seen = provider.seen[-1]
    assert seen.headers["Authorization"] == f"Bearer {PROVIDER_KEYS['openai']}"
    assert seen.headers["X-Key-Id"] == str(key.pk)
    assert secret not in json.dumps(seen.headers) + seen.path
    assert not Hold.objects.exists()  # Envoy reports no usage: nothing is held


def test_a_model_named_only_in_the_body_is_checked(envoy, provider, e2e_org, new_key):
    _, secret = new_key(name="mini-only", model_scope=("gpt-4o-mini",))

    with pytest.raises(openai.PermissionDeniedError) as refused:
        _openai(envoy, secret).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )

    assert refused.value.code == "model_not_allowed"
    assert provider.seen == []


def test_a_gemini_query_key_is_checked_and_kept_from_the_provider(
    envoy, provider, e2e_org, new_key
):
    key, secret = new_key(name="gemini", model_scope=("gemini-2.0-flash",))

    status, _, _ = post_json(
        f"{envoy}/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse&key={secret}",
        {"contents": [{"parts": [{"text": "hi"}]}]},
        {},
    )

    assert status == 200
    seen = provider.seen[-1]
    assert seen.path == "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    assert seen.headers["X-Goog-Api-Key"] == PROVIDER_KEYS["gemini"]
    assert seen.headers["X-Key-Id"] == str(key.pk)


def test_console_headers_a_client_sends_change_nothing_and_reach_no_one(
    envoy, provider, e2e_org, new_key
):
    _, secret = new_key(name="sneaky", model_scope=("gpt-4o-mini",))
    forged = {
        "X-Request-Id": "req_chosen_by_client",
        "X-Gateway-Model": "gpt-4o-mini",
        "X-Gateway-Reports-Usage": "true",
        "X-Gateway-Token": "not-the-gateways-token",
    }

    client = _openai(envoy, secret, default_headers=forged)
    with pytest.raises(openai.PermissionDeniedError):
        # The body's model is what counts, whatever a header claims.
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
    )

    assert raw.headers["x-gateway-request-id"] != "req_chosen_by_client"
    assert not Hold.objects.exists()  # the client's X-Gateway-Reports-Usage was dropped
    names = {name.lower() for name in provider.seen[-1].headers}
    assert not any(name.startswith("x-gateway-") for name in names)
    assert "x-request-id" not in names


def test_a_body_over_the_limit_is_a_413_in_the_contracts_body(envoy, provider, e2e_org, new_key):
    _, secret = new_key(name="big")

    with pytest.raises(openai.APIStatusError) as refused:
        _openai(envoy, secret).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x" * (4 * 1024 * 1024)}]
        )

    assert refused.value.status_code == 413
    assert refused.value.code == "request_too_large"
    assert provider.seen == []


def test_a_refusal_reaches_the_sdk_as_the_console_wrote_it(envoy, e2e_org, new_key):
    with pytest.raises(openai.AuthenticationError) as refused:
        _openai(envoy, "sk-gw-not-a-key").chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )

    assert refused.value.code == "invalid_api_key"
