"""Holds (CONTRACT.md section 2): with X-Request-Id, authorize reserves the request's
worst-case cost on the wallet and on the key's and team's counters; the usage event of that
request replaces it by the actual cost; an unsettled hold is released after HOLD_TTL."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing import holds
from billing.models import Counter, Hold
from billing.periods import LimitPeriod, period_bounds
from tests.factories import make_key
from tests.gateway.conftest import (
    WALLET_BALANCE,
    assert_denied,
    counter_of,
    expected_cost_micros,
    micros,
    parse_time,
    set_counter,
    set_wallet,
    usage_event,
    wallet_of,
)

pytestmark = pytest.mark.django_db

# gpt-4o-mini: $0.15 in, $0.60 out per million, longest answer 16,000 tokens; plan × 1.20.
WORST_CASE_1000_IN = expected_cost_micros("gpt-4o-mini", 1000, 16_000)  # 11,700 µ$


def _hold_headers(request_id: str, **extra) -> dict:
    return {"X-Request-Id": request_id, **extra}


def _held(org, key, team=None) -> dict:
    held = {
        "wallet": wallet_of(org).held_micros,
        "key month": counter_of(key=key, kind="month").held_micros,
        "key limit": counter_of(key=key, kind="limit").held_micros,
    }
    if team is not None:
        held["team limit"] = counter_of(team=team, kind="limit").held_micros
    return held


def _nothing_held(org) -> None:
    assert not Hold.objects.exists()
    assert wallet_of(org).held_micros == 0
    assert not Counter.objects.filter(held_micros__gt=0).exists()


def test_authorize_with_a_request_id_places_a_hold_of_the_worst_case_cost(
    authorize, org, team, key_and_secret, settings
):
    key, secret = key_and_secret
    before = datetime.now(UTC)

    response = authorize(
        secret,
        body={"model": "gpt-4o-mini", "messages": [], "max_tokens": 500},
        headers=_hold_headers("req_hold_1", **{"X-Gateway-Input-Tokens": "1000"}),
    )

    assert response.status_code == 200
    amount = expected_cost_micros("gpt-4o-mini", 1000, 500)
    assert amount == 540  # (1,000 × 0.15 + 500 × 0.60) × 1.20
    hold = Hold.objects.get()
    assert (hold.org_id, hold.request_id, hold.key_id, hold.team_id) == (
        org.pk,
        "req_hold_1",
        key.pk,
        team.pk,
    )
    assert hold.amount_micros == amount
    assert hold.closed_at is None
    ttl = timedelta(seconds=settings.HOLD_TTL)
    assert before + ttl <= hold.expires_at <= datetime.now(UTC) + ttl
    assert _held(org, key, team) == {
        "wallet": amount,
        "key month": amount,
        "key limit": amount,
        "team limit": amount,
    }
    assert wallet_of(org).balance_micros == micros(WALLET_BALANCE)


def test_the_input_tokens_default_to_the_byte_length_of_the_prompt(authorize, org, key_and_secret):
    _, secret = key_and_secret
    prompt = "Grüße aus Köln, 東京"

    authorize(
        secret,
        body={"model": "gpt-4o", "prompt": prompt, "max_tokens": 10},
        headers=_hold_headers("req_bytes"),
    )

    assert Hold.objects.get().amount_micros == expected_cost_micros(
        "gpt-4o", len(prompt.encode()), 10
    )


def test_the_prompt_estimate_of_a_chat_body_bounds_its_text_from_above(
    authorize, org, key_and_secret
):
    _, secret = key_and_secret
    messages = [
        {"role": "system", "content": "You answer in one word."},
        {"role": "user", "content": "Ça va? Wie heißt die Hauptstadt?"},
    ]
    body = {"model": "gpt-4o", "messages": messages, "max_tokens": 1}

    authorize(secret, body=body, headers=_hold_headers("req_chat"))

    text_bytes = sum(len(m["content"].encode()) for m in messages)
    amount = Hold.objects.get().amount_micros
    assert expected_cost_micros("gpt-4o", text_bytes, 1) <= amount
    assert amount <= expected_cost_micros("gpt-4o", len(str(body).encode()), 1)


def test_x_gateway_input_tokens_wins_over_the_prompt_length(authorize, org, key_and_secret):
    _, secret = key_and_secret

    authorize(
        secret,
        body={"model": "gpt-4o", "prompt": "x" * 5000, "max_tokens": 10},
        headers=_hold_headers("req_in", **{"X-Gateway-Input-Tokens": "7"}),
    )

    assert Hold.objects.get().amount_micros == expected_cost_micros("gpt-4o", 7, 10)


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens", "max_output_tokens"])
def test_the_output_tokens_come_from_the_bodys_limit(authorize, org, key_and_secret, field):
    _, secret = key_and_secret

    authorize(
        secret,
        body={"model": "gpt-4o-mini", field: 250},
        headers=_hold_headers(f"req_{field}", **{"X-Gateway-Input-Tokens": "1000"}),
    )

    assert Hold.objects.get().amount_micros == expected_cost_micros("gpt-4o-mini", 1000, 250)


def test_the_output_tokens_come_from_x_gateway_max_tokens(authorize, org, key_and_secret):
    _, secret = key_and_secret

    authorize(
        secret,
        model="gpt-4o-mini",
        headers=_hold_headers(
            "req_hdr", **{"X-Gateway-Input-Tokens": "1000", "X-Gateway-Max-Tokens": "300"}
        ),
    )

    assert Hold.objects.get().amount_micros == expected_cost_micros("gpt-4o-mini", 1000, 300)


def test_the_bodys_limit_wins_over_x_gateway_max_tokens(authorize, org, key_and_secret):
    _, secret = key_and_secret

    authorize(
        secret,
        body={"model": "gpt-4o-mini", "max_tokens": 100},
        headers=_hold_headers(
            "req_both", **{"X-Gateway-Input-Tokens": "1000", "X-Gateway-Max-Tokens": "9000"}
        ),
    )

    assert Hold.objects.get().amount_micros == expected_cost_micros("gpt-4o-mini", 1000, 100)


def test_without_an_output_limit_the_hold_assumes_the_models_longest_answer(
    authorize, org, key_and_secret
):
    _, secret = key_and_secret

    authorize(
        secret,
        model="gpt-4o-mini",
        headers=_hold_headers("req_max", **{"X-Gateway-Input-Tokens": "1000"}),
    )

    assert Hold.objects.get().amount_micros == WORST_CASE_1000_IN == 11_700


def test_without_a_request_id_nothing_is_held(authorize, org, key_and_secret):
    _, secret = key_and_secret

    response = authorize(secret, model="gpt-4o-mini")

    assert response.status_code == 200
    _nothing_held(org)


def test_without_a_model_nothing_is_held(authorize, org, key_and_secret):
    _, secret = key_and_secret

    response = authorize(secret, headers=_hold_headers("req_no_model"))

    assert response.status_code == 200
    _nothing_held(org)


def test_the_same_request_id_authorized_twice_holds_once(authorize, org, team, key_and_secret):
    key, secret = key_and_secret
    headers = _hold_headers("req_retry", **{"X-Gateway-Input-Tokens": "1000"})

    first = authorize(secret, model="gpt-4o-mini", headers=headers)
    second = authorize(secret, model="gpt-4o-mini", headers=headers)

    assert (first.status_code, second.status_code) == (200, 200)
    assert Hold.objects.count() == 1
    assert set(_held(org, key, team).values()) == {WORST_CASE_1000_IN}


def test_a_request_refused_by_requests_per_minute_holds_nothing(authorize, org):
    key, secret = make_key(org, name="rpm", rpm_limit=1)
    input_tokens = {"X-Gateway-Input-Tokens": "1000"}

    allowed = authorize(secret, model="gpt-4o-mini", headers=_hold_headers("req_a", **input_tokens))
    refused = authorize(secret, model="gpt-4o-mini", headers=_hold_headers("req_b", **input_tokens))

    assert allowed.status_code == 200
    assert_denied(refused, 429, "rate_limit_exceeded", reset_at=True)
    assert list(Hold.objects.values_list("request_id", flat=True)) == ["req_a"]
    assert set(_held(org, key).values()) == {WORST_CASE_1000_IN}


# A cap the hold would pass refuses the request with that cap's 402 and holds nothing


def test_a_hold_that_would_pass_the_keys_monthly_cap_is_refused(authorize, org):
    _, secret = make_key(org, name="capped", monthly_spend_cap=Decimal("0.0117") - Decimal("1e-6"))

    response = authorize(
        secret,
        model="gpt-4o-mini",
        headers=_hold_headers("req_1", **{"X-Gateway-Input-Tokens": "1000"}),
    )

    error = assert_denied(response, 402, "api_key_quota_exceeded", reset_at=True)
    # The key's first request: its counter did not exist yet; waiting helps from the month's end.
    month_end = period_bounds(LimitPeriod.MONTHLY, datetime.now(UTC), org.timezone)[1]
    assert parse_time(error["reset_at"]) == month_end
    _nothing_held(org)


def test_a_hold_that_would_pass_the_keys_cost_limit_is_refused(authorize, org):
    key, secret = make_key(org, name="limited", cost_limit=Decimal("1.00"))
    set_counter(key=key, kind="limit", spend="0.99")

    response = authorize(
        secret,
        model="gpt-4o-mini",
        headers=_hold_headers("req_1", **{"X-Gateway-Input-Tokens": "1000"}),
    )

    assert_denied(response, 402, "api_key_quota_exceeded", reset_at=True)
    assert not Hold.objects.exists()
    assert wallet_of(org).held_micros == 0
    assert counter_of(key=key, kind="limit").held_micros == 0


def test_a_hold_that_would_pass_the_teams_cap_is_refused(authorize, org, team, key_and_secret):
    _, secret = key_and_secret
    type(team).objects.filter(pk=team.pk).update(spend_cap=Decimal("0.01"))

    response = authorize(
        secret,
        model="gpt-4o-mini",
        headers=_hold_headers("req_1", **{"X-Gateway-Input-Tokens": "1000"}),
    )

    error = assert_denied(response, 402, "team_quota_exceeded", reset_at=True)
    month_end = period_bounds(LimitPeriod.MONTHLY, datetime.now(UTC), org.timezone)[1]
    assert parse_time(error["reset_at"]) == month_end
    _nothing_held(org)


def test_a_hold_that_the_wallet_cannot_cover_is_refused(authorize, org, key_and_secret):
    _, secret = key_and_secret
    set_wallet(org, balance="0.01")

    response = authorize(
        secret,
        model="gpt-4o-mini",
        headers=_hold_headers("req_1", **{"X-Gateway-Input-Tokens": "1000"}),
    )

    assert_denied(response, 402, "billing_shortfall")
    _nothing_held(org)


def test_a_hold_that_exactly_fills_the_cap_is_allowed_and_the_next_one_refused(authorize, org):
    key, secret = make_key(org, name="capped", monthly_spend_cap=Decimal("0.0234"))
    headers = {"X-Gateway-Input-Tokens": "1000"}

    answers = [
        authorize(secret, model="gpt-4o-mini", headers=_hold_headers(f"req_{n}", **headers))
        for n in range(3)
    ]

    assert [a.status_code for a in answers] == [200, 200, 402]
    assert_denied(answers[2], 402, "api_key_quota_exceeded", reset_at=True)
    assert Hold.objects.count() == 2
    assert (
        counter_of(key=key, kind="month").held_micros == 2 * WORST_CASE_1000_IN == micros("0.0234")
    )


# Settlement by the usage event, release after HOLD_TTL


def test_the_usage_event_replaces_the_hold_by_the_actual_cost(
    authorize, post_usage, org, team, key_and_secret
):
    key, secret = key_and_secret
    authorize(
        secret,
        model="gpt-4o-mini",
        headers=_hold_headers("req_settle", **{"X-Gateway-Input-Tokens": "1000"}),
    )

    response = post_usage(
        usage_event(
            key, request_id="req_settle", model="gpt-4o-mini", input_tokens=980, output_tokens=200
        )
    )

    assert response.status_code == 201
    actual = expected_cost_micros("gpt-4o-mini", 980, 200)
    assert Hold.objects.get().closed_at is not None
    assert set(_held(org, key, team).values()) == {0}
    for counter in (
        counter_of(key=key, kind="month"),
        counter_of(key=key, kind="limit"),
        counter_of(team=team, kind="limit"),
    ):
        assert (counter.spend_micros, counter.tokens) == (actual, 1180)
    assert wallet_of(org).balance_micros == micros(WALLET_BALANCE) - actual


def test_settling_one_hold_leaves_the_others_in_place(authorize, post_usage, org, key_and_secret):
    key, secret = key_and_secret
    headers = {"X-Gateway-Input-Tokens": "1000"}
    for request_id in ("req_one", "req_two"):
        authorize(secret, model="gpt-4o-mini", headers=_hold_headers(request_id, **headers))

    post_usage(usage_event(key, request_id="req_one", input_tokens=10, output_tokens=10))

    assert set(_held(org, key).values()) == {WORST_CASE_1000_IN}
    assert Hold.objects.get(closed_at__isnull=True).request_id == "req_two"


def test_release_expired_releases_holds_past_their_ttl_once(authorize, org, team, key_and_secret):
    key, secret = key_and_secret
    headers = {"X-Gateway-Input-Tokens": "1000"}
    for request_id in ("req_stale", "req_fresh"):
        authorize(secret, model="gpt-4o-mini", headers=_hold_headers(request_id, **headers))
    now = datetime.now(UTC)
    Hold.objects.filter(request_id="req_stale").update(expires_at=now - timedelta(seconds=1))

    released = holds.release_expired(now=now)
    again = holds.release_expired(now=now)

    assert (released, again) == (1, 0)
    assert Hold.objects.get(request_id="req_stale").closed_at == now
    assert Hold.objects.get(request_id="req_fresh").closed_at is None
    assert set(_held(org, key, team).values()) == {WORST_CASE_1000_IN}
    assert counter_of(key=key, kind="month").spend_micros == 0
    assert wallet_of(org).balance_micros == micros(WALLET_BALANCE)


def test_a_usage_event_after_its_hold_was_released_counts_its_cost_and_releases_nothing_twice(
    authorize, post_usage, org, team, key_and_secret
):
    key, secret = key_and_secret
    headers = {"X-Gateway-Input-Tokens": "1000"}
    for request_id in ("req_late", "req_open"):
        authorize(secret, model="gpt-4o-mini", headers=_hold_headers(request_id, **headers))
    Hold.objects.filter(request_id="req_late").update(
        expires_at=datetime.now(UTC) - timedelta(minutes=1)
    )
    assert holds.release_expired(now=datetime.now(UTC)) == 1

    response = post_usage(
        usage_event(key, request_id="req_late", input_tokens=1000, output_tokens=100)
    )

    assert response.status_code == 201
    cost = expected_cost_micros("gpt-4o-mini", 1000, 100)
    assert set(_held(org, key, team).values()) == {WORST_CASE_1000_IN}  # req_open's
    assert counter_of(key=key, kind="month").spend_micros == cost
    assert wallet_of(org).balance_micros == micros(WALLET_BALANCE) - cost


def test_the_scheduled_task_releases_expired_holds(authorize, org, key_and_secret):
    from billing.tasks import release_expired_holds

    _, secret = key_and_secret
    authorize(secret, model="gpt-4o-mini", headers=_hold_headers("req_task"))
    Hold.objects.update(expires_at=datetime.now(UTC) - timedelta(seconds=1))

    assert release_expired_holds.delay().get() == 1
    assert wallet_of(org).held_micros == 0


def test_a_usage_event_naming_another_key_than_its_hold_still_releases_that_hold(
    authorize, post_usage, org, key_and_secret
):
    held_key, secret = key_and_secret
    other_key, _ = make_key(org, name="reported-key")
    authorize(
        secret,
        model="gpt-4o-mini",
        headers=_hold_headers("req_mixed", **{"X-Gateway-Input-Tokens": "1000"}),
    )

    response = post_usage(
        usage_event(other_key, request_id="req_mixed", input_tokens=10, output_tokens=10)
    )

    assert response.status_code == 201
    assert counter_of(key=held_key, kind="month").held_micros == 0
    assert counter_of(key=held_key, kind="limit").held_micros == 0
    assert counter_of(key=held_key, kind="month").spend_micros == 0
    assert counter_of(key=other_key, kind="month").spend_micros == expected_cost_micros(
        "gpt-4o-mini", 10, 10
    )
    assert wallet_of(org).held_micros == 0
