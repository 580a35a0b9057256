"""Allowed requests (docs/contract.md section 2): 200 with the contract's JSON and the same facts as
headers the gateway passes upstream; where the model comes from; legacy keys; and that
rotation, disabling and deleting take effect on the very next request."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from audit import Actor
from billing.limits.periods import LimitPeriod, period_bounds
from keys import services
from keys.models import Key
from tests.factories import make_key
from tests.support.gateway import assert_denied, iso, parse_time, set_counter

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("tests")


@pytest.fixture
def production_app(org, team):
    key, secret = make_key(
        org,
        name="production-app",
        team=team,
        user_id="user-42",
        monthly_spend_cap=Decimal("100.00"),
        token_limit=1_000_000,
        rpm_limit=60,
    )
    month = set_counter(key=key, kind="month", spend="12.34")
    limit = set_counter(key=key, kind="limit", spend="12.34", tokens=5120)
    return key, secret, month, limit


def test_an_allowed_request_answers_the_contracts_body(authorize, org, team, production_app):
    key, secret, month, limit = production_app
    before = datetime.now(UTC)

    response = authorize(secret, model="gpt-4o-mini")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    reset_at = parse_time(body["limits"]["rpm"].pop("reset_at"))
    assert before + timedelta(seconds=59) <= reset_at <= datetime.now(UTC) + timedelta(seconds=61)
    assert re.fullmatch(r"req_[0-9a-f]{32}", body.pop("request_id"))
    assert body == {
        "allowed": True,
        "key": {
            "id": str(key.pk),
            "name": "production-app",
            "team": str(team.pk),
            "user_id": "user-42",
        },
        "org": str(org.pk),
        "profile": None,
        "plan": {"name": "pro", "price_multiplier": "1.20"},
        "model": "gpt-4o-mini",
        "limits": {
            "spend": {"limit": "100.00", "used": "12.34", "period_end": iso(month.period_end)},
            "tokens": {"limit": 1_000_000, "used": 5120, "period_end": iso(limit.period_end)},
            "rpm": {"limit": 60, "remaining": 59},
        },
    }


def test_an_allowed_request_answers_the_same_facts_as_headers(authorize, team, production_app):
    key, secret, _, _ = production_app

    response = authorize(secret, model="gpt-4o-mini")

    assert response["X-Key-Id"] == str(key.pk)
    assert response["X-Team-Id"] == str(team.pk)
    assert response["X-User-Id"] == "user-42"
    assert response["X-RateLimit-Limit"] == "60"
    assert response["X-RateLimit-Remaining"] == "59"
    assert response["X-RateLimit-Reset"] == response.json()["limits"]["rpm"]["reset_at"]
    assert response["X-Gateway-Request-Id"] == response.json()["request_id"]
    assert response["X-Gateway-Model"] == "gpt-4o-mini"
    # Absent or empty: a standard key has no routing profile.
    assert response.get("X-Gateway-Profile", "") == ""


def test_the_rate_limit_headers_count_down(authorize, production_app):
    _, secret, _, _ = production_app

    remaining = [authorize(secret)["X-RateLimit-Remaining"] for _ in range(3)]

    assert remaining == ["59", "58", "57"]


def test_a_key_without_usage_reports_zero_used_and_the_current_period_end(authorize, org):
    _, secret = make_key(
        org,
        name="fresh",
        monthly_spend_cap=Decimal("5.00"),
        token_limit=1000,
        limit_period=LimitPeriod.DAILY,
    )
    now = datetime.now(UTC)

    limits = authorize(secret).json()["limits"]

    assert limits["spend"] == {
        "limit": "5.00",
        "used": "0.00",
        "period_end": iso(period_bounds(LimitPeriod.MONTHLY, now, "UTC")[1]),
    }
    assert limits["tokens"] == {
        "limit": 1000,
        "used": 0,
        "period_end": iso(period_bounds(LimitPeriod.DAILY, now, "UTC")[1]),
    }
    assert limits["rpm"] is None


def test_a_profile_key_returns_its_profile_in_the_body_and_a_header(authorize, org):
    key, secret = make_key(org, name="routed", type="profile", profile="eu-only")

    response = authorize(secret)

    assert response.status_code == 200
    assert response.json()["profile"] == "eu-only"
    assert response["X-Gateway-Profile"] == "eu-only"
    assert response["X-Key-Id"] == str(key.pk)


def test_a_legacy_key_without_any_limit_is_allowed(authorize, org):
    key, secret = make_key(org, name="legacy")
    assert key.is_legacy

    response = authorize(secret, model="gpt-4o")

    assert response.status_code == 200
    body = response.json()
    assert body["key"] == {"id": str(key.pk), "name": "legacy", "team": None, "user_id": None}
    assert body["limits"] == {"spend": None, "tokens": None, "rpm": None}
    assert response.get("X-RateLimit-Limit", "") == ""


def test_an_org_without_a_plan_pays_list_prices(authorize, org, key_and_secret):
    org.plan = None
    org.save()
    _, secret = key_and_secret

    response = authorize(secret, model="claude-3-5-sonnet")

    assert response.status_code == 200
    assert response.json()["plan"]["price_multiplier"] == "1.00"


# Where the model comes from: JSON body, X-Gateway-Model, a Gemini-style original path


def test_the_model_is_read_from_the_json_body(authorize, key_and_secret):
    _, secret = key_and_secret

    response = authorize(
        secret, body={"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}
    )

    assert response.json()["model"] == "gpt-4o"


def test_the_model_is_read_from_x_gateway_model(authorize, key_and_secret):
    _, secret = key_and_secret

    response = authorize(secret, headers={"X-Gateway-Model": "gpt-4o"})

    assert response.json()["model"] == "gpt-4o"


@pytest.mark.parametrize("header", ["X-Forwarded-Uri", "X-Original-URI", "X-Envoy-Original-Path"])
@pytest.mark.parametrize("method", ["generateContent", "streamGenerateContent"])
def test_the_model_is_read_from_a_gemini_path(authorize, key_and_secret, header, method):
    _, secret = key_and_secret

    response = authorize(
        secret,
        model=None,
        method="GET",
        headers={header: f"/v1beta/models/gemini-2.0-flash:{method}"},
    )

    assert response.status_code == 200
    assert response.json()["model"] == "gemini-2.0-flash"


def test_a_gemini_request_carries_key_and_model_in_one_original_uri(authorize, key_and_secret):
    key, secret = key_and_secret

    response = authorize(
        model=None,
        headers={
            "X-Forwarded-Uri": f"/v1beta/models/gemini-2.0-flash:generateContent?key={secret}"
        },
    )

    assert response.status_code == 200
    assert response.json()["model"] == "gemini-2.0-flash"
    assert response["X-Key-Id"] == str(key.pk)


def test_the_body_model_wins_over_the_header_and_the_path(authorize, key_and_secret):
    _, secret = key_and_secret

    response = authorize(
        secret,
        body={"model": "gpt-4o"},
        headers={
            "X-Gateway-Model": "gpt-4o-mini",
            "X-Forwarded-Uri": "/v1beta/models/gemini-2.0-flash:generateContent",
        },
    )

    assert response.json()["model"] == "gpt-4o"


def test_the_header_model_wins_over_the_path(authorize, key_and_secret):
    _, secret = key_and_secret

    response = authorize(
        secret,
        headers={
            "X-Gateway-Model": "gpt-4o-mini",
            "X-Forwarded-Uri": "/v1beta/models/gemini-2.0-flash:generateContent",
        },
    )

    assert response.json()["model"] == "gpt-4o-mini"


def test_the_model_of_a_gemini_path_is_checked_like_any_other(authorize, key_and_secret):
    _, secret = key_and_secret

    response = authorize(
        secret,
        model=None,
        headers={"X-Forwarded-Uri": "/v1beta/models/gemini-1.5-pro:generateContent"},
    )

    assert_denied(response, 403, "model_not_allowed")


def test_a_request_that_names_no_model_is_allowed_with_model_null_when_nothing_needs_it(
    authorize, org
):
    org.plan.models.clear()
    _, secret = make_key(org, name="unscoped")

    response = authorize(secret, model=None, headers={"X-Forwarded-Uri": "/v1/models"})

    assert response.status_code == 200
    assert response.json()["model"] is None
    assert response["X-Gateway-Model"] == ""


# Rotation, disabling and deleting take effect on the very next request


def test_the_old_secret_works_during_the_rotation_grace_period(authorize, key_and_secret):
    key, old_secret = key_and_secret
    _, new_secret = services.rotate_key(key=key, actor=ACTOR, grace_hours=2)

    old, new = authorize(old_secret), authorize(new_secret)

    assert (old.status_code, new.status_code) == (200, 200)
    assert old["X-Key-Id"] == new["X-Key-Id"] == str(key.pk)


def test_the_old_secret_is_refused_once_the_grace_period_has_ended(authorize, key_and_secret):
    key, old_secret = key_and_secret
    _, new_secret = services.rotate_key(key=key, actor=ACTOR, grace_hours=2)
    assert authorize(old_secret).status_code == 200
    Key.objects.filter(pk=key.pk).update(grace_until=datetime.now(UTC) - timedelta(seconds=1))

    assert_denied(authorize(old_secret), 401, "invalid_api_key")
    assert authorize(new_secret).status_code == 200


def test_rotating_without_grace_refuses_the_old_secret_on_the_very_next_call(
    authorize, key_and_secret
):
    key, old_secret = key_and_secret
    assert authorize(old_secret).status_code == 200

    _, new_secret = services.rotate_key(key=key, actor=ACTOR)

    assert_denied(authorize(old_secret), 401, "invalid_api_key")
    assert authorize(new_secret).status_code == 200


def test_disabling_refuses_the_very_next_call_and_enabling_allows_it_again(
    authorize, key_and_secret
):
    key, secret = key_and_secret
    assert authorize(secret).status_code == 200

    services.disable_key(key=key, actor=ACTOR)
    assert_denied(authorize(secret), 401, "api_key_disabled")

    services.enable_key(key=key, actor=ACTOR)
    assert authorize(secret).status_code == 200


def test_deleting_refuses_the_very_next_call(authorize, key_and_secret):
    key, secret = key_and_secret
    assert authorize(secret).status_code == 200

    services.delete_key(key=key, actor=ACTOR)

    assert_denied(authorize(secret), 401, "invalid_api_key")


def test_deleting_a_key_in_its_grace_period_refuses_the_old_secret_too(authorize, key_and_secret):
    key, old_secret = key_and_secret
    key, new_secret = services.rotate_key(key=key, actor=ACTOR, grace_hours=24)

    services.delete_key(key=key, actor=ACTOR)

    assert_denied(authorize(old_secret), 401, "invalid_api_key")
    assert_denied(authorize(new_secret), 401, "invalid_api_key")


def test_a_batch_disable_refuses_the_very_next_call(authorize, org, key_and_secret):
    key, secret = key_and_secret
    assert authorize(secret).status_code == 200

    services.change_keys(org=org, actor=ACTOR, key_ids=[key.pk], action="disable")

    assert_denied(authorize(secret), 401, "api_key_disabled")
