"""The wallet's ledger: every change of an org's balance appends exactly one WalletEntry in the
same transaction, so that the balance always equals the sum of the org's entries.

The balance moves in one SQL statement that also returns the new balance (never a
read-modify-write, so no concurrent debit or top-up is lost), and that balance is the entry's
`balance_after_micros`. The wallet row's lock, taken by that statement, is held until the
transaction ends, so entries are appended in the order the balance moved.

Callers own the transaction (services.py for top-ups, adjustments and refunds; usage.py for
usage debits); nothing here calls audit.record.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from django.db import connection

from audit import Actor
from billing.dbvalues import db_id, db_time
from billing.ledger.models import EntryKind, WalletEntry

# Usage debits are written by the usage endpoint on the gateway's behalf.
USAGE_ACTOR = Actor.system("gateway usage")
_REFERENCE_MAX = WalletEntry._meta.get_field("reference").max_length


class UsageEventLike(Protocol):
    org_id: object
    request_id: str


def move_balance(
    *, org_id, amount_micros: int, now: datetime, floor: int | None = None
) -> int | None:
    """Adds `amount_micros` (signed) to the org's balance in one statement and returns the
    balance after it. The wallet row is created by the same statement when the org has none.

    With `floor`, a debit that would take the balance below it changes nothing and returns
    None (the condition is part of the UPDATE, so two concurrent debits cannot both pass it).
    """
    with connection.cursor() as cursor:
        if floor is not None and amount_micros < 0:
            # A missing wallet is a balance of 0: a debit below a floor of 0 or more is refused
            # by finding no row, which is right.
            cursor.execute(
                "UPDATE billing_wallet SET balance_micros = balance_micros + %s, updated_at = %s"
                " WHERE org_id = %s AND balance_micros + %s >= %s RETURNING balance_micros",
                [amount_micros, db_time(now), db_id(org_id), amount_micros, floor],
            )
        else:
            cursor.execute(
                "INSERT INTO billing_wallet (org_id, balance_micros, held_micros, updated_at)"
                " VALUES (%s, %s, 0, %s) ON CONFLICT (org_id) DO UPDATE SET"
                " balance_micros = billing_wallet.balance_micros + EXCLUDED.balance_micros,"
                " updated_at = EXCLUDED.updated_at RETURNING balance_micros",
                [db_id(org_id), amount_micros, db_time(now)],
            )
        row = cursor.fetchone()
    return None if row is None else row[0]


def append_entry(
    *,
    org_id,
    kind: str,
    amount_micros: int,
    balance_after_micros: int,
    actor: Actor,
    now: datetime,
    reason: str = "",
    reference: str = "",
) -> WalletEntry:
    """Appends the entry of a balance change that `move_balance` (or usage.py's wallet
    statement) just made in the same transaction."""
    return WalletEntry.objects.create(
        org_id=org_id,
        kind=kind,
        amount_micros=amount_micros,
        balance_after_micros=balance_after_micros,
        reason=reason[:300],
        reference=reference[:_REFERENCE_MAX],
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label[:254],
        created_at=now,
    )


def usage_reference(request_ids: Sequence[str]) -> str:
    """`usage:<first request id> (<count> events)`, short enough for the column."""
    count = len(request_ids)
    suffix = f" ({count} event{'s' if count != 1 else ''})"
    first = request_ids[0][: _REFERENCE_MAX - len("usage:") - len(suffix)]
    return f"usage:{first}{suffix}"


def append_usage_debit(
    *,
    org_id,
    spend_micros: int,
    balance_after_micros: int,
    events: Sequence[UsageEventLike],
    now: datetime,
) -> WalletEntry | None:
    """The one usage_debit entry of an org for a usage batch: minus the sum of the cost of the
    batch's new events of that org. A batch that cost nothing moved no money and appends
    nothing (an entry of 0 would be noise in the ledger the org admin reads)."""
    if spend_micros == 0:
        return None
    request_ids = [e.request_id for e in events if e.org_id == org_id]
    return append_entry(
        org_id=org_id,
        kind=EntryKind.USAGE_DEBIT,
        amount_micros=-spend_micros,
        balance_after_micros=balance_after_micros,
        actor=USAGE_ACTOR,
        now=now,
        reason=f"Usage of {len(request_ids)} request{'s' if len(request_ids) != 1 else ''}",
        reference=usage_reference(request_ids),
    )
