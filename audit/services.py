import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction

from audit.chain import GENESIS_HASH, PLATFORM_HASHED_FIELDS, event_hash, now_utc
from audit.models import AuditEvent, PlatformEvent
from gateway_console.actors import Actor
from gateway_console.models import Org


class AuditOutsideTransaction(RuntimeError):
    """`record` was called outside the transaction of the change it describes."""


def _json_safe(value: dict | None) -> dict:
    # What is hashed must be exactly what the database gives back later: plain JSON types.
    if not value:
        return {}
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _lock(name: bytes) -> None:
    # One writer per chain at a time, until the transaction ends. SQLite needs no lock: its
    # transactions begin IMMEDIATE (settings), which already serialises writers.
    if connection.vendor == "postgresql":
        lock_id = int.from_bytes(hashlib.sha256(name).digest()[:8], "big", signed=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id])


def lock_chain(org: Org) -> None:
    _lock(b"audit:" + org.pk.bytes)


def lock_platform_chain() -> None:
    _lock(b"audit:platform")


@dataclass(frozen=True)
class Entry:
    """One event of `record_many`: what `record` takes. Its time is taken under the chain's
    lock, as `record` takes it, never given: times never go back along a chain (the audit
    page's time filters rely on it), and no import can backdate an event."""

    actor: Actor
    action: str
    target: Any = None
    changes: dict | None = None
    data: dict | None = None


def _check_in_transaction(action: str) -> None:
    if not connection.in_atomic_block:
        raise AuditOutsideTransaction(
            f"audit.record({action!r}) must run inside the change's transaction"
        )


def _last_link(events) -> tuple[int, str]:
    """The chain's last position and hash; call under its lock."""
    last = events.order_by("-seq").values("seq", "hash").first()
    return (last["seq"], last["hash"]) if last else (0, GENESIS_HASH)


def _event_fields(entry: Entry) -> dict:
    """What an event of any chain holds of `entry`, stamped now (under the chain's lock)."""
    actor, target = entry.actor, entry.target
    target_type = target_id = target_label = ""
    if target is not None:
        target_type = target._meta.model_name
        target_id = str(target.pk)
        target_label = str(getattr(target, "audit_label", target))[:200]
    return {
        "occurred_at": now_utc(),
        "actor_type": actor.type,
        "actor_id": actor.id,
        "actor_label": actor.label[:254],
        "actor_role": actor.role,
        "action": entry.action,
        "target_type": target_type,
        "target_id": target_id,
        "target_label": target_label,
        "changes": _json_safe(entry.changes),
        "data": _json_safe(entry.data),
        "ip_address": actor.ip_address,
        "user_agent": actor.user_agent[:300],
        "request_id": actor.request_id[:100],
    }


def _linked_event(org: Org, seq: int, prev_hash: str, entry: Entry) -> AuditEvent:
    """The event at `seq` after the one hashed `prev_hash`, with its own hash."""
    event = AuditEvent(org=org, seq=seq, prev_hash=prev_hash, **_event_fields(entry))
    event.hash = event_hash(event)
    return event


def record(
    *,
    org: Org,
    actor: Actor,
    action: str,
    target: Any = None,
    changes: dict | None = None,
    data: dict | None = None,
) -> AuditEvent:
    """Appends one event to the org's chain. Must run inside the change's transaction, so that
    a failed change leaves no event and an event never lacks its change."""
    _check_in_transaction(action)
    entry = Entry(actor=actor, action=action, target=target, changes=changes, data=data)
    with transaction.atomic():
        lock_chain(org)
        seq, prev_hash = _last_link(AuditEvent.objects.filter(org=org))
        event = _linked_event(org, seq + 1, prev_hash, entry)
        event.save(force_insert=True)
    return event


def record_many(*, org: Org, entries: Sequence[Entry], batch_size: int = 2000) -> int:
    """Appends `entries` to the org's chain in order, under one lock, in INSERTs of `batch_size`:
    for history brought in at once (an import, the demo data). Must run inside the transaction
    of what they describe, as `record`. Returns how many it appended."""
    if not entries:
        return 0
    _check_in_transaction(entries[0].action)
    with transaction.atomic():
        lock_chain(org)
        seq, prev_hash = _last_link(AuditEvent.objects.filter(org=org))
        events = []
        for entry in entries:
            seq += 1
            event = _linked_event(org, seq, prev_hash, entry)
            prev_hash = event.hash
            events.append(event)
        AuditEvent.objects.bulk_create(events, batch_size=batch_size)
    return len(events)


def record_platform(
    *,
    actor: Actor,
    action: str,
    target: Any = None,
    changes: dict | None = None,
    data: dict | None = None,
) -> PlatformEvent:
    """Appends one event to the platform log's chain, as `record` appends to an org's: inside
    the change's transaction, under the chain's own lock."""
    _check_in_transaction(action)
    entry = Entry(actor=actor, action=action, target=target, changes=changes, data=data)
    with transaction.atomic():
        lock_platform_chain()
        seq, prev_hash = _last_link(PlatformEvent.objects.all())
        event = PlatformEvent(seq=seq + 1, prev_hash=prev_hash, **_event_fields(entry))
        event.hash = event_hash(event, PLATFORM_HASHED_FIELDS)
        event.save(force_insert=True)
    return event
