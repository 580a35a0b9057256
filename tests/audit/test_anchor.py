"""Audit anchoring (issue 13, part 6): a beat task signs each chain's head, with a key the
database never holds, into JSON lines files outside the database (audit.anchor)."""

import base64
import logging
from io import StringIO

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.db import transaction

from audit import Actor, anchor, checks, tasks
from audit.anchor_keys import AnchorKeyError, load_private_key, load_public_key, signing_key
from audit.chain import canonical_json
from audit.models import AuditEvent, PlatformEvent
from audit.signals import checkpoints_written
from billing.limits.services import create_team
from tests.audit.anchoring import checkpoint_lines, cut_tail

pytestmark = pytest.mark.django_db


def _anchor() -> int:
    # Through Celery (eager in tests), as beat sends it.
    return tasks.anchor_chains.delay().get()


def test_the_task_writes_one_signed_line_per_chain_head(
    anchoring, anchor_key, chains_to_anchor, org, other_org
):
    assert _anchor() == 3

    lines = checkpoint_lines(anchoring)
    assert len(lines) == 3
    heads = {
        f"org:{each.pk}": AuditEvent.objects.filter(org=each).order_by("-seq").first()
        for each in (org, other_org)
    }
    heads["platform"] = PlatformEvent.objects.order_by("-seq").first()
    assert {line["chain"] for line in lines} == set(heads)
    for line in lines:
        head = heads[line["chain"]]
        assert (line["seq"], line["hash"]) == (3, head.hash)
        assert line["occurred_at"] == head.occurred_at.isoformat(timespec="microseconds")
        assert line["written_at"] >= line["occurred_at"]
        # Verified with the public key alone, by cryptography itself.
        signed = canonical_json({k: v for k, v in line.items() if k != "sig"}).encode()
        anchor_key.public_key().verify(base64.b64decode(line["sig"]), signed)
    assert {line["label"] for line in lines} == {"org acme", "org globex", "platform log"}
    # One file of today's checkpoints, beside the task's own state.
    assert [path.name for path in anchoring.glob("*.jsonl")] == [
        f"checkpoints-{lines[0]['written_at'][:10]}.jsonl"
    ]


def test_a_second_run_writes_nothing_and_a_new_event_one_line(anchoring, chains_to_anchor, org):
    _anchor()
    before = checkpoint_lines(anchoring)

    assert _anchor() == 0
    assert checkpoint_lines(anchoring) == before

    create_team(org=org, actor=Actor.system("tests"), name="Delta")
    assert _anchor() == 1
    new = checkpoint_lines(anchoring)[len(before) :]
    assert [(line["chain"], line["seq"]) for line in new] == [(f"org:{org.pk}", 4)]


def test_without_a_key_it_warns_once_and_writes_nothing(
    settings, tmp_path, monkeypatch, caplog, chains_to_anchor
):
    settings.AUDIT_ANCHOR_KEY = ""
    settings.AUDIT_ANCHOR_DIR = tmp_path / "audit-checkpoints"
    monkeypatch.setattr(anchor, "_warned_no_key", False)

    with caplog.at_level(logging.WARNING, logger="audit.anchor"):
        assert _anchor() == 0
        assert _anchor() == 0

    assert [r.getMessage()[:26] for r in caplog.records] == ["Audit anchoring is off: se"]
    assert not settings.AUDIT_ANCHOR_DIR.exists()


def test_the_task_says_at_once_when_a_chain_lost_its_anchored_tail(
    anchoring, chains_to_anchor, org, caplog
):
    _anchor()
    cut_tail(AuditEvent.objects.filter(org=org), 1)

    with caplog.at_level(logging.ERROR, logger="audit.anchor"):
        assert _anchor() == 1  # the shorter head is anchored too; the old checkpoint stays

    assert "Audit chain org acme ends before its last checkpoint" in caplog.text


def test_receivers_hear_of_the_checkpoints_written(anchoring, chains_to_anchor):
    heard = []

    def receiver(sender, checkpoints, **kwargs):
        heard.extend(checkpoints)

    checkpoints_written.connect(receiver)
    try:
        _anchor()
        _anchor()
    finally:
        checkpoints_written.disconnect(receiver)

    assert heard == checkpoint_lines(anchoring)


# --- Keys ----------------------------------------------------------------------------------


def test_a_key_is_read_from_base64_or_pem(anchor_key):
    raw = base64.b64encode(anchor_key.private_bytes_raw()).decode()
    pem = anchor_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        anchor_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    expected = anchor_key.public_key().public_bytes_raw()

    for value in (raw, pem, pem.replace("\n", "\\n"), raw.replace("+", "-").replace("/", "_")):
        assert load_private_key(value).public_key().public_bytes_raw() == expected
    assert load_public_key(public_pem).public_bytes_raw() == expected
    for bad in ("not a key!", base64.b64encode(b"short").decode(), public_pem):
        with pytest.raises(AnchorKeyError, match="AUDIT_ANCHOR_KEY"):
            load_private_key(bad)


def test_audit_anchor_key_prints_a_new_key_and_its_public_key(settings):
    out = StringIO()
    call_command("audit_anchor_key", stdout=out)
    lines = dict(line.split("=", 1) for line in out.getvalue().splitlines())

    assert set(lines) == {"AUDIT_ANCHOR_KEY", "AUDIT_ANCHOR_PUBLIC_KEY"}
    private = load_private_key(lines["AUDIT_ANCHOR_KEY"])
    public = load_public_key(lines["AUDIT_ANCHOR_PUBLIC_KEY"])
    assert private.public_key().public_bytes_raw() == public.public_bytes_raw()

    settings.AUDIT_ANCHOR_KEY = lines["AUDIT_ANCHOR_KEY"]
    out = StringIO()
    call_command("audit_anchor_key", "--public", stdout=out)
    assert out.getvalue().strip() == f"AUDIT_ANCHOR_PUBLIC_KEY={lines['AUDIT_ANCHOR_PUBLIC_KEY']}"
    settings.AUDIT_ANCHOR_KEY = ""
    with pytest.raises(CommandError, match="AUDIT_ANCHOR_KEY is not set"):
        call_command("audit_anchor_key", "--public", stdout=StringIO())


# --- System checks -------------------------------------------------------------------------


def test_check_deploy_warns_while_anchoring_is_off(settings, anchor_key):
    settings.AUDIT_ANCHOR_KEY = settings.AUDIT_ANCHOR_PUBLIC_KEY = ""
    assert [each.id for each in checks.anchoring_is_on(None)] == ["audit.W001"]

    # A web process may hold the public key alone: the worker signs.
    settings.AUDIT_ANCHOR_PUBLIC_KEY = base64.b64encode(
        anchor_key.public_key().public_bytes_raw()
    ).decode()
    assert checks.anchoring_is_on(None) == []
    settings.AUDIT_ANCHOR_PUBLIC_KEY = ""
    settings.AUDIT_ANCHOR_KEY = base64.b64encode(anchor_key.private_bytes_raw()).decode()
    assert checks.anchoring_is_on(None) == []
    assert checks.anchor_keys_are_readable(None) == []
    assert signing_key() is not None


def test_a_key_that_cannot_be_read_or_does_not_match_is_an_error(settings, anchor_key):
    other = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    settings.AUDIT_ANCHOR_KEY = "not a key!"
    assert [each.id for each in checks.anchor_keys_are_readable(None)] == ["audit.E001"]

    settings.AUDIT_ANCHOR_KEY = base64.b64encode(anchor_key.private_bytes_raw()).decode()
    settings.AUDIT_ANCHOR_PUBLIC_KEY = "nope!"
    assert [each.id for each in checks.anchor_keys_are_readable(None)] == ["audit.E002"]

    settings.AUDIT_ANCHOR_PUBLIC_KEY = other.decode()
    assert [each.id for each in checks.anchor_keys_are_readable(None)] == ["audit.E003"]

    own = base64.b64encode(anchor_key.public_key().public_bytes_raw()).decode()
    settings.AUDIT_ANCHOR_PUBLIC_KEY = f"{other.decode()},{own}"
    assert checks.anchor_keys_are_readable(None) == []


def test_an_org_without_events_has_nothing_to_anchor(anchoring, org):
    assert _anchor() == 0
    assert checkpoint_lines(anchoring) == []
    with transaction.atomic():
        create_team(org=org, actor=Actor.system("tests"), name="Alpha")
    assert _anchor() == 1
