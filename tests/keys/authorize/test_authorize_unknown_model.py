"""Authorize never allows what it cannot check (docs/contract.md section 2): a request whose model
the console cannot learn is refused with 403 `model_required` when a model scope (the key's or
the plan's) needs it, or, for a gateway that reports usage, when a cap needs it for the hold.
Where nothing needs it, it passes with `model: null` and holds nothing."""

import io
import json
from decimal import Decimal

import pytest
from django.test import RequestFactory

from billing.limits.models import Hold
from gateway_console.models import Team
from keys.authorize import read_gateway_request
from tests.factories import make_key
from tests.support.gateway import assert_denied

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_plan(org):
    """The org's plan covers every priced model."""
    org.plan.models.clear()
    return org.plan


def test_a_scoped_key_is_refused_when_the_model_is_unknown(authorize, org):
    _, secret = make_key(org, name="scoped", model_scope=("gpt-4o-mini",))

    response = authorize(secret, model=None, headers={"X-Forwarded-Uri": "/v1/chat/completions"})

    error = assert_denied(response, 403, "model_required")
    assert "may only call certain models" in error["message"]
    assert '"model"' in error["message"]


def test_a_plan_that_lists_its_models_refuses_a_request_of_unknown_model(authorize, org):
    _, secret = make_key(org, name="unscoped")

    response = authorize(secret, model=None)

    error = assert_denied(response, 403, "model_required")
    assert "plan covers only certain models" in error["message"]


def test_without_a_scope_a_request_of_unknown_model_passes_with_model_null(
    authorize, org, open_plan
):
    _, secret = make_key(org, name="open")

    response = authorize(secret, model=None, reports_usage=True)

    assert response.status_code == 200
    assert response.json()["model"] is None
    assert not Hold.objects.exists()


@pytest.mark.parametrize(
    "limits",
    [
        {"monthly_spend_cap": Decimal("10.00")},
        {"cost_limit": Decimal("10.00")},
        {"token_limit": 1000},
    ],
)
def test_a_reporting_gateway_is_refused_an_unknown_model_for_a_key_with_a_cap(
    authorize, org, open_plan, limits
):
    _, secret = make_key(org, name="capped", **limits)

    response = authorize(secret, model=None, reports_usage=True)

    error = assert_denied(response, 403, "model_required")
    assert "caps" in error["message"]
    assert not Hold.objects.exists()


@pytest.mark.parametrize("limits", [{"spend_cap": Decimal("10.00")}, {"token_limit": 1000}])
def test_a_reporting_gateway_is_refused_an_unknown_model_for_a_team_with_a_cap(
    authorize, org, open_plan, team, limits
):
    Team.objects.filter(pk=team.pk).update(**limits)
    _, secret = make_key(org, name="in-a-capped-team", team=team)

    response = authorize(secret, model=None, reports_usage=True)

    assert_denied(response, 403, "model_required")


def test_a_requests_per_minute_limit_needs_no_model(authorize, org, open_plan):
    _, secret = make_key(org, name="rpm-only", rpm_limit=10)

    response = authorize(secret, model=None, reports_usage=True)

    assert response.status_code == 200


def test_a_gateway_that_does_not_report_usage_passes_a_capped_key_of_unknown_model(
    authorize, org, open_plan
):
    # What a body-less gateway (Caddy) can enforce: the counters as they stand. Nothing could
    # hold this request's cost, and nothing will report it (docs/gateway.md says so).
    _, secret = make_key(org, name="capped", monthly_spend_cap=Decimal("10.00"))

    response = authorize(secret, model=None)

    assert response.status_code == 200
    assert not Hold.objects.exists()


def test_the_reporting_header_is_read_as_a_flag(authorize, org, open_plan):
    _, secret = make_key(org, name="capped", monthly_spend_cap=Decimal("10.00"))

    answers = [
        authorize(secret, model=None, headers={"X-Gateway-Reports-Usage": value}).status_code
        for value in ("true", "1", "on", "false", "0", "")
    ]

    assert answers == [403, 403, 403, 200, 200, 200]


def test_a_model_named_in_the_body_is_checked_against_the_scope(authorize, org):
    _, secret = make_key(org, name="scoped", model_scope=("gpt-4o-mini",))

    response = authorize(secret, model=None, body={"model": "gpt-4o"})

    assert_denied(response, 403, "model_not_allowed")


# How much of the body authorize reads


def test_a_body_longer_than_the_console_reads_is_not_parsed(authorize, org, settings):
    settings.GATEWAY_MAX_BODY_BYTES = 100
    _, secret = make_key(org, name="scoped", model_scope=("gpt-4o-mini",))

    response = authorize(secret, model=None, body={"model": "gpt-4o-mini", "prompt": "x" * 200})

    assert_denied(response, 403, "model_required")


def test_a_body_of_exactly_the_limit_is_read(authorize, org, settings):
    body = json.dumps({"model": "gpt-4o-mini", "prompt": "x" * 60})
    settings.GATEWAY_MAX_BODY_BYTES = len(body)
    _, secret = make_key(org, name="scoped", model_scope=("gpt-4o-mini",))

    response = authorize(secret, model=None, body=body)

    assert response.status_code == 200
    assert response.json()["model"] == "gpt-4o-mini"


def _chunked_request(body: bytes, *, terminated: bool):
    request = RequestFactory().generic(
        "GET", "/api/v1/gateway/authorize", headers={"X-Gateway-Token": "t"}
    )
    request.META.pop("CONTENT_LENGTH", None)
    request.META["wsgi.input"] = io.BytesIO(body)
    if terminated:
        request.META["wsgi.input_terminated"] = True
    return request


def test_a_chunked_body_is_read_when_the_server_ends_its_input_with_the_body():
    body = json.dumps({"model": "gpt-4o", "max_tokens": 7}).encode()

    asked = read_gateway_request(_chunked_request(body, terminated=True))

    assert (asked.model, asked.body["max_tokens"], asked.body_bytes) == ("gpt-4o", 7, len(body))


def test_a_chunked_body_is_left_unread_when_the_server_cannot_say_where_it_ends():
    asked = read_gateway_request(_chunked_request(b'{"model": "gpt-4o"}', terminated=False))

    assert (asked.model, asked.body) == (None, {})


@pytest.mark.parametrize(
    "body",
    [b"[1, 2]", b'"text"', b"{not json", b"\xff\xfe", b"[" * 100_000, b'{"model": 5}'],
)
def test_a_body_that_is_not_a_json_object_names_no_model(body):
    request = RequestFactory().generic(
        "GET", "/api/v1/gateway/authorize", data=body, content_type="application/json"
    )

    asked = read_gateway_request(request)

    assert asked.model is None
