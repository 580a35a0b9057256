"""`verify_audit_chain --checkpoints DIR`: an attacker with the database (past the append-only
triggers) but without the anchor key recomputes a chain or cuts its tail, and the chain walk
alone still passes; the signed checkpoints catch both, and a forged checkpoint is caught too."""

import base64
import json
from io import StringIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command

from audit import Actor, anchor
from audit.chain import check_platform_chain, first_break
from audit.models import AuditEvent, PlatformEvent
from billing.limits.services import create_team
from tests.audit.anchoring import add_platform_event, checkpoint_lines, cut_tail, recompute_from

pytestmark = pytest.mark.django_db


def _verify(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("verify_audit_chain", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _failing(*args) -> tuple[str, str]:
    err = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("verify_audit_chain", *args, stdout=StringIO(), stderr=err)
    return str(raised.value), err.getvalue()


@pytest.fixture
def anchored(anchoring, chains_to_anchor, org):
    """Checkpoints of every chain at #3, then of acme's at #5."""
    anchor.anchor_chains()
    for name in ("Delta", "Echo"):
        create_team(org=org, actor=Actor.system("tests"), name=name)
    anchor.anchor_chains()
    assert len(checkpoint_lines(anchoring)) == 4
    return str(anchoring)


def test_intact_chains_match_their_checkpoints(anchored):
    out, err = _verify("--checkpoints", anchored)

    assert "ok org acme: 2 checkpoint(s), up to event #5" in out
    assert "ok org globex: 1 checkpoint(s), up to event #3" in out
    assert "ok platform log: 1 checkpoint(s), up to event #3" in out
    assert "Every audit chain holds." in out
    assert err == ""


def test_a_recomputed_chain_is_caught(anchored, org):
    recompute_from(AuditEvent.objects.filter(org=org), 2, {"name": "rewritten"})
    # The chain alone holds again: that is the attack.
    assert first_break(org) is None
    assert "Every audit chain holds." in _verify()[0]

    message, err = _failing("--checkpoints", anchored)

    assert message.startswith("The audit chain does not hold: org acme: checkpoint of event #3")
    assert "the chain was changed and recomputed" in message
    assert "BROKEN org acme: checkpoint of event #3 (checkpoints-" in err
    assert "BROKEN org acme: checkpoint of event #5 (checkpoints-" in err
    assert "globex" not in err


def test_a_cut_tail_is_caught(anchored, org):
    cut_tail(AuditEvent.objects.filter(org=org), 2)
    assert first_break(org) is None
    assert AuditEvent.objects.filter(org=org).count() == 3

    message, err = _failing("--checkpoints", anchored)

    assert "org acme: checkpoint of event #5" in message
    assert "finds no event #5: the chain was cut" in message
    assert err.count("BROKEN") == 1


def test_a_cut_tail_written_over_with_new_events_is_caught(anchored, org):
    cut_tail(AuditEvent.objects.filter(org=org), 3)
    for name in ("Mallory", "Trudy", "Eve"):
        create_team(org=org, actor=Actor.system("tests"), name=name)
    assert first_break(org) is None

    _message, err = _failing("--checkpoints", anchored)

    # The same seqs again, with other hashes.
    assert "BROKEN org acme: checkpoint of event #3" in err
    assert "but event #5 now hashes" in err


def _rewrite_line(directory: str, index: int, **changes) -> None:
    [path] = Path(directory).glob("*.jsonl")
    lines = path.read_text().splitlines()
    line = json.loads(lines[index])
    line.update(changes)
    lines[index] = json.dumps(line)
    path.write_text("\n".join(lines) + "\n")


def test_a_checkpoint_with_a_changed_hash_is_caught(anchored, org):
    # The attacker recomputes the chain and moves the checkpoint along, without the key.
    recompute_from(AuditEvent.objects.filter(org=org), 2, {"name": "rewritten"})
    lines = checkpoint_lines(Path(anchored))
    index = next(i for i, line in enumerate(lines) if line["label"] == "org acme")
    new_hash = AuditEvent.objects.get(org=org, seq=3).hash
    _rewrite_line(anchored, index, hash=new_hash)

    message, _err = _failing("--checkpoints", anchored)

    assert "org acme: checkpoint of event #3" in message
    assert "signature that does not verify: the checkpoint was altered or forged" in message


def test_a_checkpoint_with_a_changed_signature_is_caught(anchored):
    forged = base64.b64encode(Ed25519PrivateKey.generate().sign(b"anything")).decode()
    _rewrite_line(anchored, 0, sig=forged)

    message, _err = _failing("--checkpoints", anchored)

    assert ".jsonl:1) has a signature that does not verify" in message


def test_a_checkpoint_signed_by_another_key_and_a_damaged_line_are_caught(anchored):
    with open(next(Path(anchored).glob("*.jsonl")), "a") as file:
        file.write('{"chain": "platform", "seq": 1\n')

    other = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    message, err = _failing("--checkpoints", anchored, "--public-key", other.decode())

    assert "is signed by an unknown key" in message
    assert err.count("unknown key") == 4
    assert "is not JSON: the file was damaged" in err


def test_the_public_key_alone_verifies(anchored, anchor_key, settings):
    public = base64.b64encode(anchor_key.public_key().public_bytes_raw()).decode()
    settings.AUDIT_ANCHOR_KEY = ""

    with pytest.raises(CommandError, match="No public key to verify checkpoints with"):
        _verify("--checkpoints", anchored)
    assert (
        "Every audit chain holds." in _verify("--checkpoints", anchored, "--public-key", public)[0]
    )
    settings.AUDIT_ANCHOR_PUBLIC_KEY = public
    assert "Every audit chain holds." in _verify("--checkpoints", anchored)[0]


def test_the_platform_log_is_anchored_and_checked_too(anchored):
    recompute_from(PlatformEvent.objects.all(), 1, {"name": "rewritten"})
    assert check_platform_chain().holds

    message, _err = _failing("--checkpoints", anchored)
    assert message.startswith("The audit chain does not hold: platform log: checkpoint of event #3")


def test_a_cut_platform_log_is_caught(anchored):
    add_platform_event("Delta")
    anchor.anchor_chains()
    cut_tail(PlatformEvent.objects.all(), 1)

    message, _err = _failing("--checkpoints", anchored)
    assert "platform log: checkpoint of event #4" in message
    assert "finds no event #4" in message


def test_one_org_is_checked_against_its_own_checkpoints(anchored, org, other_org):
    recompute_from(AuditEvent.objects.filter(org=org), 2, {"name": "rewritten"})

    out, _err = _verify("--org", "globex", "--checkpoints", anchored)
    assert "ok org globex: 1 checkpoint(s)" in out
    assert "acme" not in out and "platform" not in out
    assert (
        "org acme: checkpoint of event #3"
        in _failing("--org", "acme", "--checkpoints", anchored)[0]
    )


def test_a_missing_or_empty_directory_is_refused(anchoring, tmp_path, chains_to_anchor):
    with pytest.raises(CommandError, match="No checkpoint directory"):
        _verify("--checkpoints", str(tmp_path / "nowhere"))
    with pytest.raises(CommandError, match="No checkpoint to check in"):
        _verify("--checkpoints", str(tmp_path))
