"""Holds (docs/contract.md section 2): for a gateway that reports usage (X-Gateway-Reports-Usage),
authorize reserves the request's worst-case cost on the wallet and on the key's and team's
counters under the request id it gives the request; the usage event of that request replaces
it by the actual cost; an unsettled hold is released after HOLD_TTL. Nothing a client sends
(X-Request-Id, token counts) steers it."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.ledger.models import ModelPrice
from billing.limits import holds
from billing.limits.models import Counter, Hold
from billing.limits.periods import LimitPeriod, period_bounds
from tests.factories import make_key
from tests.support.gateway import (
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


def _hold(authorize, secret, *, prompt_bytes=1000, model="gpt-4o-mini", headers=None, **body):
    """A request through a gateway that reports usage, with a prompt of `prompt_bytes` bytes
    of text (its input tokens' upper bound) and any other body fields."""
    return authorize(
        secret,
        model=None,
        reports_usage=True,
        body={"model": model, "prompt": "x" * prompt_bytes, **body},
        headers=headers,
    )


def _request_id(response) -> str:
    assert response.status_code == 200, response.content
    return response["X-Gateway-Request-Id"]


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


def test_authorize_places_a_hold_of_the_worst_case_cost_under_the_request_id_it_gives(
    authorize, org, team, key_and_secret, settings
):
    key, secret = key_and_secret
    before = datetime.now(UTC)

    response = _hold(authorize, secret, max_tokens=500)

    request_id = _request_id(response)
    assert re.fullmatch(r"req_[0-9a-f]{32}", request_id)
    assert response.json()["request_id"] == request_id
    amount = expected_cost_micros("gpt-4o-mini", 1000, 500)
    assert amount == 540  # (1,000 × 0.15 + 500 × 0.60) × 1.20
    hold = Hold.objects.get()
    assert (hold.org_id, hold.request_id, hold.key_id, hold.team_id) == (
        org.pk,
        request_id,
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


def test_every_allowed_request_gets_an_id_of_its_own(authorize, key_and_secret):
    _, secret = key_and_secret

    ids = {_request_id(_hold(authorize, secret, max_tokens=1)) for _ in range(3)}

    assert len(ids) == 3
    assert set(Hold.objects.values_list("request_id", flat=True)) == ids


def test_the_input_tokens_default_to_the_byte_length_of_the_prompt(authorize, org, key_and_secret):
    _, secret = key_and_secret
    prompt = "Grüße aus Köln, 東京"

    authorize(
        secret,
        model=None,
        reports_usage=True,
        body={"model": "gpt-4o", "prompt": prompt, "max_tokens": 10},
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

    authorize(secret, model=None, reports_usage=True, body=body)

    text_bytes = sum(len(m["content"].encode()) for m in messages)
    amount = Hold.objects.get().amount_micros
    assert expected_cost_micros("gpt-4o", text_bytes, 1) <= amount
    assert amount <= expected_cost_micros("gpt-4o", len(str(body).encode()), 1)


def test_token_counts_and_a_request_id_sent_by_the_client_change_nothing(
    authorize, org, key_and_secret
):
    _, secret = key_and_secret
    client_headers = {
        "X-Request-Id": "req_chosen_by_the_client",
        "X-Gateway-Input-Tokens": "900000000",
        "X-Gateway-Max-Tokens": "1",
    }

    first = _hold(authorize, secret, max_tokens=500, headers=client_headers)
    second = _hold(authorize, secret, max_tokens=500, headers=client_headers)

    ids = {_request_id(first), _request_id(second)}
    assert len(ids) == 2
    assert "req_chosen_by_the_client" not in ids
    assert sorted(Hold.objects.values_list("amount_micros", flat=True)) == [540, 540]


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens", "max_output_tokens"])
def test_the_output_tokens_come_from_the_bodys_limit(authorize, org, key_and_secret, field):
    _, secret = key_and_secret

    _hold(authorize, secret, **{field: 250})

    assert Hold.objects.get().amount_micros == expected_cost_micros("gpt-4o-mini", 1000, 250)


def test_the_output_tokens_come_from_a_gemini_generation_config(authorize, org, key_and_secret):
    _, secret = key_and_secret

    authorize(
        secret,
        model=None,
        reports_usage=True,
        body={
            "contents": [{"parts": [{"text": "x" * 100}]}],
            "generationConfig": {"maxOutputTokens": 64},
        },
        headers={"X-Forwarded-Uri": "/v1beta/models/gemini-2.0-flash:generateContent"},
    )

    assert Hold.objects.get().amount_micros == expected_cost_micros("gemini-2.0-flash", 100, 64)


@pytest.mark.parametrize("value", ["²", "-5", "5.5", True, [5], {"n": 5}, 0])
def test_an_output_limit_that_is_not_a_positive_whole_number_counts_as_none(
    authorize, org, key_and_secret, value
):
    _, secret = key_and_secret

    response = _hold(authorize, secret, max_tokens=value)

    assert response.status_code == 200
    # The model's longest answer; a string's bytes count towards the prompt's upper bound.
    text = len(value.encode()) if isinstance(value, str) else 0
    assert Hold.objects.get().amount_micros == expected_cost_micros(
        "gpt-4o-mini", 1000 + text, 16_000
    )


def test_without_an_output_limit_the_hold_assumes_the_models_longest_answer(
    authorize, org, key_and_secret
):
    _, secret = key_and_secret

    _hold(authorize, secret)

    assert Hold.objects.get().amount_micros == WORST_CASE_1000_IN == 11_700


def test_a_gateway_that_does_not_report_usage_gets_no_hold(authorize, org, key_and_secret):
    _, secret = key_and_secret

    response = authorize(secret, body={"model": "gpt-4o-mini", "prompt": "x" * 1000})

    assert response.status_code == 200
    assert response["X-Gateway-Request-Id"]
    _nothing_held(org)


def test_without_a_model_nothing_is_held(authorize, org, key_and_secret):
    org.plan.models.clear()
    _, secret = key_and_secret

    response = authorize(secret, model=None, reports_usage=True)

    assert response.status_code == 200
    _nothing_held(org)


def test_a_request_refused_by_requests_per_minute_holds_nothing(authorize, org):
    key, secret = make_key(org, name="rpm", rpm_limit=1)

    allowed = _hold(authorize, secret)
    refused = _hold(authorize, secret)

    assert_denied(refused, 429, "rate_limit_exceeded", reset_at=True)
    assert list(Hold.objects.values_list("request_id", flat=True)) == [_request_id(allowed)]
    assert set(_held(org, key).values()) == {WORST_CASE_1000_IN}


def test_a_free_request_refused_by_requests_per_minute_holds_nothing_either(authorize, org):
    # A free model's hold is of 0 µ$: still a hold row, which the refusal must take back.
    ModelPrice.objects.filter(model="gpt-4o-mini").update(input_per_million=0, output_per_million=0)
    _, secret = make_key(org, name="free-rpm", rpm_limit=1)

    allowed = _hold(authorize, secret)
    refused = [_hold(authorize, secret) for _ in range(2)]

    assert {r.status_code for r in refused} == {429}
    assert list(Hold.objects.values_list("request_id", flat=True)) == [_request_id(allowed)]


# A cap the hold would pass refuses the request with that cap's 402 and holds nothing


def test_a_hold_that_would_pass_the_keys_monthly_cap_is_refused(authorize, org):
    _, secret = make_key(org, name="capped", monthly_spend_cap=Decimal("0.0117") - Decimal("1e-6"))

    response = _hold(authorize, secret)

    error = assert_denied(response, 402, "api_key_quota_exceeded", reset_at=True)
    # The key's first request: its counter did not exist yet; waiting helps from the month's end.
    month_end = period_bounds(LimitPeriod.MONTHLY, datetime.now(UTC), org.timezone)[1]
    assert parse_time(error["reset_at"]) == month_end
    _nothing_held(org)


def test_a_hold_that_would_pass_the_keys_cost_limit_is_refused(authorize, org):
    key, secret = make_key(org, name="limited", cost_limit=Decimal("1.00"))
    set_counter(key=key, kind="limit", spend="0.99")

    response = _hold(authorize, secret)

    assert_denied(response, 402, "api_key_quota_exceeded", reset_at=True)
    assert not Hold.objects.exists()
    assert wallet_of(org).held_micros == 0
    assert counter_of(key=key, kind="limit").held_micros == 0


def test_a_hold_that_would_pass_the_teams_cap_is_refused(authorize, org, team, key_and_secret):
    _, secret = key_and_secret
    type(team).objects.filter(pk=team.pk).update(spend_cap=Decimal("0.01"))

    response = _hold(authorize, secret)

    error = assert_denied(response, 402, "team_quota_exceeded", reset_at=True)
    month_end = period_bounds(LimitPeriod.MONTHLY, datetime.now(UTC), org.timezone)[1]
    assert parse_time(error["reset_at"]) == month_end
    _nothing_held(org)


def test_a_hold_that_the_wallet_cannot_cover_is_refused(authorize, org, key_and_secret):
    _, secret = key_and_secret
    set_wallet(org, balance="0.01")

    response = _hold(authorize, secret)

    assert_denied(response, 402, "billing_shortfall")
    _nothing_held(org)


def test_a_hold_that_exactly_fills_the_cap_is_allowed_and_the_next_one_refused(authorize, org):
    key, secret = make_key(org, name="capped", monthly_spend_cap=Decimal("0.0234"))

    answers = [_hold(authorize, secret) for _ in range(3)]

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
    request_id = _request_id(_hold(authorize, secret))

    response = post_usage(
        usage_event(
            key, request_id=request_id, model="gpt-4o-mini", input_tokens=980, output_tokens=200
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
    one, two = (_request_id(_hold(authorize, secret)) for _ in range(2))

    post_usage(usage_event(key, request_id=one, input_tokens=10, output_tokens=10))

    assert set(_held(org, key).values()) == {WORST_CASE_1000_IN}
    assert Hold.objects.get(closed_at__isnull=True).request_id == two


def test_release_expired_releases_holds_past_their_ttl_once(authorize, org, team, key_and_secret):
    key, secret = key_and_secret
    stale, fresh = (_request_id(_hold(authorize, secret)) for _ in range(2))
    now = datetime.now(UTC)
    Hold.objects.filter(request_id=stale).update(expires_at=now - timedelta(seconds=1))

    released = holds.release_expired(now=now)
    again = holds.release_expired(now=now)

    assert (released, again) == (1, 0)
    assert Hold.objects.get(request_id=stale).closed_at == now
    assert Hold.objects.get(request_id=fresh).closed_at is None
    assert set(_held(org, key, team).values()) == {WORST_CASE_1000_IN}
    assert counter_of(key=key, kind="month").spend_micros == 0
    assert wallet_of(org).balance_micros == micros(WALLET_BALANCE)


def test_a_usage_event_after_its_hold_was_released_counts_its_cost_and_releases_nothing_twice(
    authorize, post_usage, org, team, key_and_secret
):
    key, secret = key_and_secret
    late, _open = (_request_id(_hold(authorize, secret)) for _ in range(2))
    Hold.objects.filter(request_id=late).update(expires_at=datetime.now(UTC) - timedelta(minutes=1))
    assert holds.release_expired(now=datetime.now(UTC)) == 1

    response = post_usage(usage_event(key, request_id=late, input_tokens=1000, output_tokens=100))

    assert response.status_code == 201
    cost = expected_cost_micros("gpt-4o-mini", 1000, 100)
    assert set(_held(org, key, team).values()) == {WORST_CASE_1000_IN}  # the open one's
    assert counter_of(key=key, kind="month").spend_micros == cost
    assert wallet_of(org).balance_micros == micros(WALLET_BALANCE) - cost


def test_the_scheduled_task_releases_expired_holds(authorize, org, key_and_secret):
    from billing.limits.tasks import release_expired_holds

    _, secret = key_and_secret
    _request_id(_hold(authorize, secret))
    Hold.objects.update(expires_at=datetime.now(UTC) - timedelta(seconds=1))

    assert release_expired_holds.delay().get() == 1
    assert wallet_of(org).held_micros == 0


def test_a_usage_event_naming_another_key_than_its_hold_still_releases_that_hold(
    authorize, post_usage, org, key_and_secret
):
    held_key, secret = key_and_secret
    other_key, _ = make_key(org, name="reported-key")
    request_id = _request_id(_hold(authorize, secret))

    response = post_usage(
        usage_event(other_key, request_id=request_id, input_tokens=10, output_tokens=10)
    )

    assert response.status_code == 201
    assert counter_of(key=held_key, kind="month").held_micros == 0
    assert counter_of(key=held_key, kind="limit").held_micros == 0
    assert counter_of(key=held_key, kind="month").spend_micros == 0
    assert counter_of(key=other_key, kind="month").spend_micros == expected_cost_micros(
        "gpt-4o-mini", 10, 10
    )
    assert wallet_of(org).held_micros == 0
