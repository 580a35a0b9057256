"""Recording usage events reported by the gateway (docs/contract.md section 3).

A batch is one transaction of set-based statements: the new events are inserted in one
statement (a repeated request id is skipped by the unique index, so it counts nothing), the
holds of those requests are closed in one, and then each wallet and each counter changes by one
conditional SQL statement with the batch's sum for it. Rows are always locked in the same order
(wallets, then counters, each sorted), as authorize's holds do, so concurrent writers cannot
deadlock, and no value is ever read into Python to be written back.
"""

import re
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils.dateparse import parse_datetime

from billing.dbvalues import as_uuid, db_id, db_time
from billing.ledger import entries as ledger
from billing.ledger.models import ModelPrice
from billing.limits import resets
from billing.limits.periods import LimitPeriod, period_bounds
from billing.money import micros_to_money
from billing.pricing import cost_micros
from billing.usage import rollups, traffic

MAX_BATCH = 1000
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
_MAX_TOKENS = 10**10
_FUTURE_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class KeyFacts:
    """What recording an event needs to know of its key."""

    org_id: uuid.UUID
    team_id: uuid.UUID | None
    limit_period: str
    org_timezone: str
    multiplier: Decimal  # the org's plan's (1 without a plan)
    team_limit_period: str | None


# Who the events' keys are. Keys stand above billing, so the keys app registers its reader here
# when Django is ready (keys.apps): {key id: KeyFacts} of the ids asked for, unknown ids left out.
_key_facts: Callable[[set[uuid.UUID]], dict[uuid.UUID, KeyFacts]]


def register_key_facts(reader: Callable[[set[uuid.UUID]], dict[uuid.UUID, KeyFacts]]) -> None:
    global _key_facts
    _key_facts = reader


class InvalidEvent(Exception):
    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass
class Event:
    request_id: str
    key_id: uuid.UUID
    model: str
    input_tokens: int
    output_tokens: int
    status_code: int
    latency_ms: int | None
    occurred_at: datetime
    # Filled in from the key and the price list.
    org_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    cost_micros: int = 0


@dataclass
class Outcome:
    index: int
    request_id: str | None
    status: str  # "recorded", "duplicate" or "rejected"
    cost: Decimal | None = None
    field: str | None = None
    message: str | None = None

    def as_dict(self) -> dict:
        result = {"index": self.index, "request_id": self.request_id, "status": self.status}
        if self.cost is not None:
            result["cost"] = f"{self.cost:f}"
        if self.status == "rejected":
            result["error"] = {
                "code": "invalid_usage_event",
                "field": self.field,
                "message": self.message,
            }
        return result


@dataclass
class BatchResult:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


def _int(data: dict, name: str, *, minimum: int, maximum: int, required: bool = True) -> int | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEvent(name, f"{name} must be a whole number.")
    if not minimum <= value <= maximum:
        raise InvalidEvent(name, f"{name} must be between {minimum} and {maximum}.")
    return value


def parse_event(data, *, now: datetime) -> Event:
    if not isinstance(data, dict):
        raise InvalidEvent("event", "Each event must be a JSON object.")
    request_id = data.get("request_id")
    if not isinstance(request_id, str) or not _REQUEST_ID.match(request_id):
        raise InvalidEvent("request_id", "request_id must be 1 to 100 letters, digits or . _ : -")
    try:
        key_id = uuid.UUID(str(data.get("key_id")))
    except ValueError:
        raise InvalidEvent(
            "key_id", "key_id must be the key's id (a UUID), as authorize returned it."
        ) from None
    model = data.get("model")
    if not isinstance(model, str) or not model or len(model) > 100:
        raise InvalidEvent("model", "model must be the model's name.")
    occurred_raw = data.get("occurred_at")
    occurred_at = parse_datetime(occurred_raw) if isinstance(occurred_raw, str) else None
    if occurred_at is None or occurred_at.tzinfo is None:
        raise InvalidEvent(
            "occurred_at",
            "occurred_at must be an ISO 8601 time with a time zone, e.g. 2026-11-22T10:00:00Z.",
        )
    if occurred_at > now + _FUTURE_SLACK:
        raise InvalidEvent("occurred_at", "occurred_at is in the future.")
    return Event(
        request_id=request_id,
        key_id=key_id,
        model=model,
        input_tokens=_int(data, "input_tokens", minimum=0, maximum=_MAX_TOKENS),
        output_tokens=_int(data, "output_tokens", minimum=0, maximum=_MAX_TOKENS),
        status_code=_int(data, "status_code", minimum=100, maximum=599),
        latency_ms=_int(data, "latency_ms", minimum=0, maximum=86_400_000, required=False),
        occurred_at=occurred_at.astimezone(UTC),
    )


def record_batch(raw_events: list, *, now: datetime | None = None) -> BatchResult:
    now = now or datetime.now(UTC)
    result = BatchResult()
    parsed: list[tuple[int, Event]] = []
    for index, data in enumerate(raw_events):
        try:
            parsed.append((index, parse_event(data, now=now)))
        except InvalidEvent as invalid:
            request_id = (
                data.get("request_id")
                if isinstance(data, dict) and isinstance(data.get("request_id"), str)
                else None
            )
            result.outcomes.append(
                Outcome(index, request_id, "rejected", field=invalid.field, message=invalid.message)
            )

    keys = _key_facts({e.key_id for _, e in parsed})
    prices = {p.model: p for p in ModelPrice.objects.filter(model__in={e.model for _, e in parsed})}
    accepted: list[tuple[int, Event]] = []
    seen: set[tuple] = set()
    for index, event in parsed:
        key = keys.get(event.key_id)
        if key is None:
            result.outcomes.append(
                Outcome(
                    index,
                    event.request_id,
                    "rejected",
                    field="key_id",
                    message="No key has this id.",
                )
            )
            continue
        price = prices.get(event.model)
        if price is None:
            result.outcomes.append(
                Outcome(
                    index,
                    event.request_id,
                    "rejected",
                    field="model",
                    message=f"The model '{event.model}' has no price; nothing was recorded.",
                )
            )
            continue
        event.org_id, event.team_id = key.org_id, key.team_id
        if (event.org_id, event.request_id) in seen:
            result.outcomes.append(Outcome(index, event.request_id, "duplicate"))
            continue
        seen.add((event.org_id, event.request_id))
        event.cost_micros = cost_micros(
            input_tokens=event.input_tokens,
            output_tokens=event.output_tokens,
            input_per_million=price.input_per_million,
            output_per_million=price.output_per_million,
            multiplier=key.multiplier,
        )
        accepted.append((index, event))

    with transaction.atomic():
        inserted = _insert_new(accepted, now) if accepted else {}
        new_events = [e for _, e in accepted if (e.org_id, e.request_id) in inserted]
        if new_events:
            _apply(new_events, keys, now)
            # The hourly rollups of the usage pages, from exactly the rows inserted above.
            with connection.cursor() as cursor:
                rollups.add_to_rollups(cursor, sorted(inserted.values()))
    _count_traffic(accepted, inserted)
    for index, event in accepted:
        if (event.org_id, event.request_id) in inserted:
            result.outcomes.append(
                Outcome(
                    index, event.request_id, "recorded", cost=micros_to_money(event.cost_micros)
                )
            )
        else:
            result.outcomes.append(Outcome(index, event.request_id, "duplicate"))
    result.outcomes.sort(key=lambda o: o.index)
    return result


def _count_traffic(accepted: list[tuple[int, Event]], inserted: dict) -> None:
    """The gateway page's figures: events recorded and repeats, per org (billing.usage.traffic)."""
    tallies: dict = defaultdict(lambda: [0, 0])
    for _, event in accepted:
        tallies[event.org_id][0 if (event.org_id, event.request_id) in inserted else 1] += 1
    for org_id, (recorded, duplicates) in tallies.items():
        traffic.count_usage(org_id, traffic.RECORDED, recorded)
        traffic.count_usage(org_id, traffic.DUPLICATE, duplicates)


def _insert_new(accepted: list[tuple[int, Event]], now: datetime) -> dict[tuple, int]:
    """Inserts the events not seen before; returns {(org id, request id): event id} of those."""
    rows, params = [], []
    # Sorted: two batches that share request ids must insert them in the same order, or each
    # waits on the other's uncommitted index entry (a deadlock).
    for _, e in sorted(accepted, key=lambda item: (str(item[1].org_id), item[1].request_id)):
        rows.append("(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
        params += [
            db_id(e.org_id),
            e.request_id,
            db_id(e.key_id),
            db_id(e.team_id),
            e.model,
            e.input_tokens,
            e.output_tokens,
            e.cost_micros,
            e.status_code,
            e.latency_ms,
            db_time(e.occurred_at),
            db_time(now),
        ]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_usageevent (org_id, request_id, key_id, team_id, model, input_tokens,"
            " output_tokens, cost_micros, status_code, latency_ms, occurred_at, received_at) VALUES "
            + ", ".join(rows)
            + " ON CONFLICT (org_id, request_id) DO NOTHING RETURNING org_id, request_id, id",
            params,
        )
        return {(as_uuid(org_id), request_id): id_ for org_id, request_id, id_ in cursor.fetchall()}


def _close_holds(events: list[Event], now: datetime) -> list[tuple]:
    by_org: dict = defaultdict(list)
    for e in events:
        by_org[e.org_id].append(e.request_id)
    closed = []
    with connection.cursor() as cursor:
        for org_id in sorted(by_org, key=str):
            ids = by_org[org_id]
            cursor.execute(
                "UPDATE billing_hold SET closed_at = %s WHERE org_id = %s AND closed_at IS NULL"
                f" AND request_id IN ({', '.join(['%s'] * len(ids))}) RETURNING org_id, key_id, team_id, amount_micros",
                [db_time(now), db_id(org_id), *ids],
            )
            closed += cursor.fetchall()
    return closed


@dataclass
class Delta:
    spend: int = 0
    tokens: int = 0
    release: int = 0


def _apply(events: list[Event], keys: dict, now: datetime) -> None:
    wallets: dict = defaultdict(Delta)
    key_deltas: dict = defaultdict(Delta)
    team_deltas: dict = defaultdict(Delta)
    for e in events:
        tokens = e.input_tokens + e.output_tokens
        for bucket, owner in ((wallets, e.org_id), (key_deltas, e.key_id)):
            bucket[owner].spend += e.cost_micros
            bucket[owner].tokens += tokens
        if e.team_id is not None:
            team_deltas[e.team_id].spend += e.cost_micros
            team_deltas[e.team_id].tokens += tokens
    for org_id, key_id, team_id, amount in _close_holds(events, now):
        wallets[as_uuid(org_id)].release += amount
        key_deltas[as_uuid(key_id)].release += amount
        if team_id is not None:
            team_deltas[as_uuid(team_id)].release += amount

    org_of_key = {k: facts.org_id for k, facts in keys.items()}
    tz_of_key = {k: facts.org_timezone for k, facts in keys.items()}
    team_info = {
        facts.team_id: (facts.org_id, facts.org_timezone, facts.team_limit_period)
        for facts in keys.values()
        if facts.team_id
    }
    with connection.cursor() as cursor:
        for org_id in sorted(wallets, key=str):
            d = wallets[org_id]
            cursor.execute(
                "INSERT INTO billing_wallet (org_id, balance_micros, held_micros, updated_at) VALUES (%s, %s, 0, %s)"
                " ON CONFLICT (org_id) DO UPDATE SET balance_micros = billing_wallet.balance_micros - %s,"
                " held_micros = CASE WHEN billing_wallet.held_micros > %s THEN billing_wallet.held_micros - %s ELSE 0 END,"
                " updated_at = EXCLUDED.updated_at RETURNING balance_micros",
                [db_id(org_id), -d.spend, db_time(now), d.spend, d.release, d.release],
            )
            # The ledger (billing.ledger.entries): one usage_debit entry per org per batch, with the
            # balance this statement returned, in this transaction.
            ledger.append_usage_debit(
                org_id=org_id,
                spend_micros=d.spend,
                balance_after_micros=cursor.fetchone()[0],
                events=events,
                now=now,
            )
        # Before any counter moves: lock this batch's counters and keep the totals of those
        # whose period has ended (the statements below start their new periods).
        resets.close_ended_periods_of(
            cursor,
            key_ids=[k for k in key_deltas if k in org_of_key],
            team_ids=[t for t in team_deltas if t in team_info],
            now=now,
        )
        key_changes = []
        for key_id in sorted(key_deltas, key=str):
            d = key_deltas[key_id]
            if key_id not in org_of_key:
                # The hold of this request id was placed for another key than the event names
                # (a gateway that reports a different key): release it there, add nothing.
                _release_only(cursor, "key_id", key_id, d.release)
                continue
            tz, org_id = tz_of_key[key_id], org_of_key[key_id]
            key_changes += [
                CounterChange(
                    key_id, org_id, "month", period_bounds(LimitPeriod.MONTHLY, now, tz), d
                ),
                CounterChange(
                    key_id, org_id, "limit", period_bounds(keys[key_id].limit_period, now, tz), d
                ),
            ]
        _add_to_counters(cursor, "key_id", key_changes, now)
        team_changes = []
        for team_id in sorted(team_deltas, key=str):
            d = team_deltas[team_id]
            info = team_info.get(team_id)
            if info is None:
                _release_only(cursor, "team_id", team_id, d.release)
                continue
            org_id, tz, period = info
            team_changes.append(
                CounterChange(team_id, org_id, "limit", period_bounds(period, now, tz), d)
            )
        _add_to_counters(cursor, "team_id", team_changes, now)


@dataclass
class CounterChange:
    """What a batch adds to one counter, and the period it adds in."""

    owner_id: uuid.UUID
    org_id: uuid.UUID
    kind: str
    bounds: tuple[datetime, datetime | None]
    delta: Delta


def _add_to_counters(cursor, owner: str, changes: list[CounterChange], now: datetime) -> None:
    """Adds each change to its counter in two statements, however many counters: one creates
    the counters that do not exist yet, one adds to every counter, starting a new period first
    where the stored one has ended (its totals are already in the history:
    resets.close_ended_periods_of, earlier in this transaction). New counters are created in
    COUNTER_LOCK_ORDER (owner, then month before limit); the rows that exist are already locked
    in that order."""
    if not changes:
        return
    changes = sorted(changes, key=lambda c: (str(c.owner_id), c.kind != "month"))
    pg = connection.vendor == "postgresql"
    # PostgreSQL types a VALUES column from its rows: say what a NULL (no period end) is.
    stamp = "%s::timestamptz" if pg else "%s"
    new = ", ".join(["(%s, %s, %s, %s, %s, %s, 0, 0, 0)"] * len(changes))
    cursor.execute(
        "INSERT INTO billing_counter (org_id, key_id, team_id, kind, period_start, period_end,"
        f" spend_micros, tokens, held_micros) VALUES {new}"
        f" ON CONFLICT ({owner}, kind) WHERE {owner} IS NOT NULL DO NOTHING",
        [
            value
            for c in changes
            for value in (
                db_id(c.org_id),
                db_id(c.owner_id) if owner == "key_id" else None,
                db_id(c.owner_id) if owner == "team_id" else None,
                c.kind,
                db_time(c.bounds[0]),
                db_time(c.bounds[1]),
            )
        ],
    )
    rows = ", ".join([f"(%s, %s, %s, %s, %s, {stamp}, {stamp})"] * len(changes))
    ended = "billing_counter.period_end IS NOT NULL AND billing_counter.period_end <= %s"
    cursor.execute(
        f"WITH batch (owner_id, kind, spend, tokens, release, start, stop) AS (VALUES {rows})"
        " UPDATE billing_counter SET"
        f" spend_micros = CASE WHEN {ended} THEN 0 ELSE billing_counter.spend_micros END + batch.spend,"
        f" tokens = CASE WHEN {ended} THEN 0 ELSE billing_counter.tokens END + batch.tokens,"
        " held_micros = CASE WHEN billing_counter.held_micros > batch.release"
        " THEN billing_counter.held_micros - batch.release ELSE 0 END,"
        f" period_start = CASE WHEN {ended} THEN batch.start ELSE billing_counter.period_start END,"
        f" period_end = CASE WHEN {ended} THEN batch.stop ELSE billing_counter.period_end END"
        f" FROM batch WHERE billing_counter.{owner} = batch.owner_id AND billing_counter.kind = batch.kind",
        [
            *[
                value
                for c in changes
                for value in (
                    db_id(c.owner_id),
                    c.kind,
                    c.delta.spend,
                    c.delta.tokens,
                    c.delta.release,
                    db_time(c.bounds[0]),
                    db_time(c.bounds[1]),
                )
            ],
            *[db_time(now)] * 4,
        ],
    )


def _release_only(cursor, owner: str, owner_id, amount: int) -> None:
    if amount:
        cursor.execute(
            "UPDATE billing_counter SET held_micros = CASE WHEN held_micros > %s THEN held_micros - %s ELSE 0 END"
            f" WHERE {owner} = %s",
            [amount, amount, db_id(owner_id)],
        )
