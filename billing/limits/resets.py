"""Closing quota periods (issue 5, "Caps and periods").

A counter's period is closed either by the scheduled reset (reset_periods_due, every minute) or
inline by the first usage batch after it ended (billing.usage.counters). Both first copy the closed
totals into the period history (CounterPeriod) with ON CONFLICT (counter, period start) DO
NOTHING, so whichever of the two closes a period, its totals are kept, once. Both lock the
counter rows before they copy, in one order (COUNTER_LOCK_ORDER): no writer can add to a period
between its copy and its close, and the two never wait on each other in a cycle.

Authorize never waits for the reset: it reads an ended period as zero (docs/contract.md section 2).
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction

from billing.dbvalues import among, db_id, db_time
from billing.limits.periods import LimitPeriod, period_bounds

# pg_advisory_xact_lock's key for the reset (any fixed bigint; this one spells "gc-reset").
RESET_LOCK_ID = 0x67632D7265736574

# Every writer locks counter rows in this order: keys before teams (NULLs sort last), a key's
# month counter before its limit counter, as authorize's holds do.
COUNTER_LOCK_ORDER = "key_id, team_id, kind DESC"

_HISTORY_COLUMNS = (
    "org_id, counter_id, key_id, team_id, kind, period_start, period_end, spend_micros, tokens,"
    " closed_at"
)
_COUNTER_COLUMNS = (
    "org_id, id, key_id, team_id, kind, period_start, period_end, spend_micros, tokens"
)


def _ended(table: str = "") -> str:
    column = f"{table}.period_end" if table else "period_end"
    return f"{column} IS NOT NULL AND {column} <= %(now)s"


@dataclass(frozen=True, order=True)
class _Group:
    """Counters that share their next period: the same kind, owner type, period and zone."""

    kind: str
    owner: str  # "key_id" or "team_id"
    period: str
    timezone: str


def reset_periods_due(*, now: datetime) -> int:
    """Moves every counter whose period ended at or before `now` to the period containing
    `now`, spend and tokens at zero (open holds stay: their requests are still in flight), after
    copying the closed period to the history. Returns how many counters moved.

    A fixed number of statements plus one UPDATE per distinct (kind, period, time zone) group
    of the due counters, never one per counter. Idempotent, and safe on two workers at once:
    on PostgreSQL an advisory lock runs one reset at a time (the second then finds nothing
    due), and every UPDATE is conditional on the period having ended. After days without a
    run, one run lands every counter in the current period and keeps its last closed period."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RESET_LOCK_ID])
        _lock_and_copy_due(cursor, now)
        return sum(_move(cursor, group, now) for group in _due_groups(cursor, now))


def close_ended_periods_of(cursor, *, key_ids, team_ids, now: datetime) -> None:
    """For a usage batch, before it adds to its counters: locks the counters of these keys and
    teams (in COUNTER_LOCK_ORDER) and copies the totals of those whose period has ended into the
    history, in one statement. The usage statements that follow start their new periods."""
    owners, params = [], {"now": db_time(now)}
    for column, ids in (("key_id", key_ids), ("team_id", team_ids)):
        if ids:
            ids = [db_id(i) for i in sorted(ids, key=str)]
            condition, named = among(column, ids, "uuid", name=column)
            params.update(named)
            owners.append(condition)
    if not owners:
        return
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    # The values come from the locked rows themselves: in READ COMMITTED a row that this lock
    # waited for is returned as its writer committed it.
    cursor.execute(
        f"WITH batch AS (SELECT {_COUNTER_COLUMNS} FROM billing_counter"
        f" WHERE {' OR '.join(owners)} ORDER BY {COUNTER_LOCK_ORDER}{lock})"
        f" INSERT INTO billing_counterperiod ({_HISTORY_COLUMNS})"
        f" SELECT {_COUNTER_COLUMNS}, %(now)s FROM batch WHERE {_ended()}"
        " ON CONFLICT (counter_id, period_start) DO NOTHING",
        params,
    )


def _lock_and_copy_due(cursor, now: datetime) -> None:
    # One pass: each due row is locked (PostgreSQL, in COUNTER_LOCK_ORDER), then its closed
    # period copied. A usage batch that is still adding to an ended period holds the row: the
    # lock waits for it and reads the row as it committed, and none can add to it after. SQLite
    # has no row locks and one writer at a time (transaction_mode IMMEDIATE).
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    cursor.execute(
        f"INSERT INTO billing_counterperiod ({_HISTORY_COLUMNS})"
        f" SELECT {_COUNTER_COLUMNS}, %(now)s FROM billing_counter WHERE {_ended()}"
        f" ORDER BY {COUNTER_LOCK_ORDER}{lock}"
        " ON CONFLICT (counter_id, period_start) DO NOTHING",
        {"now": db_time(now)},
    )


def _due_groups(cursor, now: datetime) -> list[_Group]:
    cursor.execute(
        "SELECT DISTINCT c.kind,"
        " CASE WHEN c.key_id IS NOT NULL THEN 'key_id' ELSE 'team_id' END,"
        f" CASE WHEN c.kind = 'month' THEN '{LimitPeriod.MONTHLY.value}'"
        " WHEN c.key_id IS NOT NULL THEN k.limit_period ELSE t.limit_period END,"
        " o.timezone"
        " FROM billing_counter c"
        " JOIN gateway_console_org o ON o.id = c.org_id"
        " LEFT JOIN keys_key k ON k.id = c.key_id"
        " LEFT JOIN gateway_console_team t ON t.id = c.team_id"
        f" WHERE {_ended('c')}",
        {"now": db_time(now)},
    )
    return sorted(_Group(*row) for row in cursor.fetchall())


def _move(cursor, group: _Group, now: datetime) -> int:
    start, end = period_bounds(group.period, now, group.timezone)
    tables = ["gateway_console_org o"]
    conditions = [
        "o.id = billing_counter.org_id",
        "o.timezone = %(timezone)s",
        "billing_counter.kind = %(kind)s",
        f"billing_counter.{group.owner} IS NOT NULL",
    ]
    if group.kind != "month":
        owner_table = "keys_key" if group.owner == "key_id" else "gateway_console_team"
        tables.append(f"{owner_table} owner_row")
        conditions += [
            f"owner_row.id = billing_counter.{group.owner}",
            "owner_row.limit_period = %(period)s",
        ]
    # Still ended when the row is written (a period that a usage batch started in the meantime
    # is left alone), and its closed period is in the history: a counter whose period ended
    # only after the copy above (a reset period changed meanwhile) waits for the next run.
    conditions += [
        _ended("billing_counter"),
        "EXISTS (SELECT 1 FROM billing_counterperiod h WHERE h.counter_id = billing_counter.id"
        " AND h.period_start = billing_counter.period_start)",
    ]
    cursor.execute(
        "UPDATE billing_counter SET period_start = %(start)s, period_end = %(end)s,"
        f" spend_micros = 0, tokens = 0 FROM {', '.join(tables)} WHERE {' AND '.join(conditions)}",
        {
            "start": db_time(start),
            "end": db_time(end),
            "timezone": group.timezone,
            "kind": group.kind,
            "period": group.period,
            "now": db_time(now),
        },
    )
    return cursor.rowcount


def restart_period_now(
    *, owner: str, owner_id, kind: str, period: str, tz: str, now: datetime
) -> None:
    """A key's or team's reset period was changed: its running period closes now (its totals go
    to the history) and a new one starts now, ending where the new kind of period ends. Starting
    at `now` rather than at the period's usual boundary keeps the closed and the new period from
    overlapping, so no usage is counted in both and no two closed periods share a start."""
    assert owner in ("key_id", "team_id")
    params = {
        "id": db_id(owner_id),
        "kind": kind,
        "now": db_time(now),
        "end": db_time(period_bounds(period, now, tz)[1]),
    }
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO billing_counterperiod ({_HISTORY_COLUMNS})"
            " SELECT org_id, id, key_id, team_id, kind, period_start,"
            " CASE WHEN period_end IS NOT NULL AND period_end < %(now)s THEN period_end ELSE %(now)s END,"
            f" spend_micros, tokens, %(now)s FROM billing_counter WHERE {owner} = %(id)s AND kind = %(kind)s"
            " AND period_start < %(now)s ON CONFLICT (counter_id, period_start) DO NOTHING",
            params,
        )
        cursor.execute(
            "UPDATE billing_counter SET period_start = %(now)s, period_end = %(end)s, spend_micros = 0,"
            f" tokens = 0 WHERE {owner} = %(id)s AND kind = %(kind)s",
            params,
        )


def ensure_counter(
    *, org_id, key_id=None, team_id=None, kind: str, period: str, tz: str, now: datetime
) -> None:
    """Creates the counter row if it is missing (never changes an existing one)."""
    start, end = period_bounds(period, now, tz)
    owner = "key_id" if key_id is not None else "team_id"
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_counter (org_id, key_id, team_id, kind, period_start, period_end,"
            " spend_micros, tokens, held_micros) VALUES (%s, %s, %s, %s, %s, %s, 0, 0, 0)"
            f" ON CONFLICT ({owner}, kind) WHERE {owner} IS NOT NULL DO NOTHING",
            [db_id(org_id), db_id(key_id), db_id(team_id), kind, db_time(start), db_time(end)],
        )
