"""Hourly rollups equal the usage events they sum, after mixed and repeated batches, and a
rebuild gives the same rows however often it runs."""

from datetime import UTC, datetime

import pytest
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncHour

from billing.usage.models import UsageEvent, UsageHourly
from billing.usage.rollups import rebuild_rollups
from tests.billing.usage.conftest import event, record
from tests.factories import make_key

pytestmark = pytest.mark.django_db

AT = datetime(2026, 3, 9, 10, 15, tzinfo=UTC)


def rollups() -> set[tuple]:
    return set(
        UsageHourly.objects.values_list(
            "key_id",
            "team_id",
            "model",
            "hour",
            "requests",
            "input_tokens",
            "output_tokens",
            "cost_micros",
            "errors",
        )
    )


def from_events() -> set[tuple]:
    rows = (
        UsageEvent.objects.annotate(hour=TruncHour("occurred_at"))
        .values("key_id", "team_id", "model", "hour")
        .annotate(
            requests=Count("id"),
            i=Sum("input_tokens"),
            o=Sum("output_tokens"),
            c=Sum("cost_micros"),
            e=Count("id", filter=Q(status_code__gte=400)),
        )
    )
    return {
        (
            r["key_id"],
            r["team_id"],
            r["model"],
            r["hour"],
            r["requests"],
            r["i"],
            r["o"],
            r["c"],
            r["e"],
        )
        for r in rows
    }


@pytest.fixture
def keys(org, team):
    return make_key(org, name="a", team=team)[0], make_key(org, name="b")[0]


def test_rollups_equal_the_events_after_mixed_and_repeated_batches(keys):
    a, b = keys
    record(
        event(a, "r1", AT),
        event(a, "r2", AT.replace(minute=50), model="gpt-4o", status=500),
        event(b, "r3", AT),
        event(a, "r1", AT),  # repeated within the batch
    )
    record(
        event(a, "r1", AT),  # repeated across batches
        event(a, "r4", AT.replace(minute=59)),
        event(a, "r5", AT.replace(hour=11)),
        event(b, "r6", AT, status=429),
        event(b, "bad", AT, model="mystery-model-9000"),  # rejected
    )

    assert rollups() == from_events()
    row = UsageHourly.objects.get(key=a, model="gpt-4o-mini", hour=AT.replace(minute=0))
    assert (row.requests, row.input_tokens, row.team_id) == (2, 2000, a.team_id)
    assert UsageHourly.objects.get(key=b, hour=AT.replace(minute=0)).errors == 1
    assert sum(r.requests for r in UsageHourly.objects.all()) == UsageEvent.objects.count() == 6


def test_rebuild_is_idempotent_and_repairs_the_rollups(org, keys):
    a, b = keys
    record(
        event(a, "r1", AT), event(b, "r2", AT.replace(day=8)), event(a, "r3", AT.replace(hour=3))
    )
    expected = rollups()
    UsageHourly.objects.filter(key=a).update(requests=99)
    UsageHourly.objects.filter(key=b).delete()

    rebuild_rollups()
    assert rollups() == expected
    rebuild_rollups()
    rebuild_rollups(org=org, since=AT.replace(hour=2, minute=30))
    assert rollups() == expected == from_events()


def test_rebuild_since_leaves_earlier_hours_alone(org, keys):
    a, _ = keys
    record(event(a, "r1", AT.replace(day=1)), event(a, "r2", AT))
    UsageHourly.objects.filter(hour__lt=AT.replace(day=2)).update(requests=7)

    rebuild_rollups(org=org, since=AT.replace(day=5))

    assert UsageHourly.objects.get(hour__lt=AT.replace(day=2)).requests == 7
    assert UsageHourly.objects.get(hour__gte=AT.replace(day=2)).requests == 1


def test_the_command_rebuilds(org, keys):
    from django.core.management import call_command

    a, _ = keys
    record(event(a, "r1", AT))
    UsageHourly.objects.all().delete()

    call_command("rebuild_usage_rollups", "--org", org.slug)

    assert rollups() == from_events()
