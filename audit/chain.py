"""The hash chain: each event's hash is SHA-256 of the previous hash and the event's canonical
JSON, so changing, removing or reordering any event breaks every hash after it."""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

GENESIS_HASH = "0" * 64

# The fields that the hash covers, in the canonical form; `hash` itself is not among them.
HASHED_FIELDS = (
    "org_id",
    "seq",
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_label",
    "actor_role",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "changes",
    "data",
    "ip_address",
    "user_agent",
    "request_id",
    "prev_hash",
)


def canonical_json(fields: dict) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_fields(event) -> dict:
    values = {}
    for name in HASHED_FIELDS:
        value = getattr(event, name)
        if name == "occurred_at":
            value = value.astimezone(UTC).isoformat(timespec="microseconds")
        elif name == "org_id":
            value = str(value)
        values[name] = value
    return values


def event_hash(event) -> str:
    payload = event.prev_hash + canonical_json(canonical_fields(event))
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    org_slug: str
    seq: int
    event_id: int
    reason: str

    def __str__(self) -> str:
        return f"org {self.org_slug}: event #{self.seq} (id {self.event_id}) {self.reason}"


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of walking one org's chain: how many events held, and the first that did
    not (None: the whole chain holds)."""

    checked: int
    broken: ChainBreak | None

    @property
    def holds(self) -> bool:
        return self.broken is None


def check_chain(org) -> ChainCheck:
    """Walks the org's chain in order (constant memory) and stops at the first event that does
    not hold; `checked` counts the events walked, the broken one included."""
    from audit.models import AuditEvent

    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    events = AuditEvent.objects.filter(org=org).order_by("seq")
    for event in events.iterator(chunk_size=2000):
        checked += 1
        if event.seq != expected_seq:
            return ChainCheck(
                checked,
                ChainBreak(
                    org.slug,
                    event.seq,
                    event.id,
                    f"follows #{expected_seq - 1}: events are missing",
                ),
            )
        if event.prev_hash != expected_prev:
            return ChainCheck(
                checked,
                ChainBreak(org.slug, event.seq, event.id, "does not link to the event before it"),
            )
        if event_hash(event) != event.hash:
            return ChainCheck(
                checked,
                ChainBreak(
                    org.slug,
                    event.seq,
                    event.id,
                    "was changed after it was written (hash mismatch)",
                ),
            )
        expected_prev = event.hash
        expected_seq += 1
    return ChainCheck(checked, None)


def first_break(org) -> ChainBreak | None:
    """Walks the org's chain in order and names the first event that does not hold."""
    return check_chain(org).broken


def now_utc() -> datetime:
    return datetime.now(UTC)
