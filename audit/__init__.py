"""The append-only, hash-chained log of confirmed actions.

`audit.record(...)` is the only way an event enters an org's log; services call it once, inside
the transaction of the change they make. `audit.record_platform(...)` is its counterpart for
the platform log: what staff change in Django admin that belongs to no org (audit.staff).
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gateway_console.actors import Actor

if TYPE_CHECKING:
    from audit.models import AuditEvent, PlatformEvent
    from gateway_console.models import Org

__all__ = ["Actor", "diff", "record", "record_platform", "recorded"]


def record(
    *,
    org: "Org",
    actor: Actor,
    action: str,
    target: Any = None,
    changes: dict | None = None,
    data: dict | None = None,
) -> "AuditEvent":
    """Appends one event to the org's chain (audit.services.record), inside the transaction of
    the change. Imported late: this package is imported before the app registry is ready."""
    from audit.services import record as append

    return append(org=org, actor=actor, action=action, target=target, changes=changes, data=data)


def record_platform(
    *,
    actor: Actor,
    action: str,
    target: Any = None,
    changes: dict | None = None,
    data: dict | None = None,
) -> "PlatformEvent":
    """Appends one event to the platform log's chain (audit.services.record_platform), inside
    the transaction of the change."""
    from audit.services import record_platform as append

    return append(actor=actor, action=action, target=target, changes=changes, data=data)


def recorded(value):
    """A value as an event keeps it, in JSON's types: a Decimal as its text (quantize it first:
    "100" and "100.000000" differ), a time in UTC (the same instant read from the database and
    from a form in the org's time zone is one value), a tuple as a list."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def diff(before: dict, after: dict) -> dict:
    """The `changes` of an event: {field: {"before": …, "after": …}} for each field of `after`
    whose recorded value differs from `before`'s (a field `before` lacks was None)."""
    changes = {}
    for field, value in after.items():
        old, new = recorded(before.get(field)), recorded(value)
        if old != new:
            changes[field] = {"before": old, "after": new}
    return changes
