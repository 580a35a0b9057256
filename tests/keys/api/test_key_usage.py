"""GET /api/v1/keys/{id}/usage: requests, tokens and cost of one key per hour or per day of the
org's time zone, optionally per model; cost as an exact decimal string."""

from datetime import UTC, datetime, timedelta

import pytest

from billing.usage.models import UsageEvent
from billing.usage.rollups import rebuild_rollups
from keys.models import Key
from tests.factories import make_key
from tests.support.api import error_of

pytestmark = pytest.mark.django_db

DAY = "from=2026-03-01T00:00:00Z&to=2026-03-03T00:00:00Z"


def _event(
    key, request_id, at, *, model="gpt-4o-mini", input_tokens=100, output_tokens=10, cost=150
):
    return UsageEvent.objects.create(
        org=key.org,
        request_id=request_id,
        key=key,
        team=key.team,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_micros=cost,
        status_code=200,
        occurred_at=at,
    )


@pytest.fixture
def usage(key):
    _event(key, "r1", datetime(2026, 3, 1, 9, 15, tzinfo=UTC))
    _event(key, "r2", datetime(2026, 3, 1, 9, 45, tzinfo=UTC), model="gpt-4o", cost=2_500_000)
    _event(key, "r3", datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    _event(key, "r4", datetime(2026, 3, 2, 8, 0, tzinfo=UTC), input_tokens=1, output_tokens=2)
    # Outside the range, and another key's.
    _event(key, "r5", datetime(2026, 3, 3, 0, 0, tzinfo=UTC))
    other, _ = make_key(key.org, name="other")
    _event(other, "r6", datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    # Made directly, not through record_batch: their hourly rollups are built here.
    rebuild_rollups()


def _buckets(response) -> list[tuple]:
    assert response.status_code == 200, response.content
    return [
        (b["start"], b["model"], b["requests"], b["input_tokens"], b["output_tokens"], b["cost"])
        for b in response.json()["data"]
    ]


def test_it_sums_usage_per_day(api, key, usage):
    response = api.get(f"/api/v1/keys/{key.pk}/usage?{DAY}&granularity=day")

    assert _buckets(response) == [
        ("2026-03-01T00:00:00Z", None, 3, 300, 30, "2.500300"),
        ("2026-03-02T00:00:00Z", None, 1, 1, 2, "0.000150"),
    ]
    body = response.json()
    assert (body["key"], body["granularity"], body["timezone"]) == (str(key.pk), "day", "UTC")
    assert (body["from"], body["to"]) == ("2026-03-01T00:00:00Z", "2026-03-03T00:00:00Z")


def test_it_sums_usage_per_hour_and_model(api, key, usage):
    response = api.get(f"/api/v1/keys/{key.pk}/usage?{DAY}&granularity=hour&by_model=true")

    assert _buckets(response) == [
        ("2026-03-01T09:00:00Z", "gpt-4o", 1, 100, 10, "2.500000"),
        ("2026-03-01T09:00:00Z", "gpt-4o-mini", 1, 100, 10, "0.000150"),
        ("2026-03-01T23:00:00Z", "gpt-4o-mini", 1, 100, 10, "0.000150"),
        ("2026-03-02T08:00:00Z", "gpt-4o-mini", 1, 1, 2, "0.000150"),
    ]


def test_days_are_the_orgs_days(api, org, key, usage):
    org.timezone = "Asia/Tokyo"  # UTC+9: 23:30 UTC on the 1st is the 2nd there
    org.save()

    response = api.get(f"/api/v1/keys/{key.pk}/usage?{DAY}&granularity=day")

    assert _buckets(response) == [
        ("2026-03-01T00:00:00+09:00", None, 2, 200, 20, "2.500150"),
        ("2026-03-02T00:00:00+09:00", None, 2, 101, 12, "0.000300"),
    ]


def test_a_deleted_keys_usage_stays(api, key, usage):
    Key.objects.filter(pk=key.pk).update(status="deleted")

    response = api.get(f"/api/v1/keys/{key.pk}/usage?{DAY}")

    assert [b[2] for b in _buckets(response)] == [3, 1]


def test_no_usage_is_an_empty_list(api, key):
    assert _buckets(api.get(f"/api/v1/keys/{key.pk}/usage")) == []


def test_from_must_be_before_to(api, key):
    response = api.get(
        f"/api/v1/keys/{key.pk}/usage?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z"
    )

    assert response.status_code == 422
    assert error_of(response)["param"] == "from"


@pytest.mark.parametrize(
    ("granularity", "days"),
    [("hour", 31), ("day", 366)],
)
def test_a_range_may_span_up_to_its_granularitys_limit(api, key, granularity, days):
    response = api.get(
        f"/api/v1/keys/{key.pk}/usage",
        {
            "from": "2025-01-01T00:00:00Z",
            "to": _days_later("2025-01-01", days),
            "granularity": granularity,
        },
    )

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("granularity", "days", "query"),
    [
        ("hour", 31, {"from": "2025-01-01T00:00:00Z", "to": "2025-02-01T00:00:01Z"}),
        ("day", 366, {"from": "2025-01-01T00:00:00Z", "to": "2026-01-02T00:00:01Z"}),
        ("day", 366, {"from": "2000-01-01T00:00:00Z"}),
        ("hour", 31, {"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T00:00:00Z"}),
    ],
)
def test_a_wider_range_is_a_422_naming_from(api, key, granularity, days, query):
    response = api.get(f"/api/v1/keys/{key.pk}/usage", {**query, "granularity": granularity})

    assert response.status_code == 422
    error = error_of(response)
    assert (error["code"], error["param"]) == ("invalid_request", "from")
    assert f"at most {days} days" in error["message"]


def _days_later(day: str, days: int) -> str:
    return (datetime.fromisoformat(day) + timedelta(days=days)).strftime("%Y-%m-%dT00:00:00Z")


@pytest.mark.parametrize(
    "query", ["granularity=minute", "from=yesterday", "from=2026-03-01T00:00:00"]
)
def test_bad_parameters_are_a_422(api, key, query):
    response = api.get(f"/api/v1/keys/{key.pk}/usage?{query}")

    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid_request"


def test_another_orgs_key_is_a_404(api, other_org_key):
    _event(other_org_key, "theirs", datetime(2026, 3, 1, 9, 0, tzinfo=UTC))

    response = api.get(f"/api/v1/keys/{other_org_key.pk}/usage?{DAY}")

    assert response.status_code == 404


def test_times_at_the_edge_of_the_calendar_are_a_422_not_a_500(api, key):
    for query in ("to=0001-01-02T00:00:00Z", "from=0001-01-01T00:00:00%2B23:59"):
        response = api.get(f"/api/v1/keys/{key.pk}/usage?{query}")

        assert response.status_code == 422, query
        assert error_of(response)["code"] == "invalid_request"


def test_an_offset_postgresql_cannot_store_is_taken_as_utc(api, key, usage):
    response = api.get(
        f"/api/v1/keys/{key.pk}/usage?from=2026-03-01T17:41:00%2B17:41&to=2026-03-03T00:00:00Z"
    )

    assert [b[2] for b in _buckets(response)] == [3, 1]
