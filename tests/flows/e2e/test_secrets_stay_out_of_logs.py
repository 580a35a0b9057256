"""No plaintext key in any log of an end-to-end run (docs/contract.md section 1): the console's access,
error and application logs (gunicorn, everything at DEBUG), Traefik's, Envoy's and Caddy's. Keys
are sent in every place a client puts them, through the three gateways, and straight to the console the way a
careless gateway might (in authorize's own query, in forwarded URIs, in credential headers).
Every key that the session's other end-to-end tests used is looked for too."""

import contextlib
import json
import urllib.error
import urllib.request

import openai
import pytest

from tests.flows.e2e.conftest import GATEWAY_TOKEN, USED_SECRETS, lines_with, post_json

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _quietly(call) -> None:
    with contextlib.suppress(openai.APIError, urllib.error.URLError):
        call()


def test_no_plaintext_key_appears_in_any_log_of_the_run(
    console, traefik, caddy, envoy, provider, e2e_org, new_key, admin_api, e2e_logs
):
    _, secret = new_key(name="everywhere")
    _, disabled_secret = new_key(name="disabled", model_scope=("gpt-4o",))
    gemini = {"contents": [{"parts": [{"text": "hi"}]}]}
    for gateway in (traefik, caddy, envoy):
        client = openai.OpenAI(base_url=f"{gateway}/v1", api_key=secret, max_retries=0)
        _quietly(
            lambda c=client: c.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        )
        refused = openai.OpenAI(base_url=f"{gateway}/v1", api_key=disabled_secret, max_retries=0)
        _quietly(
            lambda c=refused: c.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        )
        for headers, query in (
            ({"X-Api-Key": secret}, ""),
            ({"x-goog-api-key": secret}, ""),
            ({}, f"?key={secret}"),
            ({}, f"?alt=sse&key={secret}"),
        ):
            post_json(
                f"{gateway}/v1beta/models/gemini-2.0-flash:generateContent{query}", gemini, headers
            )
    # A gateway that gets it wrong: the key on authorize's own request line, in a forwarded URI,
    # in every credential header; and a mistyped admin token.
    for url, headers in (
        (f"{console}/api/v1/gateway/authorize?key={secret}", {}),
        (
            f"{console}/api/v1/gateway/authorize",
            {"X-Forwarded-Uri": f"/v1beta/models/x:generateContent?key={secret}"},
        ),
        (
            f"{console}/api/v1/gateway/authorize",
            {"X-Api-Key": secret, "Referer": f"/?key={secret}"},
        ),
        (f"{console}/api/v1/keys?key={secret}", {"Authorization": f"Bearer {secret}"}),
    ):
        post_json(url, {}, {"X-Gateway-Token": GATEWAY_TOKEN, **headers})

    # The console logged the careless calls (redacted), so the logs were being written.
    lines = lines_with(e2e_logs / "console-access.log", "/api/v1/gateway/authorize?key=")
    assert all("key=[redacted]" in line for line in lines)
    texts = {path.name: path.read_text(errors="replace") for path in e2e_logs.iterdir()}
    assert {
        "console-access.log",
        "console-error.log",
        "traefik.log",
        "caddy.log",
        "envoy.log",
    } <= set(texts)
    assert "DEBUG" in texts["console-error.log"]  # the console logged at DEBUG
    leaks = {
        name: secret_
        for name, text in texts.items()
        for secret_ in {*USED_SECRETS, secret, disabled_secret}
        if secret_ in text
    }
    assert leaks == {}, json.dumps(leaks)
