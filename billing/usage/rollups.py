"""Hourly usage rollups (billing.usage.models.UsageHourly): the usage of each key and model per UTC
hour, summed from the usage events, so that usage pages and the usage API read a few rows per
hour instead of every request.

Two ways in:
- record_batch adds the events it has just inserted, in the batch's transaction: on PostgreSQL
  in the very statement that inserts them (`adding`, a data-modifying WITH), on SQLite in the
  next (`add_to_rollups`). A repeated request id is never inserted, so it is never counted.
- `rebuild_rollups` recomputes a range from the events (delete, then insert), so running it
  twice gives the same rows.
"""

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import Q, QuerySet, Sum

from billing.dbvalues import batch_table, db_id, db_time
from billing.limits.forecast import PACE_DAYS
from billing.usage.models import UsageHourly

COLUMNS = ("requests", "input_tokens", "output_tokens", "cost_micros", "errors")


def _hour_of(column: str) -> str:
    """SQL for the start of the UTC hour of a timestamp column."""
    if connection.vendor == "postgresql":
        return f"date_trunc('hour', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    # SQLite keeps times as UTC text, 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
    return f"substr({column}, 1, 13) || ':00:00'"


# Column names, the hour expression and the events' source only are formatted in; values are
# parameters.
_INSERT_SELECT = (
    "INSERT INTO billing_usagehourly (org_id, key_id, team_id, model, hour, {columns})"
    " SELECT g.org_id, g.key_id, first.team_id, g.model, g.hour, {sums} FROM ("
    "SELECT e.org_id, e.key_id, e.model, {hour} AS hour, MIN(e.id) AS first_id,"
    " COUNT(*) AS requests, SUM(e.input_tokens) AS input_tokens,"
    " SUM(e.output_tokens) AS output_tokens, SUM(e.cost_micros) AS cost_micros,"
    " SUM(CASE WHEN e.status_code >= 400 THEN 1 ELSE 0 END) AS errors"
    " FROM {source} e WHERE {where} GROUP BY e.org_id, e.key_id, e.model, 4"
    ") g JOIN {source} first ON first.id = g.first_id"
    # SQLite needs a WHERE before ON CONFLICT in an INSERT … SELECT (its parser's rule). The
    # rows are taken, and so locked, in one order, whichever batch adds to them.
    " WHERE 1 = 1 ORDER BY g.key_id, g.model, g.hour"
    " ON CONFLICT (key_id, model, hour) DO UPDATE SET {sets}"
)
# What add_to_rollups takes of each event just inserted: its id, then its row as
# billing.usage.services wrote it (types for PostgreSQL's arrays).
EVENT_FIELDS = (
    "id", "org_id", "request_id", "key_id", "team_id", "model", "input_tokens",
    "output_tokens", "cost_micros", "status_code", "latency_ms", "occurred_at",
)  # fmt: skip
_EVENT_TYPES = (
    "bigint", "uuid", "text", "uuid", "uuid", "text", "bigint", "bigint", "bigint", "integer",
    "integer", "timestamptz",
)  # fmt: skip


def _insert_select(where: str, *, add: bool, source: str = "billing_usageevent") -> str:
    """INSERT … SELECT of the events of `source` matching `where`, one row per (key, model,
    hour); on conflict it adds to the row (add=True) or overwrites it. The team is the one of
    the group's first event, joined back by its id (portable, unlike an aggregate of UUIDs)."""
    sets = ", ".join(
        f"{c} = billing_usagehourly.{c} + EXCLUDED.{c}" if add else f"{c} = EXCLUDED.{c}"
        for c in COLUMNS
    )
    return _INSERT_SELECT.format(
        columns=", ".join(COLUMNS),
        sums=", ".join(f"g.{c}" for c in COLUMNS),
        hour=_hour_of("e.occurred_at"),
        where=where,
        sets=sets,
        source=source,
    )


def adding(source: str) -> str:
    """The INSERT that adds the events of `source`, a WITH of just-inserted events (the columns
    of EVENT_FIELDS), to their hours' rollups: on PostgreSQL record_batch makes it part of the
    statement that inserts them, so the batch goes to the database once."""
    return _insert_select("1 = 1", add=True, source=source)


def add_to_rollups(cursor, events: list[tuple]) -> None:
    """Adds just-inserted events (tuples of EVENT_FIELDS, as written) to their hours' rollups,
    in one statement, from the batch in hand: nothing is read back from the events' table (its
    join back by id planned a scan of the whole table once its statistics lagged: 56 ms of a
    batch of 1,000)."""
    if not events:
        return
    table, params = batch_table(events, _EVENT_TYPES)
    cursor.execute(
        f"WITH batch ({', '.join(EVENT_FIELDS)}) AS ({table}) " + adding("batch"),
        params,
    )


def floor_hour(moment: datetime) -> datetime:
    """The start of the UTC hour of a moment (rollup hours are UTC hours)."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@transaction.atomic
def rebuild_rollups(org=None, since: datetime | None = None) -> int:
    """Recomputes the rollups of one org (or all) from `since` (or all time) from the usage
    events: deletes the range's rows, then inserts them again. Idempotent. Returns the number
    of rollup rows written."""
    where, params = ["1 = 1"], []
    if org is not None:
        where.append("org_id = %s")
        params.append(db_id(org.pk))
    if since is not None:
        where.append("hour >= %s")
        params.append(db_time(floor_hour(since)))
    event_where = " AND ".join(
        w.replace("hour", "e.occurred_at").replace("org_id", "e.org_id") for w in where
    )
    with connection.cursor() as cursor:
        delete = f"DELETE FROM billing_usagehourly WHERE {' AND '.join(where)}"  # noqa: S608
        cursor.execute(delete, params)
        # Overwrite, not add: a batch committed between the two statements has already put
        # its events in, and this statement's totals include them.
        cursor.execute(_insert_select(event_where, add=False), params)
        return cursor.rowcount


# Reads: every usage chart, table, CSV and the usage API ------------------------------------


@dataclass(frozen=True)
class Bucket:
    start: datetime
    model: str | None
    requests: int
    input_tokens: int
    output_tokens: int
    cost_micros: int
    errors: int


def _hours(scope: Q, since: datetime, until: datetime) -> QuerySet[UsageHourly]:
    """The rollup rows of a scope whose hour overlaps [since, until)."""
    return UsageHourly.objects.filter(scope, hour__gte=floor_hour(since), hour__lt=until)


def usage_buckets(
    scope: Q,
    *,
    since: datetime,
    until: datetime,
    granularity: str,
    tz: str,
    by_model: bool = False,
) -> list[Bucket]:
    """Usage of a scope (a key, a team, an org: a Q on UsageHourly) summed per hour or per day
    of the org's time zone (and per model), oldest first; buckets without requests left out.
    One query, its rows bounded by the range's hours × models (not by keys or events).

    Day buckets: the database sums per UTC hour; each UTC hour is then shifted into the org's
    zone with zoneinfo and counted in the local day in which it starts. That is exact across
    DST changes; in a zone whose offset is not whole hours (Asia/Kolkata, +05:30) the local
    day is counted from the UTC hour that starts in it, so a day's edge is off by that
    half-hour, which hourly rollups cannot resolve."""
    zone = zoneinfo.ZoneInfo(tz)
    group = ["hour", "model"] if by_model else ["hour"]
    rows = (
        _hours(scope, since, until)
        .values(*group)
        .annotate(**{c: Sum(c) for c in COLUMNS})
        .order_by(*group)
    )
    sums: dict[tuple, list[int]] = {}
    for row in rows:
        hour = row["hour"].astimezone(zone)
        if granularity == "day":
            start = datetime.combine(hour.date(), time(0), tzinfo=zone)
        else:
            start = hour
        totals = sums.setdefault((start, row["model"] if by_model else None), [0] * len(COLUMNS))
        for i, column in enumerate(COLUMNS):
            totals[i] += row[column] or 0
    return [
        Bucket(start, model, *totals)
        for (start, model), totals in sorted(
            sums.items(), key=lambda item: (item[0][0], item[0][1] or "")
        )
    ]


def top_keys(scope: Q, *, since: datetime, until: datetime, by: str, limit: int = 10) -> list[dict]:
    """The keys of a scope with the highest cost (by="cost_micros") or most requests
    (by="requests") in the range, with their names: one query."""
    return list(
        _hours(scope, since, until)
        .values("key_id", "key__name", "key__display_prefix", "key__last4", "key__status")
        .annotate(**{c: Sum(c) for c in COLUMNS})
        .order_by(f"-{by}", "key__name", "key_id")[:limit]
    )


def week_spend(org_id, *, by: str | None, ids=None, now: datetime) -> dict:
    """The cost in micro-dollars of the last PACE_DAYS days, from the hourly rollups, in one
    query: the pace of billing.limits.forecast. By "key", "team" or "org": per key, team or org
    of `ids` (None: all of them), in org `org_id` (None: every org, for the alerts' evaluation);
    by None: the whole org's, under the key None."""
    hours = UsageHourly.objects.filter(hour__gte=floor_hour(now) - timedelta(days=PACE_DAYS))
    if org_id is not None:
        hours = hours.filter(org_id=org_id)
    if by is None:
        return {None: hours.aggregate(total=Sum("cost_micros"))["total"] or 0}
    if ids is not None:
        hours = hours.filter(**{f"{by}_id__in": list(ids)})
    rows = hours.values(f"{by}_id").annotate(total=Sum("cost_micros"))
    return {row[f"{by}_id"]: row["total"] for row in rows}
