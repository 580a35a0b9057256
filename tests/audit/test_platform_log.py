"""The platform log (staff changes to users, plans and prices): its own hash chain, append-only
as the orgs' logs, checked by verify_audit_chain, and for superusers' eyes only."""

from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db import DatabaseError, transaction
from django.test import Client
from django.urls import reverse

import audit
from audit import Actor
from audit.chain import GENESIS_HASH, PLATFORM_HASHED_FIELDS, check_platform_chain, event_hash
from audit.models import PlatformEvent
from audit.services import AuditOutsideTransaction
from billing.ledger.models import Plan
from tests.audit.anchoring import tamper
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TABLE = PlatformEvent._meta.db_table


@pytest.fixture
def plans(db):
    made = []
    for name in ("Free", "Pro", "Team"):
        with transaction.atomic():
            plan = Plan.objects.create(name=name)
            audit.record_platform(
                actor=Actor.system("tests"),
                action="plan.created_by_staff",
                target=plan,
                changes={"name": {"before": None, "after": name}},
            )
        made.append(plan)
    return made


def _verify(*args) -> str:
    out = StringIO()
    call_command("verify_audit_chain", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_events_are_numbered_and_linked_from_genesis(plans):
    first, second, third = PlatformEvent.objects.order_by("seq")

    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    assert first.prev_hash == GENESIS_HASH
    assert (second.prev_hash, third.prev_hash) == (first.hash, second.hash)
    assert third.hash == event_hash(third, PLATFORM_HASHED_FIELDS)
    assert (third.target_type, third.target_label) == ("plan", "Team")
    assert check_platform_chain().holds
    assert check_platform_chain().checked == 3


@pytest.mark.django_db(transaction=True)
def test_record_platform_outside_a_transaction_raises_and_writes_nothing():
    with pytest.raises(AuditOutsideTransaction):
        audit.record_platform(actor=Actor.system("tests"), action="plan.created_by_staff")

    assert PlatformEvent.objects.count() == 0


def test_verify_audit_chain_checks_the_platform_log_too(plans, org):
    out = _verify()

    assert "ok acme" in out
    assert "ok platform log" in out
    assert "Every audit chain holds." in out


def test_verify_audit_chain_names_a_tampered_platform_event(plans, org):
    tamper(PlatformEvent.objects.get(seq=2), "target_label")

    with pytest.raises(CommandError, match=r"platform log: event #2 .*hash mismatch"):
        _verify()
    assert check_platform_chain().broken.seq == 2
    # One org asked for: the platform log is not walked.
    assert "platform" not in _verify("--org", "acme")


def test_a_changed_action_is_found_too(plans):
    tamper(PlatformEvent.objects.get(seq=3), "action")

    assert str(check_platform_chain().broken).startswith("platform log: event #3 ")


def test_the_database_refuses_to_change_or_remove_a_platform_event(plans):
    for attempt in (
        lambda: PlatformEvent.objects.filter(seq=1).update(actor_label="mallory"),
        lambda: PlatformEvent.objects.get(seq=1).delete(),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt()

    assert PlatformEvent.objects.count() == 3
    assert check_platform_chain().holds


# --- Superusers alone see it ---------------------------------------------------------------


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def staff_with_every_audit_permission(db):
    user = UserFactory(email="helpdesk@platform.example", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="audit"))
    return user


def test_a_superuser_reads_the_platform_log(plans):
    client = _signed_in(UserFactory(is_staff=True, is_superuser=True))

    listing = client.get(reverse("admin:audit_platformevent_changelist"))
    detail = client.get(
        reverse("admin:audit_platformevent_change", args=[PlatformEvent.objects.get(seq=1).pk])
    )
    index = client.get(reverse("admin:index"))

    assert listing.status_code == 200
    assert "plan.created_by_staff" in listing.text
    assert detail.status_code == 200
    assert reverse("admin:audit_platformevent_changelist") in index.text
    # Read-only: no adding, changing or deleting, even for a superuser.
    assert client.get(reverse("admin:audit_platformevent_add")).status_code == 403
    event = PlatformEvent.objects.get(seq=1)
    delete = reverse("admin:audit_platformevent_delete", args=[event.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403


def test_other_staff_get_403_and_do_not_see_it_whatever_their_permissions(
    plans, staff_with_every_audit_permission
):
    client = _signed_in(staff_with_every_audit_permission)
    event = PlatformEvent.objects.get(seq=1)

    assert client.get(reverse("admin:audit_platformevent_changelist")).status_code == 403
    detail = reverse("admin:audit_platformevent_change", args=[event.pk])
    assert client.get(detail).status_code == 403
    index = client.get(reverse("admin:index"))
    assert index.status_code == 200
    assert "platformevent" not in index.text
    # The orgs' events stay what their permissions allow.
    assert client.get(reverse("admin:audit_auditevent_changelist")).status_code == 200
