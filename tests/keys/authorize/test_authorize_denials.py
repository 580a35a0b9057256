"""Denials of authorize (docs/contract.md section 2): the status, the code and an OpenAI-style body
{"error": {"type", "code", "message"}} (+ "reset_at" where waiting helps), checked in the
table's order: the first check that fails answers."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from audit import Actor
from gateway_console import secret
from keys import services
from keys.models import Key
from tests.factories import make_key
from tests.support.gateway import (
    UNPRICED_MODEL,
    assert_denied,
    iso,
    parse_time,
    set_counter,
    set_wallet,
    usage_event,
)

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("tests")


def _update(key, **fields) -> None:
    Key.objects.filter(pk=key.pk).update(**fields)


def _update_team(team, **fields) -> None:
    type(team).objects.filter(pk=team.pk).update(**fields)


# 401 invalid_api_key: no key, malformed, bad checksum, unknown, deleted


def _bad_checksum(valid: str) -> str:
    last = valid[-1]
    return valid[:-1] + ("A" if last != "A" else "B")


def test_a_request_without_a_key_is_refused_as_invalid(authorize, key_and_secret):
    assert_denied(authorize(None, model="gpt-4o-mini"), 401, "invalid_api_key")


@pytest.mark.parametrize(
    "candidate",
    [
        "",
        "not-a-key",
        "sk-gw-short",
        "sk-proj-" + "a" * 44,
        "sk-gw-" + "!" * 46,
    ],
)
def test_a_malformed_key_is_refused_as_invalid(authorize, key_and_secret, candidate):
    assert_denied(authorize(headers={"X-Api-Key": candidate}), 401, "invalid_api_key")


def test_a_key_with_a_bad_checksum_is_refused_as_invalid(authorize, key_and_secret):
    _, valid = key_and_secret

    assert_denied(authorize(_bad_checksum(valid)), 401, "invalid_api_key")


def test_a_well_formed_key_that_was_never_issued_is_refused_as_invalid(authorize, key_and_secret):
    made_up = secret.new_secret()

    assert secret.is_well_formed(made_up)
    assert_denied(authorize(made_up), 401, "invalid_api_key")


def test_a_deleted_key_is_refused_like_an_unknown_key(authorize, key_and_secret):
    key, valid = key_and_secret
    services.delete_key(key=key, actor=ACTOR)

    error = assert_denied(authorize(valid), 401, "invalid_api_key")

    assert error == assert_denied(authorize(secret.new_secret()), 401, "invalid_api_key")


# 401 api_key_disabled, api_key_expired


def test_a_disabled_key_is_refused(authorize, key_and_secret):
    key, valid = key_and_secret
    services.disable_key(key=key, actor=ACTOR)

    error = assert_denied(authorize(valid), 401, "api_key_disabled")

    assert "disabled" in error["message"]


def test_a_key_past_its_expiration_is_refused(authorize, org):
    expired_at = datetime.now(UTC) - timedelta(minutes=1)
    _, valid = make_key(org, name="old", expires_at=expired_at)

    error = assert_denied(authorize(valid), 401, "api_key_expired")

    assert "expired" in error["message"]


def test_a_key_before_its_expiration_is_allowed(authorize, org):
    _, valid = make_key(org, name="soon", expires_at=datetime.now(UTC) + timedelta(minutes=1))

    assert authorize(valid).status_code == 200


# 403 model_not_allowed


def test_a_model_outside_the_keys_scope_is_refused(authorize, org):
    _, valid = make_key(org, name="scoped", model_scope=("gpt-4o",))

    error = assert_denied(authorize(valid, model="gpt-4o-mini"), 403, "model_not_allowed")

    assert "gpt-4o-mini" in error["message"]
    assert authorize(valid, model="gpt-4o").status_code == 200


def test_a_model_without_a_price_is_refused(authorize, org):
    # Even when the key's scope names it.
    _, valid = make_key(org, name="scoped", model_scope=(UNPRICED_MODEL,))

    error = assert_denied(authorize(valid, model=UNPRICED_MODEL), 403, "model_not_allowed")

    assert UNPRICED_MODEL in error["message"]


def test_a_priced_model_outside_the_orgs_plan_is_refused(authorize, key_and_secret):
    _, valid = key_and_secret

    error = assert_denied(authorize(valid, model="claude-3-5-sonnet"), 403, "model_not_allowed")

    assert "claude-3-5-sonnet" in error["message"]


def test_a_plan_that_lists_no_models_allows_every_priced_model(authorize, key_and_secret, plan):
    _, valid = key_and_secret
    plan.models.clear()

    assert authorize(valid, model="claude-3-5-sonnet").status_code == 200
    assert_denied(authorize(valid, model=UNPRICED_MODEL), 403, "model_not_allowed")


# 402 billing_shortfall


@pytest.mark.parametrize("balance", ["0", "-0.000001", "-25.00"])
def test_a_wallet_at_or_below_zero_is_refused(authorize, key_and_secret, org, balance):
    _, valid = key_and_secret
    set_wallet(org, balance=balance)

    assert_denied(authorize(valid, model="gpt-4o-mini"), 402, "billing_shortfall")


def test_a_wallet_with_a_millionth_of_a_dollar_left_is_allowed(authorize, key_and_secret, org):
    _, valid = key_and_secret
    set_wallet(org, balance="0.000001")

    assert authorize(valid).status_code == 200


# 402 api_key_quota_exceeded, team_quota_exceeded


@pytest.mark.parametrize("spend", ["10.00", "10.50"])
def test_a_key_at_its_monthly_spend_cap_is_refused_until_the_period_ends(authorize, org, spend):
    key, valid = make_key(org, name="capped", monthly_spend_cap=Decimal("10.00"))
    counter = set_counter(key=key, kind="month", spend=spend)

    error = assert_denied(authorize(valid), 402, "api_key_quota_exceeded", reset_at=True)

    assert parse_time(error["reset_at"]) == counter.period_end
    assert "10.00" in error["message"]


def test_a_key_just_below_its_monthly_spend_cap_is_allowed(authorize, org):
    key, valid = make_key(org, name="capped", monthly_spend_cap=Decimal("10.00"))
    set_counter(key=key, kind="month", spend="9.999999")

    assert authorize(valid).status_code == 200


def test_a_key_at_its_cost_limit_is_refused(authorize, org):
    key, valid = make_key(org, name="limited", cost_limit=Decimal("5.00"), limit_period="daily")
    counter = set_counter(key=key, kind="limit", spend="5.00", period="daily")

    error = assert_denied(authorize(valid), 402, "api_key_quota_exceeded", reset_at=True)

    assert parse_time(error["reset_at"]) == counter.period_end


def test_a_key_that_reached_its_cap_through_usage_events_is_refused(authorize, post_usage, org):
    # gpt-4o: 1,000,000 input tokens at $2.50 × 1.20 = $3.00 per event.
    key, valid = make_key(org, name="capped", monthly_spend_cap=Decimal("6.00"))
    first = post_usage(usage_event(key, model="gpt-4o", input_tokens=1_000_000, output_tokens=0))

    assert first.status_code == 201
    assert authorize(valid).status_code == 200

    post_usage(usage_event(key, model="gpt-4o", input_tokens=1_000_000, output_tokens=0))

    assert_denied(authorize(valid), 402, "api_key_quota_exceeded", reset_at=True)


def test_a_team_at_its_spend_cap_is_refused(authorize, key_and_secret, team):
    _, valid = key_and_secret
    _update_team(team, spend_cap=Decimal("50.00"))
    counter = set_counter(team=team, kind="limit", spend="50.00")

    error = assert_denied(authorize(valid), 402, "team_quota_exceeded", reset_at=True)

    assert parse_time(error["reset_at"]) == counter.period_end


def test_the_team_cap_counts_the_spend_of_all_its_keys(authorize, post_usage, org, team):
    _update_team(team, spend_cap=Decimal("6.00"))
    first, _ = make_key(org, name="first", team=team)
    second, second_secret = make_key(org, name="second", team=team)
    for key in (first, second):
        response = post_usage(
            usage_event(key, model="gpt-4o", input_tokens=1_000_000, output_tokens=0)
        )
        assert response.status_code == 201

    assert_denied(authorize(second_secret), 402, "team_quota_exceeded", reset_at=True)


# 429 token_limit_exceeded


def test_a_key_at_its_token_limit_is_refused(authorize, org):
    key, valid = make_key(org, name="tokens", token_limit=10_000, limit_period="weekly")
    counter = set_counter(key=key, kind="limit", tokens=10_000, period="weekly")

    error = assert_denied(authorize(valid), 429, "token_limit_exceeded", reset_at=True)

    assert parse_time(error["reset_at"]) == counter.period_end


def test_a_key_below_its_token_limit_is_allowed(authorize, org):
    key, valid = make_key(org, name="tokens", token_limit=10_000)
    set_counter(key=key, kind="limit", tokens=9_999)

    assert authorize(valid).status_code == 200


def test_a_team_at_its_token_limit_is_refused(authorize, key_and_secret, team):
    _, valid = key_and_secret
    _update_team(team, token_limit=1_000)
    counter = set_counter(team=team, kind="limit", tokens=1_200)

    error = assert_denied(authorize(valid), 429, "token_limit_exceeded", reset_at=True)

    assert parse_time(error["reset_at"]) == counter.period_end


# 429 rate_limit_exceeded


def _assert_retry_after(response, error) -> None:
    retry_after = int(response["Retry-After"])
    reset_at = parse_time(error["reset_at"])
    now = datetime.now(UTC)
    assert 1 <= retry_after <= 60
    assert now < reset_at <= now + timedelta(seconds=61)


def test_a_key_at_its_requests_per_minute_is_refused_with_retry_after(authorize, org):
    _, valid = make_key(org, name="rpm", rpm_limit=2)

    first, second, third = (authorize(valid) for _ in range(3))

    assert (first.status_code, second.status_code) == (200, 200)
    assert (first["X-RateLimit-Remaining"], second["X-RateLimit-Remaining"]) == ("1", "0")
    error = assert_denied(third, 429, "rate_limit_exceeded", reset_at=True)
    _assert_retry_after(third, error)


def test_a_team_at_its_requests_per_minute_is_refused_for_every_key_of_the_team(
    authorize, org, team
):
    _update_team(team, rpm_limit=1)
    _, first_secret = make_key(org, name="first", team=team)
    _, second_secret = make_key(org, name="second", team=team)

    assert authorize(first_secret).status_code == 200
    refused = authorize(second_secret)

    error = assert_denied(refused, 429, "rate_limit_exceeded", reset_at=True)
    _assert_retry_after(refused, error)


def test_only_allowed_requests_count_towards_requests_per_minute(authorize, org):
    _, valid = make_key(org, name="rpm", rpm_limit=1)
    set_wallet(org, balance="0")

    for _ in range(3):
        assert_denied(authorize(valid), 402, "billing_shortfall")
    set_wallet(org, balance="10.00")

    assert authorize(valid).status_code == 200
    assert_denied(authorize(valid), 429, "rate_limit_exceeded", reset_at=True)


# A counter whose period has ended counts as zero (the reset job has not run yet)


def test_a_key_over_its_monthly_cap_in_an_ended_period_is_allowed(authorize, org):
    key, valid = make_key(org, name="capped", monthly_spend_cap=Decimal("10.00"))
    set_counter(key=key, kind="month", spend="25.00", ended=True)

    response = authorize(valid)

    assert response.status_code == 200
    assert response.json()["limits"]["spend"]["used"] == "0.00"


def test_a_key_over_its_cost_and_token_limits_in_an_ended_period_is_allowed(authorize, org):
    key, valid = make_key(org, name="limited", cost_limit=Decimal("5.00"), token_limit=100)
    set_counter(key=key, kind="limit", spend="9.00", tokens=500, ended=True)

    assert authorize(valid).status_code == 200


def test_a_team_over_its_caps_in_an_ended_period_is_allowed(authorize, key_and_secret, team):
    _, valid = key_and_secret
    _update_team(team, spend_cap=Decimal("50.00"), token_limit=1_000)
    set_counter(team=team, kind="limit", spend="80.00", tokens=5_000, ended=True)

    assert authorize(valid).status_code == 200


# The order of the checks: the first that fails answers


def test_a_disabled_key_with_an_empty_wallet_answers_api_key_disabled(
    authorize, key_and_secret, org
):
    key, valid = key_and_secret
    services.disable_key(key=key, actor=ACTOR)
    set_wallet(org, balance="0")

    assert_denied(authorize(valid), 401, "api_key_disabled")


def test_a_key_over_its_cap_with_an_empty_wallet_answers_billing_shortfall(authorize, org):
    key, valid = make_key(org, name="capped", monthly_spend_cap=Decimal("10.00"))
    set_counter(key=key, kind="month", spend="10.00")
    set_wallet(org, balance="0")

    assert_denied(authorize(valid), 402, "billing_shortfall")


def test_a_deleted_key_that_is_also_expired_answers_invalid_api_key(authorize, org):
    key, valid = make_key(org, name="gone", expires_at=datetime.now(UTC) - timedelta(days=1))
    services.delete_key(key=key, actor=ACTOR)

    assert_denied(authorize(valid), 401, "invalid_api_key")


def test_each_check_answers_before_every_later_one(authorize, org, team):
    """A key that fails every check at once: each check answers in turn, in the contract's
    order, as the ones before it are put right."""
    key, valid = make_key(org, name="everything-wrong", team=team, rpm_limit=1)
    assert authorize(valid, model="gpt-4o-mini").status_code == 200  # uses the minute's request

    _update(
        key,
        status="disabled",
        expires_at=datetime.now(UTC) - timedelta(hours=1),
        model_scope=["gpt-4o"],
        monthly_spend_cap=Decimal("10.00"),
        cost_limit=Decimal("20.00"),
        token_limit=1_000,
    )
    _update_team(team, spend_cap=Decimal("30.00"), token_limit=2_000)
    set_counter(key=key, kind="month", spend="10.00")
    set_counter(key=key, kind="limit", spend="20.00", tokens=1_000)
    set_counter(team=team, kind="limit", spend="30.00", tokens=2_000)
    set_wallet(org, balance="0")

    def answer() -> tuple[int, str]:
        response = authorize(valid, model="gpt-4o-mini")
        if response.status_code == 200:
            return 200, "allowed"
        return response.status_code, response.json()["error"]["code"]

    steps = [
        (lambda: _update(key, status="active"), (401, "api_key_disabled")),
        (lambda: _update(key, expires_at=None), (401, "api_key_expired")),
        (lambda: _update(key, model_scope=[]), (403, "model_not_allowed")),
        (lambda: set_wallet(org, balance="100.00"), (402, "billing_shortfall")),
        (lambda: _update(key, monthly_spend_cap=None), (402, "api_key_quota_exceeded")),
        (lambda: _update(key, cost_limit=None), (402, "api_key_quota_exceeded")),
        (lambda: _update_team(team, spend_cap=None), (402, "team_quota_exceeded")),
        (lambda: _update(key, token_limit=None), (429, "token_limit_exceeded")),
        (lambda: _update_team(team, token_limit=None), (429, "token_limit_exceeded")),
        (lambda: _update(key, rpm_limit=None), (429, "rate_limit_exceeded")),
    ]
    answers = []
    for put_right, _ in steps:
        answers.append(answer())
        put_right()
    answers.append(answer())

    assert answers == [expected for _, expected in steps] + [(200, "allowed")]


def test_quota_errors_name_the_period_end_as_reset_at_in_utc(authorize, org):
    org.timezone = "America/New_York"
    org.save()
    key, valid = make_key(org, name="capped", monthly_spend_cap=Decimal("1.00"))
    counter = set_counter(key=key, kind="month", spend="1.00")

    error = assert_denied(authorize(valid), 402, "api_key_quota_exceeded", reset_at=True)

    assert error["reset_at"] == iso(counter.period_end)
    assert error["reset_at"].endswith("Z")
