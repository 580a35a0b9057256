"""Usage events are kept USAGE_RETENTION_DAYS (issue 13, "Retention"): older ones are deleted in
batches of short transactions, the hourly rollups stay, and the request log and the
reconciliation speak of the retained window only."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.ledger.models import FindingKind
from billing.ledger.reconcile import reconcile_all
from billing.limits.models import Counter
from billing.limits.periods import LimitPeriod
from billing.usage.models import UsageEvent, UsageHourly
from billing.usage.retention import prune_usage_events, usage_window_start
from billing.usage.services import record_batch
from tests.billing.usage.conftest import event
from tests.factories import make_key

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]

NOW = datetime(2027, 6, 15, 12, 0, tzinfo=UTC)


def at(days_ago: float) -> datetime:
    return NOW - timedelta(days=days_ago)


def recorded(key, request_id: str, days_ago: float, *, arrived_days_ago: float | None = None):
    """An event of `days_ago`, recorded (received) `arrived_days_ago` (the same by default)."""
    when = at(days_ago)
    arrived = at(days_ago if arrived_days_ago is None else arrived_days_ago)
    result = record_batch([event(key, request_id, when)], now=arrived)
    assert result.count("recorded") == 1


def rollups() -> list[tuple]:
    return list(
        UsageHourly.objects.order_by("hour", "model").values_list(
            "key_id", "model", "hour", "requests", "input_tokens", "output_tokens", "cost_micros"
        )
    )


def test_events_past_the_retention_go_and_newer_ones_and_every_rollup_stay(key, wallet):
    recorded(key, "old-1", 401)
    recorded(key, "old-2", 500)
    recorded(key, "kept-1", 399)
    recorded(key, "kept-2", 1)
    # Happened long ago but arrived inside the window: a counter counted it, so it stays.
    recorded(key, "late", 600, arrived_days_ago=10)
    hours = rollups()

    assert prune_usage_events(NOW) == 2

    assert sorted(UsageEvent.objects.values_list("request_id", flat=True)) == [
        "kept-1",
        "kept-2",
        "late",
    ]
    assert rollups() == hours
    # Run again: nothing more to do.
    assert prune_usage_events(NOW) == 0


def test_the_window_follows_the_setting(key, wallet, settings):
    settings.USAGE_RETENTION_DAYS = 500
    recorded(key, "450-days", 450)
    recorded(key, "501-days", 501)

    assert usage_window_start(NOW) == at(500)
    assert prune_usage_events(NOW) == 1
    assert list(UsageEvent.objects.values_list("request_id", flat=True)) == ["450-days"]


def test_old_events_go_in_batches_of_the_batch_size(key, wallet, settings):
    settings.RETENTION_BATCH_SIZE = 2
    for n in range(5):
        recorded(key, f"old-{n}", 410 + n)
    recorded(key, "kept", 3)

    with CaptureQueriesContext(connection) as queries:
        assert prune_usage_events(NOW) == 5

    deletes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("DELETE") and "billing_usageevent" in q["sql"]
    ]
    # 2 + 2 + 1: three statements, none over the batch size.
    assert len(deletes) == 3
    assert list(UsageEvent.objects.values_list("request_id", flat=True)) == ["kept"]


def test_an_explicit_batch_size_wins(key, wallet):
    for n in range(3):
        recorded(key, f"old-{n}", 420 + n)

    with CaptureQueriesContext(connection) as queries:
        assert prune_usage_events(NOW, batch_size=1) == 3

    assert sum(q["sql"].startswith("DELETE") for q in queries.captured_queries) == 3


def test_the_request_log_says_how_long_events_are_kept(admin_client, key, wallet, settings):
    recorded(key, "req_pruned", 401)
    prune_usage_events(NOW)

    response = admin_client.get("/billing/usage/requests/?request_id=req_pruned")

    assert response.status_code == 404
    body = response.content.decode()
    assert "No request with the id" in body
    assert "Usage events are kept 400 days" in body

    settings.USAGE_RETENTION_DAYS = 730
    body = admin_client.get("/billing/usage/requests/?request_id=req_pruned").content.decode()
    assert "Usage events are kept 730 days" in body


def test_reconciliation_compares_within_the_window_and_says_so(org, team, wallet):
    """A yearly key's counter began inside the window (the retention outlasts a year), so it
    still reconciles after pruning; a `never` counter began before it and is not compared."""
    yearly = make_key(org, name="yearly", team=team, limit_period=LimitPeriod.YEARLY)[0]
    forever = make_key(org, name="forever", team=team, limit_period=LimitPeriod.NEVER)[0]
    recorded(yearly, "y-old", 450)
    recorded(forever, "f-old", 450)
    recorded(yearly, "y-new", 100)
    recorded(forever, "f-new", 100)
    recorded(yearly, "y-now", 0.01)
    assert prune_usage_events(NOW) == 2

    result = reconcile_all(now=NOW)

    # (The wallet fixture sets a balance without a ledger: only counters matter here.)
    assert [f.detail for f in result.findings if f.kind != FindingKind.WALLET] == []
    assert result.window_start == at(400)
    outside = Counter.objects.filter(period_start__lt=at(400))
    assert result.outside_window == outside.count() >= 1
    assert outside.filter(key=forever).exists()

    # CommandError: the wallet fixture's difference.
    with time_machine.travel(NOW, tick=False), pytest.raises(CommandError):
        call_command("reconcile_wallets", stdout=(out := StringIO()), stderr=StringIO())
    assert (
        "Within the retained window only: usage events are kept 400 days, since"
        " 2026-05-11 12:00 UTC" in out.getvalue()
    )
    assert "whose period began earlier were not compared" in out.getvalue()
