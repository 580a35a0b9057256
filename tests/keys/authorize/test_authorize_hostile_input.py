"""What a client (or a broken gateway) can put in a request never makes authorize answer a 500:
digits that are not ASCII, numbers past any column, token counts in headers, too many query
parameters, bodies over Django's own limits. Each gets the contract's answer (docs/contract.md
section 2). Marked smoke: SQLite overflows where PostgreSQL refuses, so both must hold."""

import json

import pytest

from billing.ledger.models import ModelPrice
from billing.limits.models import Counter, Hold
from tests.factories import make_key
from tests.support.gateway import (
    AUTHORIZE_URL,
    GATEWAY_TOKEN,
    WALLET_BALANCE,
    assert_denied,
    expected_cost_micros,
    micros,
    wallet_of,
)

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]

HUGE = 10**30  # past a 64-bit integer column on every database


def _nothing_held(org) -> None:
    assert not Hold.objects.exists()
    assert wallet_of(org).held_micros == 0
    assert not Counter.objects.filter(held_micros__gt=0).exists()


def _hold_request(authorize, secret, **body):
    return authorize(
        secret,
        model=None,
        reports_usage=True,
        body={"model": "gpt-4o-mini", "prompt": "x" * 1000, **body},
    )


@pytest.mark.parametrize("value", ["²", "١٢", "-1", str(HUGE), "1e9"])
def test_token_count_headers_are_ignored_whatever_they_hold(authorize, org, value):
    _, secret = make_key(org, name="app")

    response = authorize(
        secret,
        model=None,
        reports_usage=True,
        body={"model": "gpt-4o-mini", "prompt": "x" * 1000, "max_tokens": 250},
        headers={"X-Gateway-Input-Tokens": value, "X-Gateway-Max-Tokens": value},
    )

    assert response.status_code == 200, response.content
    assert Hold.objects.get().amount_micros == expected_cost_micros("gpt-4o-mini", 1000, 250)


@pytest.mark.parametrize("value", ["²", "١٢", "٣"])
def test_a_gemini_output_limit_in_other_digits_counts_as_none(authorize, org, value):
    _, secret = make_key(org, name="gemini")

    response = authorize(
        secret,
        model=None,
        reports_usage=True,
        body={
            "contents": [{"parts": [{"text": "x" * 100}]}],
            "generationConfig": {"maxOutputTokens": value},
        },
        headers={"X-Forwarded-Uri": "/v1beta/models/gemini-2.0-flash:generateContent"},
    )

    assert response.status_code == 200, response.content
    # The model's longest answer (8,000 tokens); the string's bytes count towards the prompt.
    prompt = 100 + len(value.encode())
    assert Hold.objects.get().amount_micros == expected_cost_micros(
        "gemini-2.0-flash", prompt, 8_000
    )


def test_a_declared_body_length_past_any_number_is_a_shortfall_not_an_overflow(client, org):
    _, secret = make_key(org, name="app")

    response = client.generic(
        "POST",
        AUTHORIZE_URL,
        data=b"",
        content_type="application/json",
        headers={
            "X-Gateway-Token": GATEWAY_TOKEN,
            "Authorization": f"Bearer {secret}",
            "X-Gateway-Model": "gpt-4o-mini",
            "X-Gateway-Reports-Usage": "true",
        },
        # A body this long is never read: its declared length bounds the prompt.
        CONTENT_LENGTH=str(HUGE),
    )

    assert_denied(response, 402, "billing_shortfall")
    _nothing_held(org)
    assert wallet_of(org).balance_micros == micros(WALLET_BALANCE)


def test_a_huge_max_tokens_for_a_model_without_a_longest_answer_is_a_shortfall(authorize, org):
    ModelPrice.objects.filter(model="gpt-4o-mini").update(max_output_tokens=0)
    _, secret = make_key(org, name="app")

    response = _hold_request(authorize, secret, max_tokens=HUGE)

    assert_denied(response, 402, "billing_shortfall")
    _nothing_held(org)


def test_a_huge_max_tokens_is_bounded_by_the_models_longest_answer(authorize, org):
    _, secret = make_key(org, name="app")

    response = _hold_request(authorize, secret, max_tokens=HUGE)

    assert response.status_code == 200, response.content
    assert Hold.objects.get().amount_micros == expected_cost_micros("gpt-4o-mini", 1000, 16_000)


def test_too_many_query_parameters_without_a_key_header_are_an_invalid_key(client, org):
    # Django reads at most DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000) parameters of a query string.
    query = "&".join(f"p{n}=1" for n in range(1_001))

    response = client.get(f"{AUTHORIZE_URL}?{query}", headers={"X-Gateway-Token": GATEWAY_TOKEN})

    assert_denied(response, 401, "invalid_api_key")


def test_too_many_query_parameters_beside_a_key_header_change_nothing(authorize, org):
    _, secret = make_key(org, name="app")
    query = "?" + "&".join(f"p{n}=1" for n in range(1_001))

    response = authorize(secret, query=query)

    assert response.status_code == 200, response.content


def test_a_body_over_djangos_upload_limit_is_read_up_to_the_gateways_limit(authorize, org):
    # DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) limits what Django parses; authorize reads the body
    # itself, up to GATEWAY_MAX_BODY_BYTES (8 MiB).
    _, secret = make_key(org, name="scoped", model_scope=("gpt-4o-mini",))
    body = json.dumps({"model": "gpt-4o-mini", "prompt": "x" * (3 * 1024 * 1024)})

    response = authorize(secret, model=None, body=body)

    assert response.status_code == 200, response.content
    assert response.json()["model"] == "gpt-4o-mini"
