"""Per-model budgets of a key: a spend cap for one model in the key's reset period, beside the
key's own caps (docs/contract.md section 2). Kept like the key's counters: one ModelCounter row
per key and budgeted model, reserved on by authorize's holds with a conditional UPDATE, added to
by usage batches in one set-based statement, released when a hold closes.

A period that has ended counts as zero, at authorize and in the usage statement that starts the
next one; no task has to reset these counters.

The counter of a budget set in the middle of a period starts with the key's spend on that model
so far in the period: a budget is "for the period", not "from now". So that no usage batch falls
between that sum and the counter, setting budgets first locks the key's counter rows, which
every usage batch of the key locks before it adds to any counter (billing.usage.counters):
a batch either committed before the sum (it is in the sum) or adds to the new counter once this
commits.
"""

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal

from django.db import connection

from billing.dbvalues import as_uuid, batch_table, db_id, db_time
from billing.limits import resets
from billing.limits.periods import LimitPeriod, period_bounds
from billing.money import money_to_micros

_ENDED = "period_end IS NOT NULL AND period_end <= %(now)s"


def set_budgets(
    *, org_id, key_id, models: Iterable[str], period: str, tz: str, now: datetime
) -> None:
    """Keeps one counter for each budgeted model of the key and none for the others. Runs in
    the transaction that saves the key's budgets, after lock_key_counters."""
    models = sorted(set(models))
    params = {"key": db_id(key_id), **{f"m{i}": m for i, m in enumerate(models)}}
    outside = (
        f" AND model NOT IN ({', '.join(f'%(m{i})s' for i in range(len(models)))})"
        if models
        else ""
    )
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM billing_modelcounter WHERE key_id = %(key)s{outside}", params)
        # The open holds on a removed budget stop naming it: released later, they must not take
        # from the counter of a budget set again meanwhile.
        cursor.execute(
            "UPDATE billing_hold SET model = '' WHERE key_id = %(key)s AND closed_at IS NULL"
            f" AND model <> ''{outside}",
            params,
        )
        for model in models:
            _create(cursor, org_id, key_id, model, period, tz, now)


def ensure(*, org_id, key_id, model: str, period: str, tz: str, now: datetime) -> None:
    """The counter of a budget that has none yet (a key made before its budget's counter was),
    run where the key's counters are already locked (a hold has reserved on them)."""
    with connection.cursor() as cursor:
        _create(cursor, org_id, key_id, model, period, tz, now)


def _create(cursor, org_id, key_id, model: str, period: str, tz: str, now: datetime) -> None:
    """The counter of the key's budget of `model`, with the key's spend on it so far this
    period; nothing when it exists."""
    start, end = period_bounds(period, now, tz)
    cursor.execute(
        "INSERT INTO billing_modelcounter (org_id, key_id, model, period_start, period_end,"
        " spend_micros, tokens, held_micros)"
        " SELECT %(org)s, %(key)s, %(model)s, %(start)s, %(end)s,"
        " COALESCE(SUM(cost_micros), 0), COALESCE(SUM(input_tokens + output_tokens), 0), 0"
        " FROM billing_usageevent WHERE key_id = %(key)s AND model = %(model)s"
        " AND received_at >= %(start)s AND (%(end)s IS NULL OR received_at < %(end)s)"
        " ON CONFLICT (key_id, model) DO NOTHING",
        {
            "key": db_id(key_id),
            "org": db_id(org_id),
            "model": model,
            "start": db_time(start),
            "end": db_time(end),
        },
    )


def lock_key_counters(*, org_id, key_id, tz: str, now: datetime) -> None:
    """The key's month counter exists, and its counters are locked in the order every writer
    locks them (month, then limit; model counters after them): first, in a transaction that
    changes the key's budgets or its period. See the module's docstring."""
    resets.ensure_counter(
        org_id=org_id, key_id=key_id, kind="month", period=LimitPeriod.MONTHLY, tz=tz, now=now
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM billing_counter WHERE key_id = %s ORDER BY kind DESC FOR UPDATE",
                [db_id(key_id)],
            )


def restart_now(*, key_id, period: str, tz: str, now: datetime) -> None:
    """The key's reset period changed: its model counters start a new period now, as its own
    limit counter does (billing.limits.resets.restart_period_now)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE billing_modelcounter SET period_start = %s, period_end = %s, spend_micros = 0,"
            " tokens = 0 WHERE key_id = %s",
            [db_time(now), db_time(period_bounds(period, now, tz)[1]), db_id(key_id)],
        )


def reserve(*, key_id: uuid.UUID, model: str, cap: Decimal, amount: int, now: datetime) -> bool:
    """Holds `amount` on the key's counter of `model` if it stays within `cap` (an ended period
    counts as zero). False: no room."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE billing_modelcounter SET held_micros = held_micros + %(amount)s"
            " WHERE key_id = %(key)s AND model = %(model)s"
            f" AND (CASE WHEN {_ENDED} THEN 0 ELSE spend_micros END) + held_micros + %(amount)s"
            " <= %(cap)s",
            {
                "amount": amount,
                "key": db_id(key_id),
                "model": model,
                "now": db_time(now),
                "cap": money_to_micros(cap),
            },
        )
        if cursor.rowcount == 1:
            return True
        # No room, or no counter: the budget was removed since authorize read the key (then
        # there is nothing to keep the request within).
        cursor.execute(
            "SELECT 1 FROM billing_modelcounter WHERE key_id = %s AND model = %s",
            [db_id(key_id), model],
        )
        return cursor.fetchone() is None


def release(cursor, amounts: Mapping[tuple, int]) -> None:
    """Takes closed holds off their model counters: {(key id, model): amount}."""
    for (key_id, model), amount in sorted(amounts.items(), key=lambda item: str(item[0])):
        cursor.execute(
            "UPDATE billing_modelcounter SET held_micros = CASE WHEN held_micros > %s"
            " THEN held_micros - %s ELSE 0 END WHERE key_id = %s AND model = %s",
            [amount, amount, db_id(key_id), model],
        )


def add_usage(cursor, events, keys: Mapping, released: Mapping[tuple, int], now: datetime) -> None:
    """Adds a usage batch to the model counters of its keys, and releases the holds it closed
    on them, in one statement. Every (key, model) of the batch is named; only those with a
    budget have a counter to change, so no key's budgets need reading here. An ended period
    starts again, at the key's period bounds."""
    sums: dict = defaultdict(lambda: [0, 0, 0])
    for e in events:
        if e.key_id in keys:
            entry = sums[(e.key_id, e.model)]
            entry[0] += e.cost_micros
            entry[1] += e.input_tokens + e.output_tokens
    for (key_id, model), amount in released.items():
        if key_id in keys:
            sums[(as_uuid(key_id), model)][2] += amount
    if not sums:
        return
    rows = []
    for (key_id, model), (spend, tokens, release_) in sorted(sums.items(), key=str):
        facts = keys[key_id]
        start, end = period_bounds(facts.limit_period, now, facts.org_timezone)
        rows.append((db_id(key_id), model, spend, tokens, release_, db_time(start), db_time(end)))
    table, params = batch_table(
        rows, ("uuid", "text", "bigint", "bigint", "bigint", "timestamptz", "timestamptz")
    )
    ended = "m.period_end IS NOT NULL AND m.period_end <= %s"
    cursor.execute(
        f"WITH batch (key_id, model, spend, tokens, release, start, stop) AS ({table})"
        " UPDATE billing_modelcounter AS m SET"
        f" spend_micros = CASE WHEN {ended} THEN 0 ELSE m.spend_micros END + batch.spend,"
        f" tokens = CASE WHEN {ended} THEN 0 ELSE m.tokens END + batch.tokens,"
        " held_micros = CASE WHEN m.held_micros > batch.release"
        " THEN m.held_micros - batch.release ELSE 0 END,"
        f" period_start = CASE WHEN {ended} THEN batch.start ELSE m.period_start END,"
        f" period_end = CASE WHEN {ended} THEN batch.stop ELSE m.period_end END"
        " FROM batch WHERE m.key_id = batch.key_id AND m.model = batch.model",
        [*params, *[db_time(now)] * 4],
    )
