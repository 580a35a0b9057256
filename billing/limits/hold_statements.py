"""The writes of a hold (billing.limits.holds): its row, then a reservation on the org's wallet
and on each of the key's and team's counters, each a conditional UPDATE that only succeeds when
the reservation fits (`... WHERE spend + held + hold <= cap`; its row lock serialises concurrent
requests on that row).

On PostgreSQL they run as one statement, a data-modifying WITH: one round trip to the database
instead of one per row (issue 15: a hold of a key with a team cost seven round trips with its
BEGIN and COMMIT, now three). Each reservation there waits for the hold's row (`EXISTS (SELECT 1
FROM h)`), so a retried request id reserves nothing, and the outer SELECT takes them in the lock
order of billing.limits.resets (the wallet, the key's month, its limit, its team's limit).
SQLite has no data-modifying WITH: there they run one by one, stopping at the first that has no
room. Either way the caller raises the refusal, and authorize's transaction takes back whatever
was written.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection

from billing.dbvalues import db_id, db_time
from billing.money import money_to_micros


@dataclass(frozen=True)
class Reservations:
    """Whether the wallet, and each cap in the order given, had room for the hold. After a
    refusal on SQLite the caps not tried are missing."""

    wallet: bool
    caps: tuple[bool, ...]


def _insert_hold(scope, request_id: str, amount: int, now: datetime) -> tuple[str, list]:
    return (
        "INSERT INTO billing_hold (id, org_id, request_id, key_id, team_id, amount_micros,"
        " created_at, expires_at, closed_at, model, rate_limited)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, NULL, %s, %s)"
        " ON CONFLICT (org_id, request_id) DO NOTHING RETURNING 1",
        [
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
        ],
    )


def _on_wallet(org_id, amount: int) -> tuple[str, list]:
    return (
        "UPDATE billing_wallet SET held_micros = held_micros + %s"
        " WHERE org_id = %s AND balance_micros - held_micros - %s >= 0",
        [amount, db_id(org_id), amount],
    )


def _on_counter(cap, amount: int, now: datetime) -> tuple[str, list]:
    # A counter whose period has ended counts as empty (a late reset never blocks a customer).
    cap_micros = money_to_micros(cap.cap) if cap.cap is not None else None
    return (
        f"UPDATE billing_counter SET held_micros = held_micros + %s WHERE {cap.owner} = %s"
        " AND kind = %s AND (%s IS NULL OR (CASE WHEN period_end IS NOT NULL AND period_end <= %s"
        " THEN 0 ELSE spend_micros END) + held_micros + %s <= %s)",
        [amount, db_id(cap.owner_id), cap.kind, cap_micros, db_time(now), amount, cap_micros],
    )


def reserve(scope, request_id: str, amount: int, now: datetime) -> Reservations | None:
    """Writes the hold of `request_id` and its reservations on `scope` (a holds.HoldScope).
    None: this request id already holds (the gateway retried it), and nothing was written."""
    writes = [_on_wallet(scope.org_id, amount), *(_on_counter(c, amount, now) for c in scope.caps)]
    hold = _insert_hold(scope, request_id, amount, now)
    if connection.vendor == "postgresql":
        return _in_one_statement(hold, writes)
    return _one_by_one(hold, writes)


def _in_one_statement(
    hold: tuple[str, list], writes: list[tuple[str, list]]
) -> Reservations | None:
    parts = [f"h AS ({hold[0]})"]
    params = list(hold[1])
    for i, (sql, values) in enumerate(writes):
        parts.append(f"w{i} AS ({sql} AND EXISTS (SELECT 1 FROM h) RETURNING 1)")
        params += values
    outcomes = ", ".join(
        f"(SELECT count(*) FROM {name})" for name in ["h"] + [f"w{i}" for i in range(len(writes))]
    )
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} SELECT {outcomes}", params)
        held, *fitted = cursor.fetchone()
    if not held:
        return None
    return Reservations(wallet=fitted[0] == 1, caps=tuple(n == 1 for n in fitted[1:]))


def _one_by_one(hold: tuple[str, list], writes: list[tuple[str, list]]) -> Reservations | None:
    with connection.cursor() as cursor:
        cursor.execute(*hold)
        if cursor.fetchone() is None:
            return None
        fitted: list[bool] = []
        for sql, values in writes:
            cursor.execute(sql, values)
            fitted.append(cursor.rowcount == 1)
            if not fitted[-1]:
                break
    return Reservations(wallet=fitted[0], caps=tuple(fitted[1:]))
