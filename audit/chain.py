"""The hash chain: each event's hash is SHA-256 of the previous hash and the event's canonical
JSON, so changing, removing or reordering any event breaks every hash after it. Each org has
its chain; the platform log (staff changes to users, plans and prices) is one more, hashed the
same way without an org."""

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
# A platform event has every field an org's event has but the org.
PLATFORM_HASHED_FIELDS = tuple(name for name in HASHED_FIELDS if name != "org_id")


def canonical_json(fields: dict) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_fields(event, fields: tuple[str, ...] = HASHED_FIELDS) -> dict:
    values = {}
    for name in fields:
        value = getattr(event, name)
        if name == "occurred_at":
            value = value.astimezone(UTC).isoformat(timespec="microseconds")
        elif name == "org_id":
            value = str(value)
        values[name] = value
    return values


def event_hash(event, fields: tuple[str, ...] = HASHED_FIELDS) -> str:
    """The hash of an org's event; of a platform event with PLATFORM_HASHED_FIELDS."""
    payload = event.prev_hash + canonical_json(canonical_fields(event, fields))
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    chain: str  # "org <slug>", or "platform log"
    seq: int
    event_id: int
    reason: str

    def __str__(self) -> str:
        return f"{self.chain}: event #{self.seq} (id {self.event_id}) {self.reason}"


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of walking one chain: how many events held, and the first that did
    not (None: the whole chain holds)."""

    checked: int
    broken: ChainBreak | None

    @property
    def holds(self) -> bool:
        return self.broken is None


def walk_chain(
    events,
    *,
    chain: str,
    fields: tuple[str, ...] = HASHED_FIELDS,
    start: tuple[int, str] | None = None,
) -> ChainCheck:
    """Walks one chain's events in order (constant memory) and stops at the first event that
    does not hold; `checked` counts the events walked, the broken one included. A chain whose
    oldest events were pruned (audit.prune) starts after `start`, (seq, hash) of the last
    pruned event."""
    expected_seq, expected_prev = (start[0] + 1, start[1]) if start else (1, GENESIS_HASH)
    checked = 0
    for event in events.order_by("seq").iterator(chunk_size=2000):
        checked += 1
        if event.seq != expected_seq:
            reason = f"follows #{expected_seq - 1}: events are missing"
        elif event.prev_hash != expected_prev:
            reason = "does not link to the event before it"
        elif event_hash(event, fields) != event.hash:
            reason = "was changed after it was written (hash mismatch)"
        else:
            expected_prev = event.hash
            expected_seq += 1
            continue
        return ChainCheck(checked, ChainBreak(chain, event.seq, event.id, reason))
    return ChainCheck(checked, None)


def check_chain(org) -> ChainCheck:
    """Walks the org's chain (walk_chain), from its start after a pruning if it had one. The
    start must be the event its checkpoint names (its signature is checked where the public key
    is: audit.anchor_check.check_chain_starts)."""
    from audit.models import AuditEvent, ChainStart

    name = f"org {org.slug}"
    start = ChainStart.objects.filter(org=org).order_by("-seq").first()
    if start is None:
        return walk_chain(AuditEvent.objects.filter(org=org), chain=name)
    if (start.checkpoint.get("seq"), start.checkpoint.get("hash")) != (start.seq, start.hash):
        reason = "is where a pruning says the chain starts, but not what its checkpoint signed"
        return ChainCheck(0, ChainBreak(name, start.seq, start.pk, reason))
    events = AuditEvent.objects.filter(org=org, seq__gt=start.seq)
    return walk_chain(events, chain=name, start=(start.seq, start.hash))


def check_platform_chain() -> ChainCheck:
    """Walks the platform log's chain (walk_chain)."""
    from audit.models import PlatformEvent

    return walk_chain(
        PlatformEvent.objects.all(), chain="platform log", fields=PLATFORM_HASHED_FIELDS
    )


def first_break(org) -> ChainBreak | None:
    """Walks the org's chain in order and names the first event that does not hold."""
    return check_chain(org).broken


def now_utc() -> datetime:
    return datetime.now(UTC)
