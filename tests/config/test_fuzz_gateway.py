"""Issue 13, "no 500 on any input": the gateway's two endpoints under generated input.

- Schemathesis over authorize and usage as the OpenAPI document describes them, with the
  gateway's token and, mostly, real keys: never a 5xx, and every answer as the document says.
- Hypothesis over what a client puts in authorize's forwarded request: arbitrary text in every
  header authorize reads, any method and path, JSON bodies of arbitrary nested values, bodies
  that are not JSON, huge declared lengths and numbers, unicode digits. Never a 5xx; every
  answer is JSON.

Bounded to run in CI: a fixed number of examples, derandomized, no example database."""

import json
from decimal import Decimal

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import checks

from billing.ledger.models import Wallet
from config.wsgi import application
from tests.config.test_openapi_conformance import keep_the_test_transaction  # noqa: F401
from tests.factories import make_key
from tests.support.gateway import *  # noqa: F403 (its fixtures: __all__ there)
from tests.support.gateway import (
    AUTHORIZE_URL,
    GATEWAY_TOKEN,
    PLAN_MODELS,
    UNPRICED_MODEL,
    USAGE_URL,
    micros,
    usage_event,
)

pytestmark = pytest.mark.django_db

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
FUZZ = settings(
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
MODELS = [*PLAN_MODELS, "claude-3-5-sonnet", UNPRICED_MODEL, "", "gpt-4o-mini\x00", "\x00"]


@pytest.fixture
def gateway_keys(org, team):
    """A plain key, one with every cap and a model scope in a team, a disabled one."""
    plain = make_key(org, name="plain")
    capped = make_key(
        org,
        name="capped",
        team=team,
        model_scope=("gpt-4o-mini", "gpt-4o"),
        monthly_spend_cap=Decimal("5.00"),
        cost_limit=Decimal("2.00"),
        token_limit=100_000,
        rpm_limit=1_000,
    )
    disabled = make_key(org, name="disabled")
    disabled[0].status = "disabled"
    disabled[0].save(update_fields=["status"])
    return [plain, capped, disabled]


# Schemathesis -------------------------------------------------------------------------------


def _schema():
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


def test_authorize_answers_as_its_schema_says(gateway_keys, keep_the_test_transaction):  # noqa: F811
    operation = _schema()["/api/v1/gateway/authorize"]["POST"]
    secrets = [secret for _, secret in gateway_keys]

    @given(
        case=operation.as_strategy(),
        secret=st.sampled_from([*secrets, None]),
        model=st.sampled_from(MODELS),
        reports=st.booleans(),
    )
    @settings(FUZZ, max_examples=60)
    def call(case, secret, model, reports):
        headers = {"X-Gateway-Token": GATEWAY_TOKEN}
        if secret is not None:
            headers["Authorization"] = f"Bearer {secret}"
            if isinstance(case.body, dict):
                case.body["model"] = model
        if reports:
            headers["X-Gateway-Reports-Usage"] = "true"
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS)

    call()


def test_usage_answers_as_its_schema_says(gateway_keys, keep_the_test_transaction):  # noqa: F811
    operation = _schema()["/api/v1/gateway/usage"]["POST"]
    key_ids = [str(key.pk) for key, _ in gateway_keys]

    @given(
        case=operation.as_strategy(),
        key_id=st.sampled_from(key_ids),
        model=st.sampled_from(MODELS),
        real=st.booleans(),
    )
    @settings(FUZZ, max_examples=60)
    def call(case, key_id, model, real):
        # Half the events name a real key and a model, so that they get past the lookups.
        if real and isinstance(case.body, dict):
            events = case.body.get("events", [case.body])
            for event in events if isinstance(events, list) else []:
                if isinstance(event, dict):
                    event["key_id"], event["model"] = key_id, model
        response = case.call(headers={"X-Gateway-Token": GATEWAY_TOKEN})
        case.validate_response(response, checks=CHECKS)

    call()


# Hypothesis over authorize's forwarded request ----------------------------------------------

# What a WSGI server hands Django: header values are latin-1 strings (PEP 3333), any byte
# but the line breaks.
header_text = st.text(st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=80)
unicode_digits = st.sampled_from(["²", "٣", "１２", "߀", "𝟗", "Ⅻ", "½", "-5", "5.5", "1e999"])
huge = st.sampled_from([2**63, 2**64 + 1, 10**30, 10**400, -(2**63), 0])
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | huge
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | unicode_digits
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
token_fields = st.sampled_from(
    ["max_tokens", "max_completion_tokens", "max_output_tokens", "generationConfig"]
)
json_bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(MODELS) | json_values,
        "messages": json_values,
        "max_tokens": json_values | unicode_digits | huge,
        "max_completion_tokens": json_values | huge,
        "max_output_tokens": json_values | huge,
        "generationConfig": st.fixed_dictionaries(
            {}, optional={"maxOutputTokens": json_values | unicode_digits | huge}
        )
        | json_values,
    },
).flatmap(
    lambda fixed: st.dictionaries(st.text(max_size=12), json_values, max_size=3).map(
        lambda extra: {**extra, **fixed}
    )
)


def _deep(depth: int) -> bytes:
    """JSON nested `depth` levels deep: json.loads parses it below its recursion limit."""
    nested = '{"a": ' * depth + '"x"' + "}" * depth
    return ('{"model": "gpt-4o-mini", "max_tokens": 5, "messages": ' + nested + "}").encode()


bodies = (
    json_bodies.map(lambda body: json.dumps(body).encode())
    | json_values.map(lambda value: json.dumps(value).encode())
    | st.binary(max_size=200)
    | st.text(max_size=100).map(str.encode)
    | st.sampled_from([b"", b"{", b"{" * 5000, b"[" * 5000 + b"]" * 5000, b'{"model": '])
    | st.sampled_from([400, 850, 990, 5000]).map(_deep)
)
forwarded_headers = st.fixed_dictionaries(
    {},
    optional={
        "X-Forwarded-For": header_text,
        "X-Forwarded-Uri": header_text | st.just("/v1beta/models/gpt-4o:generateContent?key=x"),
        "X-Forwarded-Method": header_text,
        "X-Original-URI": header_text,
        "X-Envoy-Original-Path": header_text,
        "X-Gateway-Model": header_text | st.sampled_from(MODELS),
        "X-Gateway-Reports-Usage": header_text | st.sampled_from(["true", "TRUE ", "1", "on"]),
        "X-Api-Key": header_text,
        "x-goog-api-key": header_text,
        "X-Request-Id": header_text,
        "Content-Type": header_text,
    },
)
methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "PURGE"])
paths = st.sampled_from(["", "/", "/v1/chat/completions", "/v1beta/models/gpt-4o:generateContent"])


def _assert_answered(response):
    assert response.status_code < 500 or response.status_code == 503, response.content[:300]
    assert response.status_code != 503, response.content[:300]
    if response.status_code != 405 and response.content:
        assert response["Content-Type"] == "application/json", response.content[:300]


def test_authorize_never_fails_on_what_a_client_sends(client, gateway_keys):
    secrets = [secret for _, secret in gateway_keys]

    @given(
        authorization=st.sampled_from(secrets).map("Bearer {}".format)
        | header_text
        | st.sampled_from(secrets).map(lambda s: f"bearer  {s}\t"),
        headers=forwarded_headers,
        body=bodies,
        method=methods,
        path=paths,
        query=header_text,
    )
    @settings(FUZZ, max_examples=400)
    def call(authorization, headers, body, method, path, query):
        sent = {"X-Gateway-Token": GATEWAY_TOKEN, "Authorization": authorization, **headers}
        content_type = sent.pop("Content-Type", "application/json")
        response = client.generic(
            method,
            AUTHORIZE_URL + path,
            data=body,
            content_type=content_type,
            headers=sent,
            QUERY_STRING=query,
        )
        _assert_answered(response)
        seen.add(response.status_code)

    seen = set()
    call()
    # The run got past the key and the model checks, not only refusals of malformed input.
    assert {200, 401, 403} <= seen, seen


def test_authorize_never_fails_on_a_huge_declared_length(client, gateway_keys):
    """A body longer than GATEWAY_MAX_BODY_BYTES is not read: its declared length bounds the
    prompt, however large the number."""
    secrets = [secret for _, secret in gateway_keys]

    @given(
        secret=st.sampled_from(secrets),
        declared=st.integers(min_value=8 * 2**20 + 1, max_value=10**40),
        model=st.sampled_from(MODELS),
    )
    @settings(FUZZ, max_examples=30)
    def call(secret, declared, model):
        response = client.generic(
            "POST",
            AUTHORIZE_URL,
            data=b"{}",
            content_type="application/json",
            headers={
                "X-Gateway-Token": GATEWAY_TOKEN,
                "Authorization": f"Bearer {secret}",
                "X-Gateway-Model": model,
                "X-Gateway-Reports-Usage": "true",
            },
            CONTENT_LENGTH=str(declared),
        )
        _assert_answered(response)

    call()


def test_usage_never_fails_on_arbitrary_events(client, gateway_keys):
    key_ids = [str(key.pk) for key, _ in gateway_keys]
    plain_key = gateway_keys[0][0]
    fields = ["request_id", "key_id", "model", "input_tokens", "output_tokens"]
    fields += ["status_code", "latency_ms", "occurred_at"]

    @given(
        overrides=st.dictionaries(
            st.sampled_from(fields),
            json_values | huge | unicode_digits | st.sampled_from(key_ids + MODELS),
            max_size=4,
        ),
        batch=st.booleans(),
        raw=st.none() | st.binary(max_size=100) | json_values.map(json.dumps),
    )
    @settings(FUZZ, max_examples=200)
    def call(overrides, batch, raw):
        if raw is not None:
            data = raw
        else:
            event = usage_event(plain_key, **overrides)
            data = json.dumps({"events": [event, usage_event(plain_key)]} if batch else event)
        response = client.post(
            USAGE_URL,
            data=data,
            content_type="application/json",
            headers={"X-Gateway-Token": GATEWAY_TOKEN},
        )
        assert response.status_code < 500, response.content[:300]
        assert response["Content-Type"] == "application/json"
        seen.add(response.status_code)

    seen = set()
    call()
    assert {200, 201, 400, 422} <= seen, seen
    # The wallet's arithmetic stayed within what it can hold.
    assert Wallet.objects.get(org=plain_key.org).balance_micros <= micros("1000.00")
