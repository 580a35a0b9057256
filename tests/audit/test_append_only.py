"""The database itself refuses to change or remove audit events (migration 0003)."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.forms.models import model_to_dict

import audit
from audit import Actor
from audit.chain import first_break
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's triggers"
)
# SQLite's own triggers: run by bin/test's SQLite pass, left out of its PostgreSQL pass.
on_sqlite = pytest.mark.sqlite


@pytest.fixture
def event(org, team):
    with transaction.atomic():
        audit.record(org=org, actor=Actor.system("tests"), action="team.created", target=team)
        return audit.record(
            org=org, actor=Actor.system("tests"), action="team.created", target=team
        )


def _save_changed(event):
    event.actor_label = "mallory@example.com"
    event.save()


def _update_queryset(event):
    AuditEvent.objects.filter(pk=event.pk).update(target_label="nothing happened")


def _delete_instance(event):
    AuditEvent.objects.get(pk=event.pk).delete()


def _delete_queryset(event):
    AuditEvent.objects.filter(org=event.org).delete()


def _raw(sql):
    def run(event):
        with connection.cursor() as cursor:
            cursor.execute(
                sql.format(table=AuditEvent._meta.db_table), [event.pk] * sql.count("%s")
            )

    return run


ORM_ATTEMPTS = {
    "save of an existing event": _save_changed,
    "queryset.update()": _update_queryset,
    "instance.delete()": _delete_instance,
    "queryset.delete()": _delete_queryset,
}
RAW_ATTEMPTS = {
    "raw UPDATE": _raw("UPDATE {table} SET actor_label = 'mallory' WHERE id = %s"),
    "raw DELETE": _raw("DELETE FROM {table} WHERE id = %s"),
}


def _truncate(event):
    with connection.cursor() as cursor:
        # Check the test's deferred foreign keys now: PostgreSQL refuses to TRUNCATE a table
        # with pending trigger events for reasons of its own, and the trigger is what we test.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"TRUNCATE {AuditEvent._meta.db_table}")


TRUNCATE = {"raw TRUNCATE": _truncate}


def _attempt_each(attempts, event):
    before = model_to_dict(AuditEvent.objects.get(pk=event.pk))
    refused = []
    for name, attempt in attempts.items():
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt(AuditEvent.objects.get(pk=event.pk))
        refused.append(name)

    assert refused == list(attempts)
    assert model_to_dict(AuditEvent.objects.get(pk=event.pk)) == before
    assert AuditEvent.objects.filter(org=event.org).count() == 2
    assert first_break(event.org) is None


@on_postgresql
def test_postgresql_refuses_every_update_delete_and_truncate(event):
    _attempt_each({**ORM_ATTEMPTS, **RAW_ATTEMPTS, **TRUNCATE}, event)


@on_postgresql
def test_postgresql_lets_an_empty_table_be_truncated(db):
    # An empty log has no history to lose; this is what lets a test database be emptied.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_auditevent")

    assert AuditEvent.objects.count() == 0


@on_sqlite
def test_sqlite_refuses_every_update_and_delete(event):
    _attempt_each({**ORM_ATTEMPTS, **RAW_ATTEMPTS}, event)


def test_new_events_can_still_be_appended_after_refusals(event, org):
    with pytest.raises(DatabaseError), transaction.atomic():
        _update_queryset(event)

    with transaction.atomic():
        third = audit.record(org=org, actor=Actor.system("tests"), action="team.created")

    assert third.seq == 3
    assert third.prev_hash == event.hash
    assert first_break(org) is None
