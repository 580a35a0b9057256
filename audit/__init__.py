"""The append-only, hash-chained log of confirmed actions.

`audit.record(...)` is the only way an event enters the log; services call it once, inside the
transaction of the change they make.
"""

from typing import TYPE_CHECKING, Any

from gateway_console.actors import Actor

if TYPE_CHECKING:
    from audit.models import AuditEvent
    from gateway_console.models import Org

__all__ = ["Actor", "record"]


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
