"""Fault: the period reset run twice at once (two beats), and a worker killed in the middle of
it (issue 13, "Faults"; billing.limits.resets). Whatever happens, the counters end as after one
clean reset: every due counter in its current period at zero with its open holds kept, its
closed period in the history exactly once, no counter reset twice and none missed, and the
counters not yet due untouched."""

import os
import re
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from billing.limits import resets
from billing.limits.models import Counter, CounterKind, CounterPeriod
from billing.limits.periods import LimitPeriod, period_bounds
from keys.models import Key
from tests.factories import OrgFactory, TeamFactory
from tests.support.faults import side_connection
from tests.support.processes import database_url, start_celery, stop
from tests.threads import run_writers

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="workers and beats share a database server"
    ),
]

PERIODS = (LimitPeriod.DAILY, LimitPeriod.WEEKLY, LimitPeriod.MONTHLY)
ZONES = ("Europe/Berlin", "America/New_York")
PROOF_TIMEOUT = 30
_SENT = "Sending due task reset-periods-due (billing.tasks.reset_periods_due)"
_SUCCEEDED = re.compile(
    r"Task billing\.tasks\.reset_periods_due\[[^\]]+\] succeeded in [\d.]+s: (\d+)"
)
_previous = {
    LimitPeriod.DAILY: timedelta(days=1),
    LimitPeriod.WEEKLY: timedelta(days=7),
    LimitPeriod.MONTHLY: timedelta(days=31),
}


def _counter(owner, *, kind, period, zone, now, due, n) -> tuple[Counter, str, str, bool]:
    moment = now - _previous[period] if due else now
    start, end = period_bounds(period, moment, zone)
    counter = Counter.objects.create(
        org_id=owner.org_id,
        key=owner if isinstance(owner, Key) else None,
        team=None if isinstance(owner, Key) else owner,
        kind=kind,
        period_start=start,
        period_end=end,
        spend_micros=1_000 * n + 7,
        tokens=100 * n + 3,
        held_micros=n,
    )
    return counter, period, zone, due


def make_counters(now: datetime) -> list[tuple[Counter, str, str, bool]]:
    """In two zones: a team and a key per period, each with a month and a limit counter (a
    team: its limit counter) whose period ended, and a key whose periods are still running."""
    made = []
    for zone in ZONES:
        org = OrgFactory(timezone=zone)
        for period in PERIODS:
            team = TeamFactory(org=org, limit_period=period)
            for due in (True, False):
                key = Key.objects.create(
                    org=org,
                    team=team,
                    name=f"{period}-{'due' if due else 'running'}",
                    secret_hash=uuid.uuid4().hex + uuid.uuid4().hex,
                    display_prefix="sk-gw-test",
                    last4="abcd",
                    limit_period=period,
                )
                for kind, counted in (
                    (CounterKind.MONTH, LimitPeriod.MONTHLY),
                    (CounterKind.LIMIT, period),
                ):
                    made.append(
                        _counter(
                            key,
                            kind=kind,
                            period=counted,
                            zone=zone,
                            now=now,
                            due=due,
                            n=len(made) + 1,
                        )
                    )
            made.append(
                _counter(
                    team,
                    kind=CounterKind.LIMIT,
                    period=period,
                    zone=zone,
                    now=now,
                    due=True,
                    n=len(made) + 1,
                )
            )
    return made


def state() -> tuple[list, list]:
    counters = list(
        Counter.objects.order_by("id").values_list(
            "id", "period_start", "period_end", "spend_micros", "tokens", "held_micros"
        )
    )
    history = list(
        CounterPeriod.objects.order_by("counter_id", "period_start").values_list(
            "counter_id", "period_start", "period_end", "spend_micros", "tokens", "closed_at"
        )
    )
    return counters, history


def one_clean_reset(made, now: datetime) -> tuple[list, list]:
    """The state after one reset at `now`, from what the counters were before it."""
    counters, history = [], []
    for c, period, zone, due in sorted(made, key=lambda m: m[0].pk):
        if due:
            start, end = period_bounds(period, now, zone)
            counters.append((c.pk, start, end, 0, 0, c.held_micros))
            history.append((c.pk, c.period_start, c.period_end, c.spend_micros, c.tokens, now))
        else:
            counters.append(
                (c.pk, c.period_start, c.period_end, c.spend_micros, c.tokens, c.held_micros)
            )
    return counters, history


def test_two_beats_at_once_reset_each_due_counter_once():
    now = datetime(2026, 6, 15, 12, 0, 30, tzinfo=UTC)
    made = make_counters(now)
    due = sum(1 for *_, is_due in made if is_due)
    results = []

    errors = run_writers(2, lambda n: results.append(resets.reset_periods_due(now=now)))

    assert errors == []
    assert sorted(results) == [0, due], "one reset did the work, the other found nothing due"
    assert state() == one_clean_reset(made, now)
    # A third, late run changes nothing.
    assert resets.reset_periods_due(now=now) == 0
    assert state() == one_clean_reset(made, now)


def _wait_for(condition, what: str, logs, timeout: float = PROOF_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    pytest.fail(f"{what}: not within {timeout} s\n{logs()}")


def _backends(side, tag: str) -> list[tuple[str, int, str | None, str | None, str]]:
    return side.execute(
        "SELECT application_name, pid, wait_event_type, wait_event, query"
        " FROM pg_stat_activity WHERE application_name LIKE %s AND datname = current_database()",
        [f"{tag}-%"],
    ).fetchall()


def test_a_worker_killed_mid_reset_while_another_waits_ends_in_one_clean_reset(
    tmp_path, private_redis
):
    """Two beats send the reset every second to two workers (real processes, Redis of the
    test's own). One counter row is held locked, so the first worker to run the reset stops in
    the middle of it, its copy of the closed periods half done, while the other worker waits
    for the reset's lock. The first is killed (SIGKILL); the row is let go. The other worker
    then runs the reset, and more runs follow: the end state is one clean reset."""
    now = datetime.now(UTC)
    made = make_counters(now)
    due = [m[0] for m in made if m[3]]
    tag = f"fault-{uuid.uuid4().hex[:8]}"
    base_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "REDIS_URL": private_redis.url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "RESET_PERIODS_EVERY_SECONDS": "1",
        "CONN_MAX_AGE": "0",
        "DEBUG": "0",
        "LOG_LEVEL": "INFO",
    }
    workers, logs, processes = {}, {}, []

    def read_logs() -> str:
        return "\n".join(f"{name}:\n{path.read_text()}" for name, path in logs.items())

    # The last due row in the reset's lock order: the reset has locked all the others first.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM billing_counter WHERE period_end <= %s"
            f" ORDER BY {resets.COUNTER_LOCK_ORDER}",
            [now],
        )
        held_row = cursor.fetchall()[-1][0]

    # `locker` holds the row; `side` watches pg_stat_activity, outside any transaction (within
    # one, PostgreSQL would show the same snapshot of it again and again).
    before = state()
    side, locker = side_connection(), side_connection()
    try:
        with locker.transaction():
            locker.execute("SELECT id FROM billing_counter WHERE id = %s FOR UPDATE", [held_row])
            for name in ("a", "b"):
                logs[f"worker-{name}"] = tmp_path / f"worker-{name}.log"
                workers[f"{tag}-{name}"] = start_celery(
                    [
                        "worker",
                        "--pool=solo",
                        f"--hostname={tag}-{name}@%h",
                        "--without-mingle",
                        "--without-gossip",
                        "--without-heartbeat",
                        "--prefetch-multiplier=1",
                        "--loglevel=INFO",
                    ],
                    {**base_env, "DATABASE_URL": database_url(f"{tag}-{name}")},
                    logs[f"worker-{name}"],
                )
                logs[f"beat-{name}"] = tmp_path / f"beat-{name}.log"
                processes.append(
                    start_celery(
                        [
                            "beat",
                            f"--schedule={tmp_path / f'beat-{name}-schedule'}",
                            "--loglevel=INFO",
                        ],
                        {**base_env, "DATABASE_URL": database_url(f"{tag}-beat")},
                        logs[f"beat-{name}"],
                    )
                )
            processes += workers.values()

            def stopped_mid_reset():
                return [
                    name
                    for name, _pid, kind, _event, query in _backends(side, tag)
                    if kind == "Lock" and "INSERT INTO billing_counterperiod" in query
                ]

            (killed,) = _wait_for(stopped_mid_reset, "a worker in the reset's copy", read_logs)
            (waiting,) = set(workers) - {killed}

            def waits_for_the_reset_lock():
                return any(
                    name == waiting and event == "advisory"
                    for name, _pid, _kind, event, _query in _backends(side, tag)
                )

            _wait_for(waits_for_the_reset_lock, "the other worker at the reset's lock", read_logs)
            workers[killed].send_signal(signal.SIGKILL)
            assert workers[killed].wait(timeout=10) == -signal.SIGKILL
            # Nothing of the killed reset is visible: its transaction never committed.
            assert state() == before
        # The row is let go: the killed worker's backend finds its client gone and rolls back;
        # the other worker's reset gets the lock.
        _wait_for(
            lambda: not any(name == killed for name, *_ in _backends(side, tag)),
            "the killed worker's backend to end",
            read_logs,
        )
        _wait_for(
            lambda: CounterPeriod.objects.count() >= len(due), "the reset by the other", read_logs
        )
        worker_log = logs[f"worker-{waiting.rsplit('-', 1)[1]}"]

        def results() -> list[int]:
            """What each reset run by the surviving worker returned: counters moved."""
            return [int(n) for n in _SUCCEEDED.findall(worker_log.read_text())]

        # Later beats' runs find nothing due.
        _wait_for(lambda: len(results()) >= 3, "two more runs of the reset", read_logs)
    finally:
        side.close()
        locker.close()
        for process in processes:
            stop(process)

    killed_log = logs[f"worker-{killed.rsplit('-', 1)[1]}"].read_text()
    assert "succeeded" not in killed_log, killed_log
    for beat in ("beat-a", "beat-b"):
        assert _SENT in logs[beat].read_text(), read_logs()
    assert sorted(results())[-2:] == [0, len(due)], read_logs()
    assert sum(results()) == len(due), "no counter reset twice"
    counters, history = state()
    (closed_at,) = {row[5] for row in history}
    assert (counters, history) == one_clean_reset(made, closed_at)
