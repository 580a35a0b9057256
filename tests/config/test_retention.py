"""Retention (issue 13): the settings refuse a usage retention shorter than the longest reset
period plus 30 days; the daily beat task prunes usage events, sign-in logs, show-once nonces,
alerts and findings; ended sessions go too. The audit log is never pruned."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from user_sessions.models import Session

from audit import Actor
from audit.models import AuditEvent
from billing.limits.periods import longest_period_days
from config import retention, tasks
from config.celery import app
from gateway_console.admin_tokens import create_admin_token
from gateway_console.models import AdminTokenShown
from gateway_console.tasks import clear_expired_sessions
from keys import services as key_services
from keys.models import SecretShown
from keys.services import KeySettings

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2027, 6, 15, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.smoke


def test_the_longest_reset_period_is_a_leap_year_so_the_minimum_is_396_days():
    assert longest_period_days() == 366
    assert retention.minimum_usage_days() == 396


def test_the_usage_retention_defaults_to_400_days_and_takes_the_minimum():
    assert retention.usage_retention_days({}) == 400
    assert retention.usage_retention_days({"USAGE_RETENTION_DAYS": "396"}) == 396
    assert retention.usage_retention_days({"USAGE_RETENTION_DAYS": "3650"}) == 3650


@pytest.mark.parametrize("value", ["395", "61", "0", "-5"])
def test_a_usage_retention_under_the_minimum_is_refused(value):
    with pytest.raises(ImproperlyConfigured) as refused:
        retention.usage_retention_days({"USAGE_RETENTION_DAYS": value})

    message = str(refused.value)
    assert f"USAGE_RETENTION_DAYS is {value} days; it must be at least 396" in message
    assert "longest reset period (366 days, a year) plus 30 days" in message


def test_a_retention_that_is_not_a_number_is_refused():
    with pytest.raises(ImproperlyConfigured, match="whole number of days"):
        retention.usage_retention_days({"USAGE_RETENTION_DAYS": "a year"})


def test_the_other_retentions_default_and_refuse_too_short():
    assert retention.alert_retention_days({}) == 400
    assert retention.finding_retention_days({}) == 400
    assert retention.sign_in_log_retention_days(0.25, {}) == 30
    with pytest.raises(ImproperlyConfigured, match="ALERT_RETENTION_DAYS is 90 days"):
        retention.alert_retention_days({"ALERT_RETENTION_DAYS": "90"})
    with pytest.raises(ImproperlyConfigured, match="SIGN_IN_LOG_RETENTION_DAYS is 0 days"):
        retention.sign_in_log_retention_days(0.25, {"SIGN_IN_LOG_RETENTION_DAYS": "0"})
    # The sign-in logs outlive the cool-off window that throttling counts in.
    with pytest.raises(ImproperlyConfigured, match="at least 3"):
        retention.sign_in_log_retention_days(50, {"SIGN_IN_LOG_RETENTION_DAYS": "2"})


def test_the_console_refuses_to_start_with_a_short_usage_retention():
    env = {**os.environ, "DEBUG": "1", "USAGE_RETENTION_DAYS": "61"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    started = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert started.returncode != 0
    assert "USAGE_RETENTION_DAYS is 61 days; it must be at least 396" in started.stderr


def test_beat_prunes_daily():
    entry = app.conf.beat_schedule["prune-past-retention"]
    assert entry["task"] == "config.tasks.prune"
    assert entry["schedule"] == crontab(minute=37, hour=3)
    assert tasks.prune.name == "config.tasks.prune"
    assert "config.tasks.prune" in app.tasks


def _sign_in_rows(when: datetime) -> None:
    common = {
        "user_agent": f"ua {when:%Y-%m-%d}",
        "ip_address": "192.0.2.1",
        "username": "a@b.example",
    }
    common |= {"http_accept": "*/*", "path_info": "/sign-in/"}
    attempt = AccessAttempt.objects.create(
        **common, get_data="", post_data="", failures_since_start=1
    )
    failure = AccessFailureLog.objects.create(**common, locked_out=False)
    log = AccessLog.objects.create(**common)
    for row in (attempt, failure, log):
        type(row).objects.filter(pk=row.pk).update(attempt_time=when)


def _key_with_nonce(org, nonce: str):
    settings_ = KeySettings(name=nonce)
    return key_services.create_key(org=org, actor=Actor.system(), settings_=settings_, nonce=nonce)[
        0
    ]


@pytest.mark.django_db
def test_the_task_prunes_sign_in_logs_nonces_and_keeps_the_audit_log(org):
    _sign_in_rows(NOW - timedelta(days=31))
    _sign_in_rows(NOW - timedelta(days=29))
    key = _key_with_nonce(org, "key-old")
    _key_with_nonce(org, "key-new")
    create_admin_token(org=org, actor=Actor.system(), name="t", read_only=False, nonce="tok-old")
    create_admin_token(org=org, actor=Actor.system(), name="u", read_only=False, nonce="tok-new")
    SecretShown.objects.filter(nonce="key-old").update(created_at=NOW - timedelta(hours=25))
    SecretShown.objects.filter(nonce="key-new").update(created_at=NOW - timedelta(hours=23))
    AdminTokenShown.objects.filter(nonce="tok-old").update(created_at=NOW - timedelta(days=2))
    AdminTokenShown.objects.filter(nonce="tok-new").update(created_at=NOW - timedelta(hours=1))
    audit_events = AuditEvent.objects.count()

    with time_machine.travel(NOW, tick=False):
        pruned = tasks.prune.delay().get()

    assert pruned == {
        "usage_events": 0,
        "sign_in_logs": 3,
        "shown_nonces": 2,
        "alerts": 0,
        "reconciliation_findings": 0,
        "key_sightings": 0,
        # No org opted in to pruning its audit log (tests/audit/test_prune.py).
        "audit_events": 0,
    }
    for model in (AccessAttempt, AccessFailureLog, AccessLog):
        assert model.objects.count() == 1
    assert list(SecretShown.objects.values_list("nonce", flat=True)) == ["key-new"]
    assert list(AdminTokenShown.objects.values_list("nonce", flat=True)) == ["tok-new"]
    assert key.pk  # the key itself stays
    assert AuditEvent.objects.count() == audit_events > 0


@pytest.mark.django_db
def test_ended_sessions_are_cleared_in_batches(settings):
    settings.RETENTION_BATCH_SIZE = 2
    for n in range(5):
        Session.objects.create(
            session_key=f"ended{n}", session_data="", expire_date=NOW - timedelta(minutes=n + 1)
        )
    Session.objects.create(
        session_key="live", session_data="", expire_date=NOW + timedelta(hours=1)
    )

    with time_machine.travel(NOW, tick=False):
        assert clear_expired_sessions.delay().get() == 5

    assert list(Session.objects.values_list("session_key", flat=True)) == ["live"]
