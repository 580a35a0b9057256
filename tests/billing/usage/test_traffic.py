"""Gateway traffic figures (billing.usage.traffic): authorize decisions by outcome and usage events,
counted per org and minute in each process and added to the database every few seconds."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from billing.usage import traffic
from billing.usage.models import TrafficKind, TrafficMinute
from tests.factories import OrgFactory, make_key
from tests.support.gateway import usage_event

pytestmark = pytest.mark.django_db


def _counts(org, kind=TrafficKind.AUTHORIZE) -> dict[str, int]:
    rows = TrafficMinute.objects.filter(org=org, kind=kind)
    return {row.outcome: row.count for row in rows}


def test_decisions_are_counted_by_outcome_for_the_keys_org(authorize, org, key_and_secret):
    _, secret = key_and_secret
    _, scoped_secret = make_key(org, name="scoped", model_scope=("gpt-4o",))

    authorize(secret)
    authorize(secret)
    authorize(scoped_secret, model="gpt-4o-mini")
    traffic.meter.flush()

    assert _counts(org) == {"allowed": 2, "model_not_allowed": 1}


def test_a_request_whose_model_is_unknown_is_counted_apart(authorize, org, key_and_secret):
    org.plan.models.clear()
    _, secret = key_and_secret

    authorize(secret, model=None)
    traffic.meter.flush()

    assert _counts(org) == {"allowed_no_model": 1}


def test_a_refusal_before_the_key_is_known_is_counted_for_no_org(authorize, org):
    authorize("sk-gw-not-a-key")
    authorize(None)
    traffic.meter.flush()

    assert not TrafficMinute.objects.exists()


def test_a_request_writes_no_figure_itself(authorize, org, key_and_secret, settings):
    _, secret = key_and_secret
    settings.GATEWAY_TRAFFIC_FLUSH_SECONDS = 3600

    authorize(secret)
    assert not TrafficMinute.objects.exists()

    settings.GATEWAY_TRAFFIC_FLUSH_SECONDS = 0  # tests' setting: every count at once
    authorize(secret)
    assert _counts(org) == {"allowed": 2}


@pytest.mark.django_db(transaction=True)
def test_a_thread_of_the_process_writes_the_figures_every_interval(settings):
    org = OrgFactory(name="Threads", slug="threads")
    settings.GATEWAY_TRAFFIC_FLUSH_SECONDS = 0.05
    meter = traffic.TrafficMeter()

    meter.count(org.pk, TrafficKind.AUTHORIZE, "allowed", 3)
    meter.count(org.pk, TrafficKind.AUTHORIZE, "allowed", 2)

    deadline = time.monotonic() + 5
    while not TrafficMinute.objects.filter(org=org).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _counts(org) == {"allowed": 5}
    settings.GATEWAY_TRAFFIC_FLUSH_SECONDS = 3600  # let the thread sleep


def test_usage_events_are_counted_as_recorded_or_repeated(post_usage, org, key_and_secret):
    key, _ = key_and_secret
    events = [usage_event(key) for _ in range(3)]

    post_usage({"events": events})
    post_usage({"events": events[:1]})
    traffic.meter.flush()

    assert _counts(org, TrafficKind.USAGE) == {"recorded": 3, "duplicate": 1}


def test_two_processes_add_up_in_the_same_minute(org):
    now = datetime.now(UTC)
    first, second = traffic.TrafficMeter(), traffic.TrafficMeter()

    first.count(org.pk, TrafficKind.AUTHORIZE, "allowed", 3, now=now)
    second.count(org.pk, TrafficKind.AUTHORIZE, "allowed", 4, now=now + timedelta(seconds=1))
    first.flush()
    second.flush()

    row = TrafficMinute.objects.get()
    assert row.count == 7
    assert row.last_at == now + timedelta(seconds=1)
    assert row.minute == now.replace(second=0, microsecond=0)


def test_a_flush_that_fails_drops_its_figures_and_the_next_one_works(org, monkeypatch):
    from django.db import DatabaseError

    def broken(counts):
        raise DatabaseError("down")

    meter = traffic.TrafficMeter()
    meter.count(org.pk, TrafficKind.AUTHORIZE, "allowed")
    monkeypatch.setattr(traffic, "_add", broken)
    meter.flush()
    monkeypatch.undo()
    meter.count(org.pk, TrafficKind.AUTHORIZE, "allowed")
    meter.flush()

    assert _counts(org) == {"allowed": 1}


def test_the_summary_lays_out_the_last_hour_minute_by_minute(org):
    now = datetime(2026, 12, 1, 10, 30, 20, tzinfo=UTC)
    meter = traffic.TrafficMeter()
    meter.count(org.pk, TrafficKind.AUTHORIZE, "allowed", 5, now=now - timedelta(minutes=2))
    meter.count(org.pk, TrafficKind.AUTHORIZE, "rate_limit_exceeded", 1, now=now)
    meter.count(org.pk, TrafficKind.USAGE, "recorded", 4, now=now - timedelta(seconds=5))
    # Older than the hour shown: not in the series, but still the last decision's time.
    meter.count(org.pk, TrafficKind.AUTHORIZE, "allowed", 9, now=now - timedelta(hours=3))
    meter.flush()

    summary = traffic.traffic_of(org.pk, now=now)

    assert len(summary.minutes) == 60
    assert summary.minutes[-1] == datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
    assert summary.decisions["allowed"][-3] == 5
    assert summary.decisions["rate_limit_exceeded"][-1] == 1
    assert (summary.allowed, summary.denied, summary.recorded) == (5, 1, 4)
    assert summary.last_usage_at == now - timedelta(seconds=5)
    assert summary.last_decision_at == now


def test_another_orgs_traffic_is_not_in_the_summary(org):
    other = OrgFactory(name="Globex", slug="globex")
    now = datetime.now(UTC)
    traffic.meter.count(other.pk, TrafficKind.AUTHORIZE, "allowed", 5, now=now)
    traffic.meter.flush()

    summary = traffic.traffic_of(org.pk, now=now)

    assert (summary.allowed, summary.last_decision_at) == (0, None)


# Requests that should have been reported by now


def test_requests_allowed_longer_than_hold_ttl_ago_without_usage_since_are_unreported(
    org, settings
):
    settings.HOLD_TTL = 600
    now = datetime(2026, 12, 1, 12, 0, 30, tzinfo=UTC)
    meter = traffic.TrafficMeter()
    meter.count(org.pk, TrafficKind.AUTHORIZE, "allowed", 3, now=now - timedelta(minutes=30))
    meter.count(org.pk, TrafficKind.AUTHORIZE, "allowed", 2, now=now - timedelta(minutes=2))
    meter.count(
        org.pk, TrafficKind.AUTHORIZE, "allowed_no_model", 7, now=now - timedelta(minutes=30)
    )
    meter.flush()

    # Only the requests of 30 minutes ago are overdue; the recent ones may still be reported,
    # and a request with no model is never reported.
    assert traffic.unreported(org.pk, last_usage_at=None, now=now) == 3
    # A usage event after them: the gateway reports.
    assert traffic.unreported(org.pk, last_usage_at=now - timedelta(minutes=20), now=now) == 0
    # A usage event before them: they are still unreported.
    assert traffic.unreported(org.pk, last_usage_at=now - timedelta(minutes=40), now=now) == 3


def test_requests_older_than_a_day_are_not_held_against_the_gateway(org, settings):
    settings.HOLD_TTL = 600
    now = datetime.now(UTC)
    traffic.meter.count(org.pk, TrafficKind.AUTHORIZE, "allowed", 3, now=now - timedelta(days=2))
    traffic.meter.flush()

    assert traffic.unreported(org.pk, last_usage_at=None, now=now) == 0


def test_usage_recorded_while_the_meter_is_paused_is_not_traffic(post_usage, org, key_and_secret):
    key, _ = key_and_secret

    with traffic.meter.paused():
        post_usage(usage_event(key))
    post_usage(usage_event(key))
    traffic.meter.flush()

    assert _counts(org, TrafficKind.USAGE) == {"recorded": 1}
