"""POST /api/v1/gateway/usage (docs/contract.md section 3): the console prices each event exactly,
records it once per (org, request_id), adds it to the key's and team's counters and debits the
wallet; bad events get 422 with the field and the reason."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from audit import Actor
from billing.limits.models import Counter
from billing.limits.periods import LimitPeriod, period_bounds
from billing.usage.models import UsageEvent
from keys import services
from tests.factories import make_key
from tests.support.gateway import (
    WALLET_BALANCE,
    assert_denied,
    counter_of,
    expected_cost,
    expected_cost_micros,
    micros,
    set_counter,
    usage_event,
    wallet_of,
)

pytestmark = pytest.mark.django_db


def _state(org, key, team) -> dict:
    """Everything an event moves."""
    counters = {
        f"{c.kind} of {'key' if c.key_id else 'team'}": (c.spend_micros, c.tokens)
        for c in Counter.objects.filter(org=org)
    }
    return {
        "events": UsageEvent.objects.count(),
        "wallet": wallet_of(org).balance_micros,
        **counters,
    }


def test_one_event_is_recorded_with_its_exact_cost(post_usage, org, team, key):
    # gpt-4o: (1,234,567 × $2.50 + 89,012 × $10.00) / 1e6 × 1.20 = $4.771845
    event = usage_event(key, model="gpt-4o", input_tokens=1_234_567, output_tokens=89_012)

    response = post_usage(event)

    assert response.status_code == 201
    assert response.json() == {
        "request_id": event["request_id"],
        "status": "recorded",
        "cost": "4.771845",
    }
    assert Decimal(response.json()["cost"]) == expected_cost("gpt-4o", 1_234_567, 89_012)
    row = UsageEvent.objects.get()
    assert (row.org_id, row.key_id, row.team_id, row.request_id) == (
        org.pk,
        key.pk,
        team.pk,
        event["request_id"],
    )
    assert (row.model, row.input_tokens, row.output_tokens, row.status_code, row.latency_ms) == (
        "gpt-4o",
        1_234_567,
        89_012,
        200,
        830,
    )
    assert row.cost_micros == 4_771_845


@pytest.mark.parametrize(
    ("model", "input_tokens", "output_tokens"),
    [
        ("gpt-4o-mini", 1000, 200),
        ("gpt-4o-mini", 0, 0),
        ("gemini-2.0-flash", 31_337, 4_242),
        ("gpt-4o", 10**9, 10**8),
    ],
)
def test_the_cost_is_price_times_tokens_times_the_plans_multiplier_in_exact_decimals(
    post_usage, key, model, input_tokens, output_tokens
):
    response = post_usage(
        usage_event(key, model=model, input_tokens=input_tokens, output_tokens=output_tokens)
    )

    cost = response.json()["cost"]
    assert Decimal(cost) == expected_cost(model, input_tokens, output_tokens)
    assert UsageEvent.objects.get().cost_micros == expected_cost_micros(
        model, input_tokens, output_tokens
    )


def test_a_repeated_event_is_a_duplicate_and_counts_nothing(post_usage, org, team, key):
    event = usage_event(key)
    assert post_usage(event).status_code == 201
    before = _state(org, key, team)

    response = post_usage(event)

    assert response.status_code == 200
    assert response.json() == {"request_id": event["request_id"], "status": "duplicate"}
    assert _state(org, key, team) == before


def test_a_repeat_with_other_numbers_is_still_a_duplicate(post_usage, org, team, key):
    event = usage_event(key, input_tokens=10)
    post_usage(event)
    before = _state(org, key, team)

    response = post_usage({**event, "input_tokens": 99_999})

    assert response.json()["status"] == "duplicate"
    assert _state(org, key, team) == before
    assert UsageEvent.objects.get().input_tokens == 10


def test_the_same_request_id_in_two_orgs_is_two_events(post_usage, key, other_org):
    other_key, _ = make_key(other_org, name="globex-key")

    first = post_usage(usage_event(key, request_id="req_shared"))
    second = post_usage(usage_event(other_key, request_id="req_shared"))

    assert (first.status_code, second.status_code) == (201, 201)
    assert UsageEvent.objects.filter(request_id="req_shared").count() == 2


def test_the_counters_and_the_wallet_move_by_exactly_the_sum_of_a_batch(post_usage, org, team):
    key, _ = make_key(org, name="daily", team=team, limit_period=LimitPeriod.DAILY)
    type(team).objects.filter(pk=team.pk).update(limit_period=LimitPeriod.WEEKLY)
    events = [
        usage_event(key, model="gpt-4o-mini", input_tokens=1000, output_tokens=200),
        usage_event(key, model="gpt-4o", input_tokens=5000, output_tokens=700),
        usage_event(key, model="gemini-2.0-flash", input_tokens=12_345, output_tokens=678),
    ]
    total = sum(
        expected_cost_micros(e["model"], e["input_tokens"], e["output_tokens"]) for e in events
    )
    tokens = sum(e["input_tokens"] + e["output_tokens"] for e in events)
    now = datetime.now(UTC)

    response = post_usage({"events": events})

    assert response.status_code == 200
    assert response.json()["recorded"] == 3
    month = counter_of(key=key, kind="month")
    limit = counter_of(key=key, kind="limit")
    team_limit = counter_of(team=team, kind="limit")
    assert (month.spend_micros, month.tokens) == (total, tokens)
    assert (limit.spend_micros, limit.tokens) == (total, tokens)
    assert (team_limit.spend_micros, team_limit.tokens) == (total, tokens)
    assert (month.period_start, month.period_end) == period_bounds("monthly", now, "UTC")
    assert (limit.period_start, limit.period_end) == period_bounds("daily", now, "UTC")
    assert (team_limit.period_start, team_limit.period_end) == period_bounds("weekly", now, "UTC")
    assert wallet_of(org).balance_micros == micros(WALLET_BALANCE) - total


def test_events_of_two_keys_of_one_team_add_up_on_the_team(post_usage, org, team):
    first, _ = make_key(org, name="first", team=team)
    second, _ = make_key(org, name="second", team=team)

    post_usage({"events": [usage_event(first), usage_event(second), usage_event(second)]})

    one = expected_cost_micros("gpt-4o-mini", 1000, 200)
    assert counter_of(key=first, kind="month").spend_micros == one
    assert counter_of(key=second, kind="month").spend_micros == 2 * one
    assert counter_of(team=team, kind="limit").spend_micros == 3 * one
    assert wallet_of(org).balance_micros == micros(WALLET_BALANCE) - 3 * one


def test_a_counter_whose_period_ended_restarts_at_the_events_amount(post_usage, org, team, key):
    set_counter(key=key, kind="month", spend="75.00", tokens=900_000, ended=True)
    set_counter(key=key, kind="limit", spend="75.00", tokens=900_000, ended=True)
    set_counter(team=team, kind="limit", spend="75.00", tokens=900_000, ended=True)
    now = datetime.now(UTC)

    post_usage(usage_event(key, input_tokens=1000, output_tokens=200))

    cost = expected_cost_micros("gpt-4o-mini", 1000, 200)
    for counter in Counter.objects.all():
        assert (counter.spend_micros, counter.tokens) == (cost, 1200)
        assert (counter.period_start, counter.period_end) == period_bounds("monthly", now, "UTC")


def test_a_counter_in_its_period_keeps_adding(post_usage, key):
    set_counter(key=key, kind="month", spend="75.00", tokens=900_000)

    post_usage(usage_event(key, input_tokens=1000, output_tokens=200))

    counter = counter_of(key=key, kind="month")
    assert counter.spend_micros == micros("75.00") + expected_cost_micros("gpt-4o-mini", 1000, 200)
    assert counter.tokens == 901_200


def test_usage_of_a_deleted_key_is_still_recorded(post_usage, org, key):
    services.delete_key(key=key, actor=Actor.system("tests"))

    response = post_usage(usage_event(key, request_id="req_after_delete"))

    assert response.status_code == 201
    assert UsageEvent.objects.get().request_id == "req_after_delete"
    assert wallet_of(org).balance_micros < micros(WALLET_BALANCE)


def test_usage_of_a_key_without_a_team_is_recorded_on_the_key_only(post_usage, org, team):
    key, _ = make_key(org, name="no-team")

    assert post_usage(usage_event(key)).status_code == 201
    assert UsageEvent.objects.get().team_id is None
    assert not Counter.objects.filter(team__isnull=False).exists()


# Bad events


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"key_id": "00000000-0000-4000-8000-000000000000"}, "key_id"),
        ({"key_id": "not-a-uuid"}, "key_id"),
        ({"model": "mystery-model-9000"}, "model"),
        ({"input_tokens": -1}, "input_tokens"),
        ({"output_tokens": -5}, "output_tokens"),
        ({"input_tokens": 1.5}, "input_tokens"),
        ({"input_tokens": "100"}, "input_tokens"),
        ({"occurred_at": None}, "occurred_at"),
        ({"occurred_at": "2026-11-22T10:00:00"}, "occurred_at"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"request_id": "req with spaces"}, "request_id"),
        ({"request_id": ""}, "request_id"),
        ({"request_id": "r" * 101}, "request_id"),
        ({"request_id": 42}, "request_id"),
    ],
)
def test_a_bad_event_is_refused_with_422_naming_the_field(post_usage, org, key, change, field):
    event = usage_event(key)
    event.update(change)
    event = {name: value for name, value in event.items() if value is not None}

    response = post_usage(event)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_usage_event"
    assert error["type"] == "invalid_request_error"
    assert error["field"] == field
    assert error["message"]
    assert not UsageEvent.objects.exists()
    assert wallet_of(org).balance_micros == micros(WALLET_BALANCE)


def test_an_event_from_the_future_is_refused(post_usage, key):
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    response = post_usage(usage_event(key, occurred_at=later))

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "occurred_at"


@pytest.mark.smoke
@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00+14:00"])
def test_a_time_before_the_calendar_in_utc_is_refused_naming_occurred_at(post_usage, org, key, at):
    one = post_usage(usage_event(key, occurred_at=at))
    batch = post_usage({"events": [usage_event(key, occurred_at=at)]})

    error = assert_denied_with_field(one, 422, "invalid_usage_event", "occurred_at")
    assert error["message"] == "occurred_at: occurred_at is out of range."
    assert batch.status_code == 422
    assert batch.json()["results"][0]["error"]["field"] == "occurred_at"
    assert not UsageEvent.objects.exists()


def test_a_body_over_the_upload_limit_is_a_413_in_the_contracts_body(post_usage, org, key):
    # Over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), far over 1,000 events.
    events = [usage_event(key, model="m" * 100) for _ in range(10_000)]

    response = post_usage({"events": events})

    assert_denied(response, 413, "batch_too_large")
    assert not UsageEvent.objects.exists()


def test_a_batch_records_the_good_events_and_lists_each_bad_one(post_usage, org, team, key):
    good = [usage_event(key), usage_event(key, model="gpt-4o")]
    unknown_key = usage_event(key, key_id="00000000-0000-4000-8000-000000000000")
    unpriced = usage_event(key, model="mystery-model-9000")
    negative = usage_event(key, output_tokens=-1)
    no_time = usage_event(key)
    del no_time["occurred_at"]
    bad_id = usage_event(key, request_id="bad id!")
    batch = [good[0], unknown_key, unpriced, negative, no_time, bad_id, good[1]]

    response = post_usage({"events": batch})

    assert response.status_code == 200
    body = response.json()
    assert (body["recorded"], body["duplicates"], body["rejected"]) == (2, 0, 5)
    results = body["results"]
    assert [r["index"] for r in results] == list(range(7))
    assert [r["status"] for r in results] == [
        "recorded",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "recorded",
    ]
    assert [r["error"]["field"] for r in results if r["status"] == "rejected"] == [
        "key_id",
        "model",
        "output_tokens",
        "occurred_at",
        "request_id",
    ]
    for result in results:
        if result["status"] == "rejected":
            assert result["error"]["code"] == "invalid_usage_event"
            assert result["error"]["message"]
            assert "cost" not in result
    assert results[0]["request_id"] == good[0]["request_id"]
    assert Decimal(results[6]["cost"]) == expected_cost("gpt-4o", 1000, 200)
    assert set(UsageEvent.objects.values_list("request_id", flat=True)) == {
        e["request_id"] for e in good
    }
    total = expected_cost_micros("gpt-4o-mini", 1000, 200) + expected_cost_micros(
        "gpt-4o", 1000, 200
    )
    assert counter_of(key=key, kind="month").spend_micros == total
    assert wallet_of(org).balance_micros == micros(WALLET_BALANCE) - total


def test_a_batch_reports_repeats_inside_it_and_earlier_ones_as_duplicates(post_usage, key):
    earlier = usage_event(key)
    post_usage(earlier)
    fresh = usage_event(key)

    response = post_usage({"events": [earlier, fresh, fresh]})

    body = response.json()
    assert response.status_code == 200
    assert (body["recorded"], body["duplicates"], body["rejected"]) == (1, 2, 0)
    assert [r["status"] for r in body["results"]] == ["duplicate", "recorded", "duplicate"]
    assert UsageEvent.objects.count() == 2
    assert counter_of(key=key, kind="month").spend_micros == 2 * expected_cost_micros(
        "gpt-4o-mini", 1000, 200
    )


def test_a_batch_of_only_bad_events_is_refused_with_422(post_usage, org, key):
    response = post_usage(
        {"events": [usage_event(key, input_tokens=-1), usage_event(key, model="mystery")]}
    )

    assert response.status_code == 422
    body = response.json()
    assert (body["recorded"], body["rejected"]) == (0, 2)
    assert [r["error"]["field"] for r in body["results"]] == ["input_tokens", "model"]
    assert not UsageEvent.objects.exists()


def test_a_batch_of_1000_events_is_accepted(post_usage, key):
    events = [usage_event(key, input_tokens=1, output_tokens=1) for _ in range(1000)]

    response = post_usage({"events": events})

    assert response.status_code == 200
    assert response.json()["recorded"] == 1000
    assert UsageEvent.objects.count() == 1000


def test_a_batch_of_more_than_1000_events_is_refused_and_records_nothing(post_usage, org, key):
    events = [usage_event(key) for _ in range(1001)]

    response = post_usage({"events": events})

    error = assert_denied_with_field(response, 422, "batch_too_large", "events")
    assert "1001" in error["message"] or "1,001" in error["message"]
    assert not UsageEvent.objects.exists()
    assert wallet_of(org).balance_micros == micros(WALLET_BALANCE)


@pytest.mark.parametrize("events", [[], "not a list", None])
def test_events_must_be_a_non_empty_list(post_usage, events):
    response = post_usage({"events": events})

    assert_denied_with_field(response, 422, "invalid_usage_event", "events")


@pytest.mark.parametrize("body", ["not json", "{", b"\xff\xfe", ""])
def test_a_body_that_is_not_json_is_refused_with_400(post_usage, body):
    response = post_usage(body)

    assert_denied(response, 400, "invalid_json")


def test_a_wrong_gateway_token_is_refused_with_403_and_records_nothing(post_usage, org, key):
    response = post_usage(usage_event(key), token="wrong-token")

    assert_denied(response, 403, "gateway_unauthorized")
    assert not UsageEvent.objects.exists()


def test_a_missing_gateway_token_is_refused_with_403(post_usage, key):
    response = post_usage(usage_event(key), token=None)

    assert_denied(response, 403, "gateway_unauthorized")


def test_usage_is_post_only(client):
    response = client.get("/api/v1/gateway/usage")

    assert response.status_code == 405


def assert_denied_with_field(response, status: int, code: str, field: str) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"type", "code", "message", "field"}
    assert (error["type"], error["code"], error["field"]) == (
        "invalid_request_error",
        code,
        field,
    )
    return error
