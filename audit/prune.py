"""Exporting, then pruning, an org's oldest audit events (docs/audit.md, *Pruning*).

Never by default: only for an org whose owner opted in (Org.audit_retention_days), and only up
to an event that a signed checkpoint vouches for (audit.anchor), so that both halves still
verify: the export on its own (`check_export`), and the chain left in the database from its
new start (audit.chain, ChainStart). For one org, in one transaction, under the chain's lock:

1. the candidate, the newest event older than the retention;
2. the newest checkpoint at or before it in AUDIT_ANCHOR_DIR whose signature verifies and whose
   event still has the hash it signed (audit.anchor_check.vouching_checkpoint);
3. the chain from its start to that event walks (audit.chain.walk_chain);
4. the events up to it go to AUDIT_EXPORT_DIR/<slug>/, one JSON line each after a header that
   holds the checkpoint, synced to disk, then read back and checked;
5. a ChainStart row, the DELETE (audit.append_only.deletes_allowed) and one `audit.pruned`
   event at the chain's head.

The console's own role may not delete audit events when the database has two roles
(config.database_roles): then `manage.py prune_audit_log` runs it as the owner."""

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from audit import append_only, diff
from audit.anchor_check import signature_problem, vouching_checkpoint
from audit.anchor_keys import verifying_keys
from audit.chain import HASHED_FIELDS, canonical_fields, canonical_json, walk_chain
from audit.models import AuditEvent, ChainStart
from audit.services import lock_chain, record
from gateway_console.actors import Actor
from gateway_console.models import Org

EXPORT_VERSION = 1
# The opt-in's bounds, in days: never less than a year.
MIN_DAYS, MAX_DAYS = 365, 3650


@dataclass(frozen=True)
class Pruned:
    org: str
    events: int
    upto: int | None = None
    export: Path | None = None
    reason: str = ""

    def __str__(self) -> str:
        if self.events:
            return (
                f"org {self.org}: exported {self.events} events up to #{self.upto} to"
                f" {self.export}, then pruned them"
            )
        return f"org {self.org}: nothing pruned: {self.reason}"


def export_dir() -> Path:
    return Path(settings.AUDIT_EXPORT_DIR)


def may_delete() -> bool:
    """Whether this connection's role may delete audit events (two roles: only the owner)."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT has_table_privilege('audit_auditevent', 'DELETE')")
        return cursor.fetchone()[0]


def due_orgs() -> list[Org]:
    return list(Org.objects.filter(audit_retention_days__isnull=False).order_by("slug"))


def chain_start(org: Org) -> ChainStart | None:
    return ChainStart.objects.filter(org=org).order_by("-seq").first()


def prune_org(org: Org, *, now: datetime) -> Pruned:
    """Exports and prunes `org`'s events past its retention, up to the newest checkpointed
    one; or nothing, saying why."""
    if org.audit_retention_days is None:
        return Pruned(org.slug, 0, reason="the org keeps its audit log for good")
    cutoff = now - timedelta(days=org.audit_retention_days)
    with transaction.atomic():
        lock_chain(org)
        start = chain_start(org)
        first = start.seq + 1 if start else 1
        old = AuditEvent.objects.filter(org=org, seq__gte=first, occurred_at__lt=cutoff)
        candidate = old.order_by("-seq").values_list("seq", flat=True).first()
        head = AuditEvent.objects.filter(org=org).order_by("-seq").values_list("seq", flat=True)
        if candidate is not None:
            # The head stays, whatever its age: the chain goes on from it.
            candidate = min(candidate, head.first() - 1) or None
        if candidate is None:
            return Pruned(org.slug, 0, reason=f"no event is older than {cutoff:%Y-%m-%d}")
        found = vouching_checkpoint(org, upto=candidate, keys=verifying_keys())
        if found is None or found["seq"] < first:
            return Pruned(
                org.slug,
                0,
                reason=f"no signed checkpoint vouches for an event before #{candidate + 1}",
            )
        upto = found["seq"]
        events = AuditEvent.objects.filter(org=org, seq__gte=first, seq__lte=upto)
        check = walk_chain(events, chain=f"org {org.slug}", start=_start_of(start))
        if not check.holds:
            return Pruned(org.slug, 0, reason=f"the chain does not hold: {check.broken}")
        path = _export(org, events, found, start)
        if (problem := check_export(path, verifying_keys())) is not None:
            return Pruned(org.slug, 0, reason=f"the export did not read back: {problem}")
        count = _delete(org, events, found, path, now)
    return Pruned(org.slug, count, upto, path)


def _start_of(start: ChainStart | None) -> tuple[int, str] | None:
    return (start.seq, start.hash) if start else None


def _delete(org: Org, events, checkpoint: dict, path: Path, now: datetime) -> int:
    with append_only.deletes_allowed(connection, AuditEvent._meta.db_table):
        count, _ = events.delete()
    ChainStart.objects.create(
        org=org,
        seq=checkpoint["seq"],
        hash=checkpoint["hash"],
        checkpoint=checkpoint,
        export_name=path.name,
        pruned=count,
        pruned_at=now,
    )
    record(
        org=org,
        actor=Actor.system("audit retention"),
        action="audit.pruned",
        data={"through_seq": checkpoint["seq"], "events": count, "export": path.name},
    )
    return count


def _header(org: Org, first: int, checkpoint: dict, start: ChainStart | None) -> dict:
    return {
        "export": EXPORT_VERSION,
        "org": str(org.pk),
        "slug": org.slug,
        "first_seq": first,
        "last_seq": checkpoint["seq"],
        "start_hash": start.hash if start else None,
        "checkpoint": checkpoint,
    }


def _export(org: Org, events, checkpoint: dict, start: ChainStart | None) -> Path:
    first = start.seq + 1 if start else 1
    directory = export_dir() / org.slug
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"audit-{org.slug}-{first:09d}-{checkpoint['seq']:09d}.jsonl"
    temporary = path.with_suffix(".jsonl.tmp")
    with temporary.open("w", encoding="utf-8") as file:
        file.write(json.dumps(_header(org, first, checkpoint, start), sort_keys=True) + "\n")
        for event in events.order_by("seq").iterator(chunk_size=2000):
            line = {**canonical_fields(event, HASHED_FIELDS), "hash": event.hash}
            file.write(canonical_json(line) + "\n")
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(path)
    return path


def check_export(path: Path, keys: dict) -> str | None:
    """None when an export holds on its own: each line hashes to its `hash`, links to the one
    before and follows it in seq, the last is the checkpoint's event, and the checkpoint's
    signature verifies with `keys`. Else what is wrong, and where."""
    with path.open(encoding="utf-8") as file:
        try:
            header = json.loads(file.readline())
            checkpoint = header["checkpoint"]
            expected_seq, expected_prev = header["first_seq"], header["start_hash"]
        except (ValueError, KeyError, TypeError):
            return f"{path.name}:1 is not an export's header"
        if (problem := signature_problem(checkpoint, keys)) is not None:
            return f"{path.name}:1 holds a checkpoint that {problem}"
        last = None
        for number, text in enumerate(file, start=2):
            try:
                line = json.loads(text)
                stored = line.pop("hash")
            except (ValueError, KeyError, AttributeError):
                return f"{path.name}:{number} is not an event"
            payload = line.get("prev_hash", "") + canonical_json(line)
            if line.get("seq") != expected_seq:
                return f"{path.name}:{number} is not event #{expected_seq}: events are missing"
            if expected_prev is not None and line.get("prev_hash") != expected_prev:
                return f"{path.name}:{number} does not link to the event before it"
            if hashlib.sha256(payload.encode()).hexdigest() != stored:
                return f"{path.name}:{number} was changed (hash mismatch)"
            expected_seq, expected_prev, last = expected_seq + 1, stored, line["seq"]
    if last != checkpoint["seq"] or expected_prev != checkpoint["hash"]:
        return f"{path.name} does not end at the checkpoint's event #{checkpoint['seq']}"
    return None


def prune_due(now: datetime) -> list[Pruned]:
    """prune_org for every org that opted in (the daily beat task, and prune_audit_log)."""
    return [prune_org(org, now=now) for org in due_orgs()]


@transaction.atomic
def set_retention(*, org: Org, days: int | None, actor: Actor) -> bool:
    """An owner's opt-in (days) or opt-out (None); False when it already was so."""
    org = Org.objects.select_for_update().get(pk=org.pk)
    before = org.audit_retention_days
    if before == days:
        return False
    org.audit_retention_days = days
    org.save(update_fields=["audit_retention_days"])
    record(
        org=org,
        actor=actor,
        action="audit.retention_changed",
        target=org,
        changes=diff({"audit_retention_days": before}, {"audit_retention_days": days}),
    )
    return True
