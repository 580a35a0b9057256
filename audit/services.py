import hashlib
import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction

from audit.chain import GENESIS_HASH, event_hash, now_utc
from audit.models import AuditEvent
from gateway_console.actors import Actor
from gateway_console.models import Org


class AuditOutsideTransaction(RuntimeError):
    """`record` was called outside the transaction of the change it describes."""


def _json_safe(value: dict | None) -> dict:
    # What is hashed must be exactly what the database gives back later: plain JSON types.
    return json.loads(json.dumps(value or {}, cls=DjangoJSONEncoder))


def lock_chain(org: Org) -> None:
    # One writer per org chain at a time, until the transaction ends. SQLite needs no lock:
    # its transactions begin IMMEDIATE (settings), which already serialises writers.
    if connection.vendor == "postgresql":
        lock_id = int.from_bytes(
            hashlib.sha256(b"audit:" + org.pk.bytes).digest()[:8], "big", signed=True
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id])


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
    if not connection.in_atomic_block:
        raise AuditOutsideTransaction(
            f"audit.record({action!r}) must run inside the change's transaction"
        )

    target_type = target_id = target_label = ""
    if target is not None:
        target_type = target._meta.model_name
        target_id = str(target.pk)
        target_label = str(getattr(target, "audit_label", target))[:200]

    with transaction.atomic():
        lock_chain(org)
        last = AuditEvent.objects.filter(org=org).order_by("-seq").values("seq", "hash").first()
        event = AuditEvent(
            org=org,
            seq=(last["seq"] + 1) if last else 1,
            occurred_at=now_utc(),
            actor_type=actor.type,
            actor_id=actor.id,
            actor_label=actor.label[:254],
            actor_role=actor.role,
            action=action,
            target_type=target_type,
            target_id=target_id,
            target_label=target_label,
            changes=_json_safe(changes),
            data=_json_safe(data),
            ip_address=actor.ip_address,
            user_agent=actor.user_agent[:300],
            request_id=actor.request_id[:100],
            prev_hash=last["hash"] if last else GENESIS_HASH,
        )
        event.hash = event_hash(event)
        event.save(force_insert=True)
    return event
