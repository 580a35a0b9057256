"""Checking the chains against their checkpoints (audit.anchor): `verify_audit_chain
--checkpoints DIR`.

Every checkpoint line must be signed by a known key (a forged or altered checkpoint is
caught), and its chain must still hold the event at the checkpoint's seq with the hash it
signed: a chain rewritten and recomputed after that event changes the hash, a chain cut
before it lost the seq.
"""

import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.anchor import ORG_CHAIN_PREFIX, PLATFORM_CHAIN, anchor_dir, signed_payload
from audit.anchor_keys import signature_holds
from audit.models import AuditEvent, ChainStart, PlatformEvent
from gateway_console.models import Org

FIELDS = {"v": int, "chain": str, "label": str, "seq": int, "hash": str, "key": str, "sig": str}
CHUNK = 1000


@dataclass(frozen=True)
class CheckpointFailure:
    where: str  # "checkpoints-2026-11-22.jsonl:3"
    chain: str | None  # "org acme", "platform log", what the line says; None: no checkpoint
    seq: int | None
    reason: str

    def __str__(self) -> str:
        if self.chain is None:
            return f"{self.where} {self.reason}"
        at = f"checkpoint of event #{self.seq}" if self.seq is not None else "checkpoint"
        return f"{self.chain}: {at} ({self.where}) {self.reason}"


@dataclass
class CheckpointReport:
    files: int = 0
    checked: int = 0
    failures: list[CheckpointFailure] = field(default_factory=list)
    # Per chain label: how many checkpoints held, and the highest seq among them.
    held: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def holds(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class Checkpoint:
    where: str
    line: dict


def _lines(directory: Path) -> Iterator[tuple[str, str]]:
    for path in sorted(directory.glob("*.jsonl")):
        with path.open(encoding="utf-8", errors="replace") as file:
            for number, text in enumerate(file, start=1):
                if text.strip():
                    yield f"{path.name}:{number}", text


def _parse(where: str, text: str) -> Checkpoint | CheckpointFailure:
    try:
        line = json.loads(text)
    except ValueError:
        return CheckpointFailure(where, None, None, "is not JSON: the file was damaged")
    if not isinstance(line, dict) or any(
        not isinstance(line.get(name), kind) for name, kind in FIELDS.items()
    ):
        return CheckpointFailure(where, None, None, "is not a checkpoint: a field is missing")
    return Checkpoint(where, line)


def signature_problem(line: dict, keys: dict[str, Ed25519PublicKey]) -> str | None:
    """None when a checkpoint line is signed by one of `keys`; else what is wrong."""
    key = keys.get(line.get("key"))
    if key is None:
        return f"is signed by an unknown key ({line.get('key')}): not one of the public keys given"
    if not isinstance(line.get("sig"), str) or not signature_holds(
        key, signed_payload(line), line["sig"]
    ):
        return "has a signature that does not verify: the checkpoint was altered or forged"
    return None


def _signature_failure(
    checkpoint: Checkpoint, keys: dict[str, Ed25519PublicKey]
) -> CheckpointFailure | None:
    line = checkpoint.line
    if (reason := signature_problem(line, keys)) is None:
        return None
    return CheckpointFailure(checkpoint.where, line["label"], line["seq"], reason)


def vouching_checkpoint(org: Org, *, upto: int, keys: dict[str, Ed25519PublicKey]) -> dict | None:
    """The newest checkpoint of `org`'s chain in AUDIT_ANCHOR_DIR at or before event `upto`
    that is signed by one of `keys` and whose event still has the hash it signed (what
    audit.prune may prune up to); None when there is none, or when the newest such does not
    match the database (then verify_audit_chain --checkpoints has something to say)."""
    chain, best = f"{ORG_CHAIN_PREFIX}{org.pk}", None
    for where, text in _lines(anchor_dir()):
        parsed = _parse(where, text)
        if isinstance(parsed, CheckpointFailure) or parsed.line["chain"] != chain:
            continue
        line = parsed.line
        newer = line["seq"] <= upto and (best is None or line["seq"] > best["seq"])
        if newer and signature_problem(line, keys) is None:
            best = line
    if best is None:
        return None
    stored = AuditEvent.objects.filter(org=org, seq=best["seq"]).values_list("hash", flat=True)
    return best if stored.first() == best["hash"] else None


def check_chain_starts(keys: dict[str, Ed25519PublicKey], *, org: Org | None = None) -> list[str]:
    """Every pruned chain's start (audit.prune) must rest on a checkpoint signed by one of
    `keys`: one line per start that does not."""
    starts = ChainStart.objects.select_related("org").order_by("org__slug", "seq")
    if org is not None:
        starts = starts.filter(org=org)
    return [
        f"org {start.org.slug}: the chain's start after #{start.seq} (pruned"
        f" {start.pruned_at:%Y-%m-%d}) rests on a checkpoint that {problem}"
        for start in starts
        if (problem := signature_problem(start.checkpoint, keys)) is not None
    ]


def _events_of(chain: str, orgs: dict[str, Org]):
    """The events of `chain`, its name and its start after a pruning (seq, hash), or
    (None, None, None) when the database lacks it."""
    if chain == PLATFORM_CHAIN:
        return PlatformEvent.objects.all(), "platform log", None
    org = orgs.get(chain.removeprefix(ORG_CHAIN_PREFIX))
    if not chain.startswith(ORG_CHAIN_PREFIX) or org is None:
        return None, None, None
    start = ChainStart.objects.filter(org=org).order_by("-seq").values_list("seq", "hash")
    return AuditEvent.objects.filter(org=org), f"org {org.slug}", start.first()


def _stored_hashes(events, seqs: list[int]) -> dict[int, str]:
    found = {}
    for start in range(0, len(seqs), CHUNK):
        chunk = seqs[start : start + CHUNK]
        found.update(events.filter(seq__in=chunk).values_list("seq", "hash"))
    return found


def _check_chain(chain: str, checkpoints: list[Checkpoint], orgs, report) -> None:
    events, name, start = _events_of(chain, orgs)
    if events is None:
        for each in checkpoints:
            reason = f"names a chain the database does not have ({chain})"
            report.failures.append(CheckpointFailure(each.where, each.line["label"], None, reason))
        return
    stored = _stored_hashes(events, sorted({each.line["seq"] for each in checkpoints}))
    if start is not None:
        # Pruned (audit.prune): the last pruned event lives on as the chain's start; those
        # before it are in the export, which check_export verifies.
        stored[start[0]] = start[1]
        checkpoints = [each for each in checkpoints if each.line["seq"] >= start[0]]
    held = 0
    for each in checkpoints:
        seq, signed = each.line["seq"], each.line["hash"]
        if seq not in stored:
            reason = f"finds no event #{seq}: the chain was cut or events were removed"
        elif stored[seq] != signed:
            reason = (
                f"signed hash {signed[:12]}…, but event #{seq} now hashes {stored[seq][:12]}…: "
                "the chain was changed and recomputed"
            )
        else:
            held += 1
            continue
        report.failures.append(CheckpointFailure(each.where, name, seq, reason))
    if held:
        top = max(each.line["seq"] for each in checkpoints)
        report.held[name] = (held, top)


def check_checkpoints(
    directory: Path, keys: dict[str, Ed25519PublicKey], *, org: Org | None = None
) -> CheckpointReport:
    """Checks every checkpoint in `directory`'s *.jsonl files against `keys` and the database;
    with `org`, that org's checkpoints only (and every line that is no checkpoint at all)."""
    report = CheckpointReport(files=len(list(directory.glob("*.jsonl"))))
    by_chain: dict[str, list[Checkpoint]] = defaultdict(list)
    for where, text in _lines(directory):
        parsed = _parse(where, text)
        if isinstance(parsed, CheckpointFailure):
            report.failures.append(parsed)
            continue
        chain = parsed.line["chain"]
        if org is not None and chain != f"{ORG_CHAIN_PREFIX}{org.pk}":
            continue
        report.checked += 1
        if failure := _signature_failure(parsed, keys):
            report.failures.append(failure)
        else:
            by_chain[chain].append(parsed)
    ids = [c.removeprefix(ORG_CHAIN_PREFIX) for c in by_chain if c.startswith(ORG_CHAIN_PREFIX)]
    orgs = {str(each.pk): each for each in Org.objects.filter(pk__in=_uuids(ids))}
    for chain, checkpoints in sorted(by_chain.items()):
        _check_chain(chain, checkpoints, orgs, report)
    return report


def _uuids(values: list[str]) -> list[str]:
    found = []
    for value in values:
        try:
            found.append(str(uuid.UUID(value)))
        except ValueError:
            continue
    return found
