"""The quota periods are reset by a Celery beat task (issue 5, "Proof"): the schedule names it
every minute, the task calls the service, and a real worker and beat, started here against
Redis and the test database, reset an ended period on schedule."""

import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from audit import tasks as audit_tasks
from billing.limits import tasks
from billing.limits.models import Counter, CounterKind, CounterPeriod
from billing.limits.periods import LimitPeriod, period_bounds
from config.celery import app
from keys.models import Key
from tests.factories import OrgFactory
from tests.support.processes import database_url, start_celery, stop

BROKER_URL = "redis://127.0.0.1:6379/7"
PROOF_TIMEOUT = 30


def test_the_beat_schedule_runs_the_reset_every_minute():
    entry = app.conf.beat_schedule["reset-periods-due"]
    assert entry["task"] == "billing.tasks.reset_periods_due"
    assert entry["schedule"] == 60.0
    assert "billing.tasks.reset_periods_due" in app.tasks


def test_the_beat_schedule_anchors_the_audit_chains_every_ten_minutes():
    entry = app.conf.beat_schedule["anchor-audit-chains"]
    assert entry["task"] == "audit.tasks.anchor_chains"
    assert entry["schedule"] == 600.0
    # audit.tasks is what a worker's autodiscovery imports for the audit app.
    assert audit_tasks.anchor_chains.name == "audit.tasks.anchor_chains"
    assert "audit.tasks.anchor_chains" in app.tasks


def _key_with_an_ended_month(timezone: str, *, ended_at: datetime) -> Counter:
    org = OrgFactory(timezone=timezone)
    key = Key.objects.create(
        org=org,
        name="scheduled",
        secret_hash=uuid.uuid4().hex + uuid.uuid4().hex,
        display_prefix="sk-gw-test",
        last4="abcd",
    )
    return Counter.objects.create(
        org=org,
        key=key,
        kind=CounterKind.MONTH,
        period_start=ended_at - timedelta(days=30),
        period_end=ended_at,
        spend_micros=1_234,
        tokens=56,
        held_micros=7,
    )


@pytest.mark.django_db
def test_the_task_resets_the_periods_that_ended_by_the_clock():
    counter = _key_with_an_ended_month(
        "Europe/Berlin", ended_at=datetime(2028, 2, 29, 23, tzinfo=UTC)
    )
    now = datetime(2028, 3, 1, 0, 0, 30, tzinfo=UTC)

    with time_machine.travel(now, tick=False):
        assert tasks.reset_periods_due.delay().get() == 1

    counter.refresh_from_db()
    assert (counter.period_start, counter.period_end) == period_bounds(
        LimitPeriod.MONTHLY, now, "Europe/Berlin"
    )
    assert (counter.spend_micros, counter.tokens, counter.held_micros) == (0, 0, 7)
    assert CounterPeriod.objects.get(counter=counter).spend_micros == 1_234


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a worker process needs a shared database server"
)
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_and_beat_reset_an_ended_period_on_schedule(tmp_path):
    """Beat (every second here, through RESET_PERIODS_EVERY_SECONDS) sends the task to Redis, a
    separate worker process runs it against this test's database; the counter moves to the
    current period and its closed month is in the history, within 30 seconds."""
    now = datetime.now(UTC)
    counter = _key_with_an_ended_month("America/New_York", ended_at=now - timedelta(hours=1))
    env = {
        **os.environ,
        # The real settings, not the test settings: those run tasks eagerly, inside beat.
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "RESET_PERIODS_EVERY_SECONDS": "1",
        "CONN_MAX_AGE": "0",
        "DEBUG": "0",
        "LOG_LEVEL": "INFO",
    }
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    worker = start_celery(
        [
            "worker",
            "--pool=solo",
            f"--hostname=resets-proof-{uuid.uuid4().hex[:8]}@%h",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "--loglevel=INFO",
        ],
        env,
        worker_log,
    )
    beat = start_celery(
        ["beat", f"--schedule={tmp_path / 'celerybeat-schedule'}", "--loglevel=INFO"],
        env,
        beat_log,
    )
    try:
        deadline = time.monotonic() + PROOF_TIMEOUT
        while time.monotonic() < deadline:
            if CounterPeriod.objects.filter(counter=counter).exists():
                break
            assert worker.poll() is None, worker_log.read_text()
            assert beat.poll() is None, beat_log.read_text()
            time.sleep(0.25)
    finally:
        stop(beat)
        stop(worker)

    logs = f"worker:\n{worker_log.read_text()}\nbeat:\n{beat_log.read_text()}"
    closed = CounterPeriod.objects.filter(counter=counter).first()
    assert closed is not None, f"no reset within {PROOF_TIMEOUT} s\n{logs}"
    assert (closed.period_end, closed.spend_micros, closed.tokens) == (
        counter.period_end,
        1_234,
        56,
    )
    counter.refresh_from_db()
    assert (counter.period_start, counter.period_end) == period_bounds(
        LimitPeriod.MONTHLY, closed.closed_at, "America/New_York"
    )
    assert (counter.spend_micros, counter.tokens, counter.held_micros) == (0, 0, 7)
    # Beat sent it; the worker process, not beat, ran it.
    assert "Sending due task reset-periods-due (billing.tasks.reset_periods_due)" in logs
    assert "Task billing.tasks.reset_periods_due[" in worker_log.read_text()
