"""How tenancy's changes reach the audit log, which stands on tenancy: the audit app registers
its `record` here when Django is ready (audit.apps), so that tenancy never imports the layer
above it. Tenancy's services call `recording.record(...)` exactly as others call
`audit.record(...)`: once, inside the change's transaction."""

from collections.abc import Callable
from typing import Any

from gateway_console.actors import Actor

_recorder: Callable[..., Any] | None = None


def register(recorder: Callable[..., Any]) -> None:
    global _recorder
    _recorder = recorder


def record(
    *,
    org,
    actor: Actor,
    action: str,
    target: Any = None,
    changes: dict | None = None,
    data: dict | None = None,
) -> Any:
    if _recorder is None:
        raise RuntimeError("no audit log is registered (is the audit app installed?)")
    return _recorder(org=org, actor=actor, action=action, target=target, changes=changes, data=data)
