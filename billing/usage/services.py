"""Recording usage events reported by the gateway (docs/contract.md section 3).

A batch is checked first (billing.usage.events), then written in one transaction of set-based
statements: the new events are inserted in one statement (a repeated request id is skipped by
the unique index, so it counts nothing), which on PostgreSQL also adds the rows it inserted to
the hourly rollups (SQLite: the next statement does), then their wallets and counters change by
the batch's sums (billing.usage.counters).
"""

import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

from django.db import transaction

from billing.dbvalues import (
    as_uuid,
    batch_cursor,
    batch_table,
    db_id,
    db_time,
    writes_in_one_statement,
)
from billing.ledger.models import ModelPrice
from billing.limits import ratelimit
from billing.money import micros_to_money
from billing.usage import counters, events, rollups, traffic
from billing.usage.events import MAX_BATCH, BatchResult, Event, KeyFacts, Outcome

__all__ = ["MAX_BATCH", "KeyFacts", "record_batch", "register_key_facts"]

# Who the events' keys are. Keys stand above billing, so the keys app registers its reader here
# when Django is ready (keys.apps): {key id: KeyFacts} of the ids asked for, unknown ids left out.
_key_facts: Callable[[set[uuid.UUID]], dict[uuid.UUID, KeyFacts]]


def register_key_facts(reader: Callable[[set[uuid.UUID]], dict[uuid.UUID, KeyFacts]]) -> None:
    global _key_facts
    _key_facts = reader


def record_batch(raw_events: list, *, now: datetime | None = None) -> BatchResult:
    now = now or datetime.now(UTC)
    result = BatchResult()
    parsed = events.parse_all(raw_events, now, result)
    keys = _key_facts({e.key_id for _, e in parsed})
    prices = {p.model: p for p in ModelPrice.objects.filter(model__in={e.model for _, e in parsed})}
    accepted = events.accept(parsed, keys, prices, result)

    with transaction.atomic():
        inserted = _insert_new(accepted, now) if accepted else {}
        new_events = [e for _, e in accepted if (e.org_id, e.request_id) in inserted]
        settle: set[str] = set()
        if new_events:
            settle = counters.apply(new_events, keys, now)
    _count_traffic(accepted, inserted)
    _settle_rate_limits(new_events, settle)
    for index, event in accepted:
        if (event.org_id, event.request_id) in inserted:
            cost = micros_to_money(event.cost_micros)
            result.outcomes.append(Outcome(index, event.request_id, "recorded", cost=cost))
        else:
            result.outcomes.append(Outcome(index, event.request_id, "duplicate"))
    result.outcomes.sort(key=lambda o: o.index)
    return result


def _row(e: Event) -> tuple:
    """An event as billing_usageevent's EVENT_COLUMNS take it."""
    return (
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
    )


def _settle_rate_limits(new_events: list[Event], settle: set[str]) -> None:
    """After the commit: the tokens each request used replace what authorize held, and it is no
    longer in flight. Only for the requests whose holds say authorize held such places (their
    key's limits may have changed since): no round trip to Redis for the others."""
    ratelimit.settle(
        [
            (e.request_id, e.input_tokens + e.output_tokens)
            for e in new_events
            if e.request_id in settle
        ]
    )


def _count_traffic(accepted: list[tuple[int, Event]], inserted: dict) -> None:
    """The gateway page's figures: events recorded and repeats, per org (billing.usage.traffic)."""
    tallies: dict = defaultdict(lambda: [0, 0])
    for _, event in accepted:
        tallies[event.org_id][0 if (event.org_id, event.request_id) in inserted else 1] += 1
    for org_id, (recorded, duplicates) in tallies.items():
        traffic.count_usage(org_id, traffic.RECORDED, recorded)
        traffic.count_usage(org_id, traffic.DUPLICATE, duplicates)


EVENT_COLUMNS = (
    "org_id, request_id, key_id, team_id, model, input_tokens, output_tokens, cost_micros,"
    " status_code, latency_ms, occurred_at"
)
EVENT_TYPES = (
    "uuid", "text", "uuid", "uuid", "text", "bigint", "bigint", "bigint", "integer", "integer",
    "timestamptz",
)  # fmt: skip


def _insert_new(accepted: list[tuple[int, Event]], now: datetime) -> dict[tuple, int]:
    """Inserts the events not seen before and adds them to the hourly rollups of the usage
    pages (on PostgreSQL in the same statement); returns {(org id, request id): event id} of
    those."""
    # Sorted: two batches that share request ids must insert them in the same order, or each
    # waits on the other's uncommitted index entry (a deadlock).
    rows = [
        _row(e)
        for _, e in sorted(accepted, key=lambda item: (str(item[1].org_id), item[1].request_id))
    ]
    table, params = batch_table(rows, EVENT_TYPES)
    # WHERE true: SQLite would read ON CONFLICT as the join's ON.
    insert = (
        f"INSERT INTO billing_usageevent ({EVENT_COLUMNS}, received_at)"
        " SELECT *, %s FROM batch WHERE true ON CONFLICT (org_id, request_id) DO NOTHING"
    )
    if writes_in_one_statement():
        # The rollups read the rows the INSERT returns: the batch goes to the database once.
        sql = (
            f"WITH batch ({EVENT_COLUMNS}) AS ({table}), new AS ({insert}"
            f" RETURNING id, {EVENT_COLUMNS}), added AS ({rollups.adding('new')})"
            " SELECT org_id, request_id, id FROM new"
        )
    else:
        sql = f"WITH batch ({EVENT_COLUMNS}) AS ({table}) {insert} RETURNING org_id, request_id, id"
    with batch_cursor() as cursor:
        cursor.execute(sql, [*params, db_time(now)])
        ids = {(org_id, request_id): id_ for org_id, request_id, id_ in cursor.fetchall()}
        if not writes_in_one_statement():
            # Exactly the rows just inserted, with their ids.
            rollups.add_to_rollups(cursor, sorted((ids[r[:2]], *r) for r in rows if r[:2] in ids))
    return {(as_uuid(org_id), request_id): id_ for (org_id, request_id), id_ in ids.items()}
