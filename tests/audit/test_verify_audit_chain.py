"""`manage.py verify_audit_chain`: exits 0 on an intact chain, names the first broken event."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from audit import Actor, append_only
from audit.models import AuditEvent
from billing.limits.services import create_team

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


def _tamper(org, seq: int, field: str) -> None:
    """Changes one character of one stored event, as someone with the table owner's rights
    could: past the append-only triggers, which come back at once."""
    event = AuditEvent.objects.get(org=org, seq=seq)
    value = getattr(event, field)
    tampered = value[:-1] + ("x" if value[-1] != "x" else "y")
    sql = f"UPDATE {TABLE} SET {field} = %s WHERE id = %s"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # ALTER TABLE waits for no pending (deferred foreign key) trigger events.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
            cursor.execute(sql, [tampered, event.pk])
            cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")
    else:
        # SQLite's schema editor refuses to open inside the test's transaction; its execute()
        # alone is all uninstall/install need.
        editor = connection.schema_editor()
        append_only.uninstall(editor, TABLE)
        with connection.cursor() as cursor:
            cursor.execute(sql, [tampered, event.pk])
        append_only.install(editor, TABLE)
    assert AuditEvent.objects.get(pk=event.pk).__dict__[field] == tampered


def test_it_exits_cleanly_when_every_chain_holds(chains):
    out = _verify()

    assert "ok acme" in out
    assert "ok globex" in out
    assert "Every audit chain holds." in out


def test_it_names_the_event_whose_label_changed_by_one_character(chains, org):
    _tamper(org, 2, "target_label")

    with pytest.raises(CommandError) as raised:
        _verify()

    message = str(raised.value)
    assert "org acme" in message
    assert "event #2 " in message
    assert "hash mismatch" in message


def test_it_names_the_event_whose_actor_changed(chains, org):
    _tamper(org, 2, "actor_label")

    with pytest.raises(CommandError, match=r"org acme: event #2 .*hash mismatch"):
        _verify()


def test_it_checks_only_the_org_asked_for(chains, org):
    _tamper(org, 2, "target_label")

    out = _verify("--org", "globex")

    assert "ok globex" in out
    assert "acme" not in out
    with pytest.raises(CommandError, match="org acme: event #2 "):
        _verify("--org", "acme")


def test_it_refuses_an_unknown_org(chains):
    with pytest.raises(CommandError, match="No org with the slug 'initech'"):
        _verify("--org", "initech")


def test_the_triggers_are_back_after_tampering(chains, org):
    _tamper(org, 2, "target_label")

    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(org=org, seq=1).update(target_label="again")
