"""What a batch of new usage events adds to wallets and counters, in set-based statements.

The holds of the batch's requests are closed and released; each wallet takes the batch's spend
in one conditional statement (with its ledger entry); each counter takes its sum in one of two
statements for all counters. Rows are locked in the same order as authorize's holds lock them
(wallets, then counters, each sorted), so concurrent writers cannot deadlock, and no value is
read into Python to be written back.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection

from billing.dbvalues import among, as_uuid, batch_cursor, batch_table, db_id, db_time
from billing.ledger import entries as ledger
from billing.limits import model_budgets, resets
from billing.limits.periods import LimitPeriod, period_bounds
from billing.usage.events import Event, KeyFacts


@dataclass
class Delta:
    spend: int = 0
    tokens: int = 0
    release: int = 0


@dataclass
class Deltas:
    """The sums of a batch per wallet (org), key and team."""

    wallets: dict = field(default_factory=lambda: defaultdict(Delta))
    keys: dict = field(default_factory=lambda: defaultdict(Delta))
    teams: dict = field(default_factory=lambda: defaultdict(Delta))
    # What the closed holds release on model counters: {(key id, model): amount}.
    models: dict = field(default_factory=lambda: defaultdict(int))
    # The request ids whose holds also held tokens/min or in-flight places.
    rate_limited: set = field(default_factory=set)


def apply(events: list[Event], keys: dict[uuid.UUID, KeyFacts], now: datetime) -> set[str]:
    """Adds the events to their wallets and counters, and releases their holds. Returns the
    request ids whose rate limits their usage settles (billing.limits.ratelimit.settle), once
    this transaction has committed."""
    deltas = _deltas(events, now)
    with batch_cursor() as cursor:
        _apply_to_wallets(cursor, deltas.wallets, events, now)
        # Before any counter moves: lock this batch's counters and keep the totals of those
        # whose period has ended (the statements below start their new periods).
        team_info = {
            facts.team_id: (facts.org_id, facts.org_timezone, facts.team_limit_period)
            for facts in keys.values()
            if facts.team_id
        }
        resets.close_ended_periods_of(
            cursor,
            key_ids=[k for k in deltas.keys if k in keys],
            team_ids=[t for t in deltas.teams if t in team_info],
            now=now,
        )
        _apply_to_key_counters(cursor, deltas.keys, keys, now)
        _apply_to_team_counters(cursor, deltas.teams, team_info, now)
        # After the key counters, which lock model counters' writers out (model_budgets).
        model_budgets.add_usage(cursor, events, keys, deltas.models, now)
        model_budgets.release(
            cursor, {km: amount for km, amount in deltas.models.items() if km[0] not in keys}
        )
    return deltas.rate_limited


def _deltas(events: list[Event], now: datetime) -> Deltas:
    """The batch's spend and tokens, and the holds it closes, per wallet, key and team."""
    deltas = Deltas()
    # Summed per key first (an event's org and team are its key's): one lookup per event.
    per_key: dict = defaultdict(lambda: [0, 0])
    for e in events:
        sums = per_key[(e.org_id, e.key_id, e.team_id)]
        sums[0] += e.cost_micros
        sums[1] += e.input_tokens + e.output_tokens
    for (org_id, key_id, team_id), (spend, tokens) in per_key.items():
        owners = [(deltas.wallets, org_id), (deltas.keys, key_id)]
        if team_id is not None:
            owners.append((deltas.teams, team_id))
        for bucket, owner in owners:
            bucket[owner].spend += spend
            bucket[owner].tokens += tokens
    for org_id, key_id, team_id, amount, model, request_id, rate_limited in _close_holds(
        events, now
    ):
        deltas.wallets[as_uuid(org_id)].release += amount
        deltas.keys[as_uuid(key_id)].release += amount
        if team_id is not None:
            deltas.teams[as_uuid(team_id)].release += amount
        if model:
            deltas.models[(as_uuid(key_id), model)] += amount
        if rate_limited:
            deltas.rate_limited.add(request_id)
    return deltas


def _apply_to_wallets(cursor, wallets: dict, events: list[Event], now: datetime) -> None:
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


def _apply_to_key_counters(
    cursor, key_deltas: dict, keys: dict[uuid.UUID, KeyFacts], now: datetime
) -> None:
    changes = []
    for key_id in sorted(key_deltas, key=str):
        d = key_deltas[key_id]
        facts = keys.get(key_id)
        if facts is None:
            # The hold of this request id was placed for another key than the event names
            # (a gateway that reports a different key): release it there, add nothing.
            _release_only(cursor, "key_id", key_id, d.release)
            continue
        tz, org_id = facts.org_timezone, facts.org_id
        changes += [
            CounterChange(key_id, org_id, "month", period_bounds(LimitPeriod.MONTHLY, now, tz), d),
            CounterChange(key_id, org_id, "limit", period_bounds(facts.limit_period, now, tz), d),
        ]
    _add_to_counters(cursor, "key_id", changes, now)


def _apply_to_team_counters(cursor, team_deltas: dict, team_info: dict, now: datetime) -> None:
    changes = []
    for team_id in sorted(team_deltas, key=str):
        d = team_deltas[team_id]
        info = team_info.get(team_id)
        if info is None:
            _release_only(cursor, "team_id", team_id, d.release)
            continue
        org_id, tz, period = info
        changes.append(CounterChange(team_id, org_id, "limit", period_bounds(period, now, tz), d))
    _add_to_counters(cursor, "team_id", changes, now)


def _close_holds(events: list[Event], now: datetime) -> list[tuple]:
    by_org: dict = defaultdict(list)
    for e in events:
        by_org[e.org_id].append(e.request_id)
    closed = []
    with connection.cursor() as cursor:
        for org_id in sorted(by_org, key=str):
            requests, ids = among("request_id", by_org[org_id], "text")
            cursor.execute(
                "UPDATE billing_hold SET closed_at = %s WHERE org_id = %s AND closed_at IS NULL"
                f" AND {requests} RETURNING org_id, key_id, team_id, amount_micros, model,"
                " request_id, rate_limited",
                [db_time(now), db_id(org_id), *ids],
            )
            closed += cursor.fetchall()
    return closed


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
    _create_missing(cursor, owner, changes)
    _add_changes(cursor, owner, changes, now)


def _create_missing(cursor, owner: str, changes: list["CounterChange"]) -> None:
    new, params = batch_table(
        [
            (
                db_id(c.org_id),
                db_id(c.owner_id) if owner == "key_id" else None,
                db_id(c.owner_id) if owner == "team_id" else None,
                c.kind,
                db_time(c.bounds[0]),
                db_time(c.bounds[1]),
            )
            for c in changes
        ],
        ("uuid", "uuid", "uuid", "text", "timestamptz", "timestamptz"),
    )
    # WHERE true: SQLite would read ON CONFLICT as the join's ON.
    cursor.execute(
        f"WITH batch (org_id, key_id, team_id, kind, start, stop) AS ({new})"
        " INSERT INTO billing_counter (org_id, key_id, team_id, kind, period_start, period_end,"
        " spend_micros, tokens, held_micros)"
        " SELECT org_id, key_id, team_id, kind, start, stop, 0, 0, 0 FROM batch WHERE true"
        f" ON CONFLICT ({owner}, kind) WHERE {owner} IS NOT NULL DO NOTHING",
        params,
    )


def _add_changes(cursor, owner: str, changes: list["CounterChange"], now: datetime) -> None:
    rows, params = batch_table(
        [
            (
                db_id(c.owner_id),
                c.kind,
                c.delta.spend,
                c.delta.tokens,
                c.delta.release,
                db_time(c.bounds[0]),
                db_time(c.bounds[1]),
            )
            for c in changes
        ],
        ("uuid", "text", "bigint", "bigint", "bigint", "timestamptz", "timestamptz"),
    )
    ended = "billing_counter.period_end IS NOT NULL AND billing_counter.period_end <= %s"
    cursor.execute(
        f"WITH batch (owner_id, kind, spend, tokens, release, start, stop) AS ({rows})"
        " UPDATE billing_counter SET"
        f" spend_micros = CASE WHEN {ended} THEN 0 ELSE billing_counter.spend_micros END + batch.spend,"
        f" tokens = CASE WHEN {ended} THEN 0 ELSE billing_counter.tokens END + batch.tokens,"
        " held_micros = CASE WHEN billing_counter.held_micros > batch.release"
        " THEN billing_counter.held_micros - batch.release ELSE 0 END,"
        f" period_start = CASE WHEN {ended} THEN batch.start ELSE billing_counter.period_start END,"
        f" period_end = CASE WHEN {ended} THEN batch.stop ELSE billing_counter.period_end END"
        f" FROM batch WHERE billing_counter.{owner} = batch.owner_id AND billing_counter.kind = batch.kind",
        [*params, *[db_time(now)] * 4],
    )


def _release_only(cursor, owner: str, owner_id, amount: int) -> None:
    if amount:
        cursor.execute(
            "UPDATE billing_counter SET held_micros = CASE WHEN held_micros > %s THEN held_micros - %s ELSE 0 END"
            f" WHERE {owner} = %s",
            [amount, amount, db_id(owner_id)],
        )
