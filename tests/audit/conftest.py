"""Fixtures of the audit anchoring tests (tests/audit/anchoring.py has their helpers)."""

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import Actor, anchor
from audit.models import AuditEvent, PlatformEvent
from billing.limits.services import create_team
from tests.audit.anchoring import add_platform_event


@pytest.fixture
def anchor_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def anchoring(settings, tmp_path, anchor_key, monkeypatch) -> Path:
    """Anchoring on, into a directory of this test's own; returns the directory."""
    settings.AUDIT_ANCHOR_KEY = base64.b64encode(anchor_key.private_bytes_raw()).decode()
    settings.AUDIT_ANCHOR_PUBLIC_KEY = ""
    settings.AUDIT_ANCHOR_DIR = tmp_path / "audit-checkpoints"
    monkeypatch.setattr(anchor, "_warned_no_key", False)
    return settings.AUDIT_ANCHOR_DIR


@pytest.fixture
def chains_to_anchor(org, other_org):
    """Three events in each org's chain and in the platform log."""
    for name in ("Alpha", "Bravo", "Charlie"):
        create_team(org=org, actor=Actor.system("tests"), name=name)
        create_team(org=other_org, actor=Actor.system("tests"), name=name)
        add_platform_event(name)
    assert AuditEvent.objects.filter(org=org).count() == 3
    assert PlatformEvent.objects.count() == 3
