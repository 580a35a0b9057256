"""Exporting, then pruning, an org's oldest audit events (audit.prune): only when an owner
opted in, only behind a signed checkpoint, and both halves still verify: the export on its own,
the chain that stays from its new start."""

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command

from audit import Actor, anchor, prune
from audit.anchor_keys import encode_private_key, verifying_keys
from audit.chain import check_chain
from audit.models import AuditEvent, ChainStart
from billing.limits.services import create_team
from config import tasks
from tests.audit.anchoring import recompute_from

pytestmark = pytest.mark.django_db

LONG_AGO = datetime(2025, 1, 10, 12, tzinfo=UTC)
NOW = LONG_AGO + timedelta(days=400)


def _teams(org, names, when):
    with time_machine.travel(when, tick=False):
        for name in names:
            create_team(org=org, actor=Actor.system("tests"), name=name)


@pytest.fixture
def export_dir(settings, tmp_path):
    settings.AUDIT_EXPORT_DIR = tmp_path / "audit-exports"
    return settings.AUDIT_EXPORT_DIR


@pytest.fixture
def old_log(org, anchoring, export_dir):
    """#1-#3 long ago and anchored at #3; #4 long ago, after the checkpoint; #5-#6 recent. The
    org keeps a year."""
    _teams(org, ["A", "B", "C"], LONG_AGO)
    with time_machine.travel(LONG_AGO + timedelta(minutes=10), tick=False):
        assert anchor.anchor_chains() == 1
    _teams(org, ["D"], LONG_AGO + timedelta(days=1))
    _teams(org, ["E", "F"], NOW - timedelta(days=10))
    org.audit_retention_days = 365
    org.save()
    return org


def _verify(*args) -> str:
    out = StringIO()
    call_command("verify_audit_chain", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _export_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.smoke
def test_prunes_up_to_the_checkpoint_and_both_halves_verify(old_log, anchoring):
    (result,) = prune.prune_due(NOW)

    assert (result.events, result.upto) == (3, 3)
    assert sorted(AuditEvent.objects.filter(org=old_log).values_list("seq", flat=True)) == [
        4,
        5,
        6,
        7,
    ]
    start = ChainStart.objects.get(org=old_log)
    assert (start.seq, start.pruned, start.export_name) == (3, 3, result.export.name)
    header, *events = _export_lines(result.export)
    assert (header["first_seq"], header["last_seq"], header["checkpoint"]["seq"]) == (1, 3, 3)
    assert [event["seq"] for event in events] == [1, 2, 3]
    assert [event["target_label"] for event in events] == ["A", "B", "C"]
    pruned = AuditEvent.objects.get(org=old_log, seq=7)
    assert pruned.action == "audit.pruned"
    assert pruned.data == {"through_seq": 3, "events": 3, "export": result.export.name}
    assert check_chain(old_log).holds
    assert prune.check_export(result.export, verifying_keys()) is None
    out = _verify("--checkpoints", str(anchoring), "--export", str(result.export))
    assert "Every audit chain holds." in out
    assert f"ok {result.export.name}" in out


def test_a_second_pruning_goes_on_from_the_first(old_log, anchoring):
    with time_machine.travel(NOW - timedelta(days=9), tick=False):
        anchor.anchor_chains()  # at #6
    with time_machine.travel(NOW, tick=False):
        (first,) = prune.prune_due(NOW)  # #1-#3; #7 is its audit.pruned

    with time_machine.travel(NOW + timedelta(days=400), tick=False):
        (second,) = prune.prune_due(NOW + timedelta(days=400))

    assert (first.upto, second.events, second.upto) == (3, 3, 6)
    header = _export_lines(second.export)[0]
    assert header["start_hash"] == _export_lines(first.export)[-1]["hash"]
    assert ChainStart.objects.filter(org=old_log).count() == 2
    assert list(AuditEvent.objects.filter(org=old_log).values_list("seq", flat=True)) == [8, 7]
    assert check_chain(old_log).holds
    assert prune.check_export(second.export, verifying_keys()) is None
    assert "Every audit chain holds." in _verify("--checkpoints", str(anchoring))


def test_the_head_stays_whatever_its_age(org, anchoring, export_dir):
    _teams(org, ["A", "B", "C"], LONG_AGO)
    with time_machine.travel(LONG_AGO + timedelta(minutes=10), tick=False):
        anchor.anchor_chains()  # at #3, the head
    org.audit_retention_days = 365
    org.save()

    (result,) = prune.prune_due(NOW)

    assert result.events == 0
    assert "no signed checkpoint vouches for an event before #3" in str(result)
    assert AuditEvent.objects.filter(org=org).count() == 3


def test_nothing_is_pruned_without_the_owners_opt_in(old_log, anchoring):
    old_log.audit_retention_days = None
    old_log.save()

    assert prune.prune_due(NOW) == []
    with time_machine.travel(NOW, tick=False):
        assert tasks.prune.delay().get()["audit_events"] == 0
    assert AuditEvent.objects.filter(org=old_log).count() == 6


def test_the_daily_task_prunes_the_orgs_that_opted_in(old_log):
    with time_machine.travel(NOW, tick=False):
        assert tasks.prune.delay().get()["audit_events"] == 3
    assert AuditEvent.objects.filter(org=old_log, seq__lte=3).count() == 0


def test_nothing_is_pruned_without_a_checkpoint(old_log, anchoring, export_dir):
    for path in anchoring.glob("*.jsonl"):
        path.unlink()

    (result,) = prune.prune_due(NOW)

    assert result.events == 0
    assert "no signed checkpoint vouches for an event before #5" in str(result)
    assert AuditEvent.objects.filter(org=old_log).count() == 6
    assert not export_dir.exists() or not any(export_dir.rglob("*.jsonl"))


def test_a_checkpoint_signed_by_another_key_allows_nothing(old_log, settings):
    """The key changed, and the old public key is no longer listed: the old checkpoints vouch
    for nothing."""
    settings.AUDIT_ANCHOR_KEY = encode_private_key(Ed25519PrivateKey.generate())

    (result,) = prune.prune_due(NOW)

    assert result.events == 0
    assert AuditEvent.objects.filter(org=old_log).count() == 6


def test_a_recomputed_chain_is_not_pruned(old_log):
    recompute_from(AuditEvent.objects.filter(org=old_log), 2, {"forged": True})

    (result,) = prune.prune_due(NOW)

    assert result.events == 0
    assert AuditEvent.objects.filter(org=old_log).count() == 6


def test_an_edited_export_is_caught(old_log):
    (result,) = prune.prune_due(NOW)
    lines = result.export.read_text().splitlines()
    event = json.loads(lines[2])
    event["target_label"] = "Z"
    lines[2] = json.dumps(event, sort_keys=True, separators=(",", ":"))
    result.export.write_text("\n".join(lines) + "\n")

    problem = prune.check_export(result.export, verifying_keys())

    assert problem == f"{result.export.name}:3 was changed (hash mismatch)"
    with pytest.raises(CommandError, match="was changed"):
        _verify("--export", str(result.export))


def test_a_cut_export_is_caught(old_log):
    (result,) = prune.prune_due(NOW)
    lines = result.export.read_text().splitlines()
    result.export.write_text("\n".join(lines[:-1]) + "\n")

    problem = prune.check_export(result.export, verifying_keys())

    assert problem == f"{result.export.name} does not end at the checkpoint's event #3"


def test_a_forged_chain_start_is_caught(old_log, anchoring):
    """Someone with the database cuts a chain's beginning and writes a start of their own: its
    checkpoint is not signed by the anchor key."""
    prune.prune_due(NOW)
    start = ChainStart.objects.get(org=old_log)
    forged = {**start.checkpoint, "sig": start.checkpoint["sig"][::-1]}
    ChainStart.objects.create(
        org=old_log,
        seq=start.seq + 1,
        hash=AuditEvent.objects.get(org=old_log, seq=4).hash,
        checkpoint={**forged, "seq": 4, "hash": AuditEvent.objects.get(org=old_log, seq=4).hash},
        export_name="none",
        pruned=1,
        pruned_at=NOW,
    )

    assert check_chain(old_log).holds  # the walk alone starts from the forged start
    with pytest.raises(CommandError, match="rests on a checkpoint that has a signature"):
        _verify("--checkpoints", str(anchoring))


def test_a_start_that_is_not_its_checkpoints_event_breaks_the_chain(old_log):
    prune.prune_due(NOW)
    start = ChainStart.objects.get(org=old_log)
    ChainStart.objects.create(
        org=old_log,
        seq=4,
        hash=start.hash,
        checkpoint=start.checkpoint,
        export_name="none",
        pruned=1,
        pruned_at=NOW,
    )

    broken = check_chain(old_log).broken

    assert broken is not None and "not what its checkpoint signed" in broken.reason
