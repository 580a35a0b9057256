"""`manage.py verify_audit_chain`: exits 0 on an intact chain, names the first broken event."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, transaction

from audit import Actor
from audit.models import AuditEvent
from billing.limits.services import create_team
from tests.audit.anchoring import tamper

pytestmark = pytest.mark.django_db

TABLE = AuditEvent._meta.db_table


@pytest.fixture
def chains(org, other_org):
    for name in ("Alpha", "Bravo", "Charlie"):
        create_team(org=org, actor=Actor.system("tests"), name=name)
        create_team(org=other_org, actor=Actor.system("tests"), name=name)


def _verify(*args) -> str:
    out = StringIO()
    call_command("verify_audit_chain", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_it_exits_cleanly_when_every_chain_holds(chains):
    out = _verify()

    assert "ok acme" in out
    assert "ok globex" in out
    assert "Every audit chain holds." in out


def test_it_names_the_event_whose_label_changed_by_one_character(chains, org):
    tamper(AuditEvent.objects.get(org=org, seq=2), "target_label")

    with pytest.raises(CommandError) as raised:
        _verify()

    message = str(raised.value)
    assert "org acme" in message
    assert "event #2 " in message
    assert "hash mismatch" in message


def test_it_names_the_event_whose_actor_changed(chains, org):
    tamper(AuditEvent.objects.get(org=org, seq=2), "actor_label")

    with pytest.raises(CommandError, match=r"org acme: event #2 .*hash mismatch"):
        _verify()


def test_it_checks_only_the_org_asked_for(chains, org):
    tamper(AuditEvent.objects.get(org=org, seq=2), "target_label")

    out = _verify("--org", "globex")

    assert "ok globex" in out
    assert "acme" not in out
    with pytest.raises(CommandError, match="org acme: event #2 "):
        _verify("--org", "acme")


def test_it_refuses_an_unknown_org(chains):
    with pytest.raises(CommandError, match="No org with the slug 'initech'"):
        _verify("--org", "initech")


def test_the_triggers_are_back_after_tampering(chains, org):
    tamper(AuditEvent.objects.get(org=org, seq=2), "target_label")

    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(org=org, seq=1).update(target_label="again")
