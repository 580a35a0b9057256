"""Anchoring the hash chains outside the database.

A hash chain alone proves nothing to someone who can write the database: they can recompute
every hash after a change, or cut the chain's tail, and the chain holds again. So a beat task
(audit.tasks.anchor_chains) writes each chain's head (every org's and the platform log's) as a
checkpoint signed with a key the database never holds (audit.anchor_keys), to JSON lines files
in AUDIT_ANCHOR_DIR. `verify_audit_chain --checkpoints DIR` then finds the event of every
checkpoint, with the hash the checkpoint signed (audit.anchor_check).

One line per checkpoint, in one file per day (UTC), only ever appended to:

    {"chain": "org:<org id>", "label": "org acme", "seq": 42, "hash": "<hex>",
     "occurred_at": "<the head event's time>", "written_at": "<now>", "v": 1,
     "key": "<key id>", "sig": "<base64 Ed25519 signature>"}

The signature covers the canonical JSON (audit.chain.canonical_json) of every field but `sig`.
A head already anchored is not written again: the task keeps the last head it wrote of each
chain in `.anchored-heads.json` (written to a temporary file, then renamed), so a run without
new events writes nothing. Losing that file only means heads are written once more.
"""

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.db.models import OuterRef, Subquery

from audit.anchor_keys import key_id, sign, signing_key
from audit.chain import canonical_json, now_utc
from audit.models import AuditEvent, PlatformEvent
from audit.signals import checkpoints_written
from gateway_console.models import Org

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
PLATFORM_CHAIN = "platform"
ORG_CHAIN_PREFIX = "org:"
STATE_FILE = ".anchored-heads.json"
LOCK_FILE = ".lock"

_warned_no_key = False


@dataclass(frozen=True)
class Head:
    """The last event of one chain."""

    chain: str  # "org:<org id>" or "platform"
    label: str  # "org <slug>" or "platform log", as verify_audit_chain names chains
    seq: int
    hash: str
    occurred_at: datetime


def anchor_dir() -> Path:
    return Path(settings.AUDIT_ANCHOR_DIR)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def chain_heads() -> Iterator[Head]:
    """The head of every org's chain that has events, then the platform log's: one query for
    the orgs (each head found by the (org, seq) index) and one for the platform log."""
    latest = AuditEvent.objects.filter(org=OuterRef("pk")).order_by("-seq").values("pk")[:1]
    head_ids = Org.objects.annotate(head=Subquery(latest)).filter(head__isnull=False)
    events = (
        AuditEvent.objects.filter(pk__in=head_ids.values("head"))
        .select_related("org")
        .only("seq", "hash", "occurred_at", "org__slug")
        .order_by("org_id")
    )
    for event in events.iterator(chunk_size=2000):
        yield Head(
            f"{ORG_CHAIN_PREFIX}{event.org_id}",
            f"org {event.org.slug}",
            event.seq,
            event.hash,
            event.occurred_at,
        )
    platform = PlatformEvent.objects.order_by("-seq").only("seq", "hash", "occurred_at").first()
    if platform is not None:
        yield Head(
            PLATFORM_CHAIN, "platform log", platform.seq, platform.hash, platform.occurred_at
        )


def signed_payload(checkpoint: dict) -> bytes:
    """What a checkpoint's signature covers: all of it but the signature."""
    return canonical_json({k: v for k, v in checkpoint.items() if k != "sig"}).encode()


def checkpoint(head: Head, key: Ed25519PrivateKey, *, written_at: datetime) -> dict:
    line = {
        "v": FORMAT_VERSION,
        "chain": head.chain,
        "label": head.label,
        "seq": head.seq,
        "hash": head.hash,
        "occurred_at": _iso(head.occurred_at),
        "written_at": _iso(written_at),
        "key": key_id(key.public_key()),
    }
    line["sig"] = sign(key, signed_payload(line))
    return line


@contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """One writer of the directory at a time (two workers running the task at once)."""
    fd = os.open(directory / LOCK_FILE, os.O_WRONLY | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read_state(directory: Path) -> dict[str, list]:
    try:
        return json.loads((directory / STATE_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_state(directory: Path, state: dict[str, list]) -> None:
    temporary = directory / f"{STATE_FILE}.tmp"
    with temporary.open("w") as file:
        json.dump(state, file, sort_keys=True)
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(directory / STATE_FILE)
    _fsync_dir(directory)


def _append(path: Path, lines: list[dict]) -> None:
    """Appends whole lines (O_APPEND) and syncs them to disk before returning. A line torn by a
    crash is closed first, so that it stays one bad line and the next ones stay whole."""
    data = "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines).encode()
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_dir(path.parent)


def _warn_about_lost_heads(state: dict[str, list], heads: list[Head]) -> None:
    """A chain now shorter than its last checkpoint, or with another hash at its place, was
    cut or rewritten: say so at once (the checkpoints already written prove it to
    verify_audit_chain --checkpoints, which names the events)."""
    found = {head.chain: head for head in heads}
    for chain, (seq, hash_) in state.items():
        head = found.get(chain)
        if head is None or head.seq < seq:
            what = "ends before its last checkpoint: events were removed"
        elif head.seq == seq and head.hash != hash_:
            what = "has another hash at its last checkpoint: it was rewritten"
        else:
            continue
        logger.error(
            "Audit chain %s %s (checkpoint #%s). Run manage.py verify_audit_chain --checkpoints.",
            head.label if head else chain,
            what,
            seq,
        )


def anchor_chains(*, now: datetime | None = None) -> int:
    """Writes a signed checkpoint of every chain head not anchored yet; returns how many.
    Without AUDIT_ANCHOR_KEY it warns once (per process) and writes nothing."""
    global _warned_no_key
    key = signing_key()
    if key is None:
        if not _warned_no_key:
            logger.warning(
                "Audit anchoring is off: set AUDIT_ANCHOR_KEY (manage.py audit_anchor_key "
                "prints one) to sign the audit chains' heads into AUDIT_ANCHOR_DIR."
            )
            _warned_no_key = True
        return 0
    now = now or now_utc()
    directory = anchor_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with _exclusive(directory):
        state = _read_state(directory)
        heads = list(chain_heads())
        _warn_about_lost_heads(state, heads)
        new = [head for head in heads if state.get(head.chain) != [head.seq, head.hash]]
        if not new:
            return 0
        lines = [checkpoint(head, key, written_at=now) for head in new]
        _append(directory / f"checkpoints-{now:%Y-%m-%d}.jsonl", lines)
        state.update({head.chain: [head.seq, head.hash] for head in new})
        _write_state(directory, state)
    # The checkpoints are safe on disk: a receiver that fails is logged, not the task's failure.
    for receiver, outcome in checkpoints_written.send_robust(anchor_chains, checkpoints=lines):
        if isinstance(outcome, Exception):
            logger.error("%r failed on the checkpoints written: %r", receiver, outcome)
    logger.info("Anchored %d audit chain head(s) in %s", len(lines), directory)
    return len(lines)
