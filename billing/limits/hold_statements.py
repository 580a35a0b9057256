"""The writes of a hold (billing.limits.holds): its row, and a reservation on the org's wallet
and on each of the key's and team's counters, each only when it fits (`spend + held + hold <=
cap`; the row's lock serialises concurrent requests on it).

On PostgreSQL they are one statement that commits on its own: it locks the rows in the lock
order of billing.limits.resets (the wallet, the key's month, its limit, its team's limit), says
whether the reservation fits each, and writes the hold and every reservation only if all fit.
One round trip to the database, and no transaction around it (issue 15: a hold of a key with a
team cost seven round trips with its BEGIN and COMMIT). SQLite has no data-modifying WITH: there
the writes run one by one in the caller's transaction, stopping at the first that does not fit,
and the caller's rollback takes back what was written.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection

from billing.dbvalues import db_id, db_time, prepared_cursor, writes_in_one_statement
from billing.money import money_to_micros


@dataclass(frozen=True)
class Reservations:
    """Whether the wallet, and each cap in the order given, had room for the hold. After a
    refusal on SQLite the caps not tried are missing."""

    wallet: bool
    caps: tuple[bool, ...]


_INSERT_HOLD = (
    "INSERT INTO billing_hold (id, org_id, request_id, key_id, team_id, amount_micros,"
    " created_at, expires_at, closed_at, model, rate_limited)"
)
_HOLD_VALUES = "%s, %s, %s, %s, %s, %s, %s, %s, NULL, %s, %s"
_ONCE = " ON CONFLICT (org_id, request_id) DO NOTHING RETURNING 1"


def _hold_params(scope, request_id: str, amount: int, now: datetime) -> list:
    return [
        db_id(uuid.uuid4()),
        db_id(scope.org_id),
        request_id,
        db_id(scope.key_id),
        db_id(scope.team_id),
        amount,
        db_time(now),
        db_time(now + timedelta(seconds=settings.HOLD_TTL)),
        scope.model_budget.model if scope.model_budget else "",
        scope.rate_limited,
    ]


# Whether a reservation of %s µ$ fits: on the wallet (its balance less what it holds) and on a
# counter (its cap, %s, None for none; a counter whose period ended at %s counts as empty: a
# late reset never blocks a customer). The one statement checks them, SQLite's UPDATEs filter by
# them.
_WALLET_ROOM = "balance_micros - held_micros - %s >= 0"
# The cap is cast: bound on the server (prepared_cursor), a NULL has no type of its own.
_COUNTER_ROOM = (
    "(CAST(%s AS bigint) IS NULL OR (CASE WHEN period_end IS NOT NULL AND period_end <= %s THEN 0"
    " ELSE spend_micros END) + held_micros + %s <= %s)"
)


@dataclass(frozen=True)
class _Row:
    """One row a hold reserves on: where it is, and whether the reservation fits."""

    table: str
    where: str
    where_params: list
    room: str
    room_params: list


def _rows(scope, amount: int, now: datetime) -> list[_Row]:
    """The wallet, then each cap's counter: the lock order of billing.limits.resets."""
    rows = [_Row("billing_wallet", "org_id = %s", [db_id(scope.org_id)], _WALLET_ROOM, [amount])]
    for cap in scope.caps:
        cap_micros = money_to_micros(cap.cap) if cap.cap is not None else None
        rows.append(
            _Row(
                "billing_counter",
                f"{cap.owner} = %s AND kind = %s",
                [db_id(cap.owner_id), cap.kind],
                _COUNTER_ROOM,
                [cap_micros, db_time(now), amount, cap_micros],
            )
        )
    return rows


def reserve(scope, request_id: str, amount: int, now: datetime) -> Reservations | None:
    """Writes the hold of `request_id` and its reservations on `scope` (a holds.HoldScope), all
    of them or, when one does not fit, none on PostgreSQL (on SQLite, in the caller's
    transaction, up to the first that does not fit). None: this request id already holds (the
    gateway retried it), and nothing was written."""
    rows = _rows(scope, amount, now)
    hold = _hold_params(scope, request_id, amount, now)
    if writes_in_one_statement():
        return _in_one_statement(hold, [db_id(scope.org_id), request_id], rows, amount)
    return _one_by_one(hold, rows, amount)


def _add_held(row: _Row, condition: str) -> str:
    return (
        f"UPDATE {row.table} SET held_micros = held_micros + %s WHERE {row.where} AND {condition}"
    )


def _in_one_statement(
    hold: list, held_before: list, rows: list[_Row], amount: int
) -> Reservations | None:
    # `fit` locks each row (FOR UPDATE, in order; after a wait it reads the row as the other
    # transaction left it) and says whether the reservation fits; the hold is inserted only if
    # all do, and each reservation is written only if the hold was: all or nothing, in one
    # statement that commits on its own.
    checks = ", ".join(
        f"(SELECT {row.room} FROM {row.table} WHERE {row.where} FOR UPDATE) AS f{i}"
        for i, row in enumerate(rows)
    )
    params = [p for row in rows for p in (*row.room_params, *row.where_params)]
    # A retried request id holds already: it reserves nothing, fitting or not.
    checks += ", EXISTS (SELECT 1 FROM billing_hold WHERE org_id = %s AND request_id = %s) AS again"
    params += held_before
    fits = " AND ".join([*(f"f{i}" for i in range(len(rows))), "NOT again"])
    parts = [
        f"fit AS (SELECT {checks})",
        f"h AS ({_INSERT_HOLD} SELECT {_HOLD_VALUES} FROM fit WHERE {fits}{_ONCE})",
    ]
    params += hold
    for i, row in enumerate(rows):
        parts.append(f"u{i} AS ({_add_held(row, 'EXISTS (SELECT 1 FROM h)')})")
        params += [amount, *row.where_params]
    outcomes = ", ".join(f"f{i}" for i in range(len(rows)))
    with prepared_cursor() as cursor:
        cursor.execute(
            f"WITH {', '.join(parts)} SELECT again, (SELECT count(*) FROM h), {outcomes} FROM fit",
            params,
        )
        again, held, *fitted = cursor.fetchone()
    fitted = [bool(f) for f in fitted]  # a missing row (NULL) has no room
    if again or (not held and all(fitted)):
        return None
    return Reservations(wallet=fitted[0], caps=tuple(fitted[1:]))


def _one_by_one(hold: list, rows: list[_Row], amount: int) -> Reservations | None:
    with connection.cursor() as cursor:
        cursor.execute(f"{_INSERT_HOLD} VALUES ({_HOLD_VALUES}){_ONCE}", hold)
        if cursor.fetchone() is None:
            return None
        fitted: list[bool] = []
        for row in rows:
            cursor.execute(_add_held(row, row.room), [amount, *row.where_params, *row.room_params])
            fitted.append(cursor.rowcount == 1)
            if not fitted[-1]:
                break
    return Reservations(wallet=fitted[0], caps=tuple(fitted[1:]))
