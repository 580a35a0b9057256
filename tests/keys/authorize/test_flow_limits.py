"""Tokens per minute and requests in flight at authorize (docs/contract.md section 2), for keys
and teams, with Redis and without it (the per-process fallback): a request holds its worst case
of tokens from authorize until its usage event replaces it by what it used, and counts as in
flight until then (or until HOLD_TTL). Both need a gateway that reports usage."""

import time
from decimal import Decimal

import pytest

from billing.ledger.models import ModelPrice
from billing.limits import ratelimit
from billing.limits.models import Hold
from gateway_console.models import Team
from keys.models import Key
from tests.factories import make_key
from tests.support.gateway import assert_denied, parse_time, usage_event

pytestmark = pytest.mark.django_db

REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture(params=["redis", "per_process"], autouse=True)
def store(request, settings):
    """Every rule holds in Redis and in the per-process fallback alike."""
    settings.REDIS_URL = REDIS_URL if request.param == "redis" else ""
    return request.param


def _ask(
    authorize, secret, *, prompt=1000, max_tokens=100, reports_usage=True, model="gpt-4o-mini"
):
    """A request whose worst case is `prompt` input tokens (bytes of text) + `max_tokens`."""
    return authorize(
        secret,
        model=None,
        reports_usage=reports_usage,
        body={"model": model, "prompt": "x" * prompt, "max_tokens": max_tokens}
        if model
        else {"prompt": "x" * prompt},
    )


def _use(bucket: str) -> tuple[int, int]:
    return ratelimit.flow_use([bucket])[bucket]


def _settle(post_usage, key, response, *, input_tokens: int, output_tokens: int) -> None:
    request_id = response["X-Gateway-Request-Id"]
    event = usage_event(
        key, request_id=request_id, input_tokens=input_tokens, output_tokens=output_tokens
    )
    result = post_usage({"events": [event]})
    assert result.status_code == 200, result.content


def test_tokens_per_minute_refuses_once_the_window_holds_the_limit(authorize, org):
    key, secret = make_key(org, name="tpm", tpm_limit=1500)

    first, second, third = (_ask(authorize, secret) for _ in range(3))

    assert (first.status_code, second.status_code) == (200, 200)
    error = assert_denied(third, 429, "token_rate_limit_exceeded", reset_at=True)
    assert "1,500 tokens per minute" in error["message"]
    assert 1 <= int(third["Retry-After"]) <= 60
    # 1,000 prompt bytes + 100 max_tokens, held twice; the refused request holds nothing.
    assert _use(ratelimit.key_bucket(key.pk)) == (2200, 0)
    assert Hold.objects.filter(key=key).count() == 2


@pytest.mark.smoke  # the embedded default too
def test_a_usage_event_replaces_the_held_tokens_by_the_reported_ones(authorize, post_usage, org):
    key, secret = make_key(org, name="tpm", tpm_limit=1500)
    first, second = _ask(authorize, secret), _ask(authorize, secret)
    assert _ask(authorize, secret).status_code == 429

    _settle(post_usage, key, first, input_tokens=60, output_tokens=40)

    assert _use(ratelimit.key_bucket(key.pk)) == (1200, 0)
    assert _ask(authorize, secret).status_code == 200
    assert second.status_code == 200


def test_in_flight_refuses_until_a_usage_event_ends_a_request(authorize, post_usage, org):
    key, secret = make_key(org, name="flight", max_in_flight=2)
    first, second = _ask(authorize, secret), _ask(authorize, secret)

    refused = _ask(authorize, secret)

    assert (first.status_code, second.status_code) == (200, 200)
    error = assert_denied(refused, 429, "in_flight_limit_exceeded", reset_at=True)
    assert "the limit is 2 in flight" in error["message"]
    assert refused["Retry-After"] == "1"
    assert _use(ratelimit.key_bucket(key.pk)) == (0, 2)

    _settle(post_usage, key, first, input_tokens=10, output_tokens=10)

    assert _use(ratelimit.key_bucket(key.pk)) == (0, 1)
    assert _ask(authorize, secret).status_code == 200


def test_a_request_without_a_usage_event_leaves_the_flight_with_its_hold(authorize, org, settings):
    settings.HOLD_TTL = 1
    _, secret = make_key(org, name="flight", max_in_flight=1)
    assert _ask(authorize, secret).status_code == 200
    assert _ask(authorize, secret).status_code == 429

    time.sleep(1.1)

    assert _ask(authorize, secret).status_code == 200


def test_a_team_limit_counts_all_of_its_keys_together(authorize, post_usage, org, team):
    Team.objects.filter(pk=team.pk).update(max_in_flight=1, tpm_limit=10_000)
    first_key, first_secret = make_key(org, name="first", team=team)
    _, second_secret = make_key(org, name="second", team=team)

    allowed = _ask(authorize, first_secret)
    refused = _ask(authorize, second_secret)

    assert allowed.status_code == 200
    assert_denied(refused, 429, "in_flight_limit_exceeded", reset_at=True)
    assert _use(ratelimit.team_bucket(team.pk)) == (1100, 1)
    _settle(post_usage, first_key, allowed, input_tokens=500, output_tokens=0)
    assert _use(ratelimit.team_bucket(team.pk)) == (500, 0)
    assert _ask(authorize, second_secret).status_code == 200


def test_a_refusal_by_one_limit_records_nothing_in_the_others(authorize, org):
    key, secret = make_key(org, name="both", rpm_limit=1, max_in_flight=5, tpm_limit=10**6)
    assert _ask(authorize, secret).status_code == 200

    refused = _ask(authorize, secret)

    assert_denied(refused, 429, "rate_limit_exceeded", reset_at=True)
    assert _use(ratelimit.key_bucket(key.pk)) == (1100, 1)
    assert Hold.objects.filter(key=key).count() == 1


def test_of_several_full_limits_the_refusal_names_the_one_with_room_last(authorize, org):
    _, secret = make_key(org, name="both", rpm_limit=1, max_in_flight=1)
    assert _ask(authorize, secret).status_code == 200

    refused = _ask(authorize, secret)

    # The in-flight place may free in a second; the minute's request only after a minute.
    error = assert_denied(refused, 429, "rate_limit_exceeded", reset_at=True)
    assert int(refused["Retry-After"]) > 1
    assert parse_time(error["reset_at"])


@pytest.mark.parametrize(
    ("key_limits", "team_limits"),
    [({"tpm_limit": 1000}, {}), ({"max_in_flight": 3}, {}), ({}, {"tpm_limit": 1000})],
    ids=["key-tpm", "key-in-flight", "team-tpm"],
)
def test_a_gateway_that_reports_no_usage_is_refused_for_such_a_key(
    authorize, org, team, key_limits, team_limits
):
    Team.objects.filter(pk=team.pk).update(**team_limits)
    _, secret = make_key(org, name="flow", team=team, **key_limits)

    refused = _ask(authorize, secret, reports_usage=False)

    error = assert_denied(refused, 403, "usage_reports_required")
    assert "X-Gateway-Reports-Usage" in error["message"]
    assert not Hold.objects.exists()


def test_without_the_model_such_a_key_is_refused_as_model_required(authorize, org):
    org.plan.models.clear()  # a plan of every model: the plan needs no model named
    _, secret = make_key(org, name="flow", tpm_limit=1000)

    refused = _ask(authorize, secret, model=None)

    error = assert_denied(refused, 403, "model_required")
    assert "tokens per minute" in error["message"]


def test_a_key_without_such_limits_still_passes_a_gateway_that_reports_no_usage(authorize, org):
    _, secret = make_key(org, name="plain", rpm_limit=100)

    assert _ask(authorize, secret, reports_usage=False).status_code == 200


def test_lifting_a_limit_lets_the_next_request_pass(authorize, org):
    key, secret = make_key(org, name="flight", max_in_flight=1)
    assert _ask(authorize, secret).status_code == 200
    assert _ask(authorize, secret).status_code == 429

    Key.objects.filter(pk=key.pk).update(max_in_flight=None)

    assert _ask(authorize, secret).status_code == 200


def test_usage_settles_what_authorize_held_even_after_the_limit_changed(authorize, post_usage, org):
    key, secret = make_key(org, name="flight", max_in_flight=1)
    first = _ask(authorize, secret)
    Key.objects.filter(pk=key.pk).update(max_in_flight=None)

    _settle(post_usage, key, first, input_tokens=5, output_tokens=5)
    Key.objects.filter(pk=key.pk).update(max_in_flight=1)

    assert _use(ratelimit.key_bucket(key.pk)) == (0, 0)
    assert _ask(authorize, secret).status_code == 200


def test_a_request_declaring_past_any_number_of_tokens_is_held_at_the_most(authorize, org):
    price = ModelPrice.objects.create(
        model="free-llm",
        input_per_million=Decimal(0),
        output_per_million=Decimal(0),
        max_output_tokens=0,  # no longest answer known: the request's own max_tokens counts
    )
    org.plan.models.add(price)
    key, secret = make_key(org, name="tpm", tpm_limit=1000)

    allowed = _ask(authorize, secret, model="free-llm", max_tokens=10**19)

    assert allowed.status_code == 200
    assert _use(ratelimit.key_bucket(key.pk)) == (ratelimit.MAX_TOKENS, 0)
    assert_denied(
        _ask(authorize, secret, model="free-llm"), 429, "token_rate_limit_exceeded", reset_at=True
    )
