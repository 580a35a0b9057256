"""`audit.record`: the one way an event enters the log."""

import pytest
from django.db import DatabaseError, transaction
from django.urls import reverse

import audit
from audit import Actor
from audit.chain import GENESIS_HASH, event_hash, first_break
from audit.models import AuditEvent
from audit.services import AuditOutsideTransaction
from billing.limits.services import create_team
from keys import services as key_services
from keys.models import Key, KeyStatus


def _record(org, action="team.created", **kwargs):
    with transaction.atomic():
        return audit.record(org=org, actor=Actor.system("tests"), action=action, **kwargs)


@pytest.mark.django_db(transaction=True)
def test_record_outside_a_transaction_raises_and_writes_nothing(org):
    with pytest.raises(AuditOutsideTransaction):
        audit.record(org=org, actor=Actor.system("tests"), action="team.created")

    assert AuditEvent.objects.count() == 0


@pytest.mark.django_db
def test_record_numbers_events_from_one_and_links_each_to_the_one_before(org):
    first = _record(org)
    second = _record(org)
    third = _record(org)

    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert first_break(org) is None


@pytest.mark.django_db
def test_stored_hash_is_the_chain_hash_of_the_stored_fields(org, team):
    _record(org, action="team.created", target=team, data={"name": team.name, "n": 1})

    stored = AuditEvent.objects.get(org=org)
    assert len(stored.hash) == 64
    assert stored.hash == event_hash(stored)
    assert stored.target_type == "team"
    assert stored.target_id == str(team.pk)
    assert stored.target_label == "Search"
    assert stored.data == {"name": "Search", "n": 1}
    assert stored.actor_type == "system"
    assert stored.actor_label == "tests"


@pytest.mark.django_db
def test_each_org_has_its_own_sequence(org, other_org):
    for _ in range(3):
        _record(org)
        _record(other_org)

    for each in (org, other_org):
        events = list(AuditEvent.objects.filter(org=each).order_by("seq"))
        assert [e.seq for e in events] == [1, 2, 3]
        assert events[0].prev_hash == GENESIS_HASH
        assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
        assert first_break(each) is None


@pytest.mark.django_db
def test_event_snapshots_the_actor_of_the_request(admin_client, admin_membership, org, key):
    response = admin_client.post(
        reverse("keys:disable", args=[key.pk]),
        REMOTE_ADDR="203.0.113.7",
        HTTP_USER_AGENT="Mozilla/5.0 (audit test)",
        HTTP_X_REQUEST_ID="req-4711.abc",
    )

    assert response.status_code == 302
    assert response["X-Request-Id"] == "req-4711.abc"
    event = AuditEvent.objects.get(org=org, action="key.disabled")
    assert event.actor_type == "user"
    assert event.actor_id == str(admin_membership.user.pk)
    assert event.actor_label == "admin@example.com"
    assert event.actor_role == "admin"
    assert event.ip_address == "203.0.113.7"
    assert event.user_agent == "Mozilla/5.0 (audit test)"
    assert event.request_id == "req-4711.abc"
    assert event.target_id == str(key.pk)
    assert event.changes == {"status": {"before": "active", "after": "disabled"}}


@pytest.mark.django_db
def test_event_gets_a_fresh_request_id_when_the_client_sends_a_malformed_one(
    admin_client, org, key
):
    response = admin_client.post(
        reverse("keys:disable", args=[key.pk]), HTTP_X_REQUEST_ID="bad id; drop table"
    )

    event = AuditEvent.objects.get(org=org, action="key.disabled")
    assert event.request_id != "bad id; drop table"
    assert len(event.request_id) == 32
    assert response["X-Request-Id"] == event.request_id


@pytest.mark.django_db
def test_change_that_fails_after_recording_leaves_no_event(admin_client, org, key, monkeypatch):
    real_record = audit.record

    def record_then_fail(**kwargs):
        real_record(**kwargs)
        raise DatabaseError("the disk is full")

    monkeypatch.setattr(audit, "record", record_then_fail)
    events_before = AuditEvent.objects.filter(org=org).count()

    with pytest.raises(DatabaseError, match="the disk is full"):
        admin_client.post(reverse("keys:disable", args=[key.pk]))

    key.refresh_from_db()
    assert key.status == KeyStatus.ACTIVE
    assert AuditEvent.objects.filter(org=org).count() == events_before
    assert not AuditEvent.objects.filter(action="key.disabled").exists()


@pytest.mark.django_db
def test_change_whose_event_cannot_be_written_is_undone(org, key, monkeypatch):
    def refuse(*args, **kwargs):
        raise DatabaseError("audit insert failed")

    monkeypatch.setattr(AuditEvent, "save", refuse)

    with pytest.raises(DatabaseError, match="audit insert failed"):
        key_services.disable_key(key=key, actor=Actor.system("tests"))
    with pytest.raises(DatabaseError, match="audit insert failed"):
        create_team(org=org, actor=Actor.system("tests"), name="Never")

    key.refresh_from_db()
    assert key.status == KeyStatus.ACTIVE
    assert not org.teams.filter(name="Never").exists()


@pytest.mark.django_db
def test_every_event_has_its_change_in_the_database(admin_client, org, team):
    admin_client.post(reverse("team-new"), {"name": "Platform"})
    admin_client.post(
        reverse("keys:new"),
        {"name": "svc", "type": "standard", "limit_period": "monthly", "team": str(team.pk)},
    )
    key = Key.objects.get(org=org, name="svc")
    admin_client.post(reverse("keys:disable", args=[key.pk]))
    admin_client.post(reverse("keys:enable", args=[key.pk]))
    admin_client.post(reverse("keys:delete", args=[key.pk]))

    events = list(AuditEvent.objects.filter(org=org).order_by("seq"))
    assert [e.action for e in events] == [
        "team.created",
        "key.created",
        "key.disabled",
        "key.enabled",
        "key.deleted",
    ]
    assert org.teams.filter(pk=events[0].target_id, name="Platform").exists()
    key.refresh_from_db()
    assert all(e.target_id == str(key.pk) for e in events[1:])
    assert events[-1].changes["status"]["after"] == key.status == KeyStatus.DELETED
    assert first_break(org) is None
