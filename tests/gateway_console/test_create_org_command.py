"""`manage.py create_org "Name" --owner email`: the org, its owner, one `org.created` event."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.chain import first_break
from audit.models import AuditEvent
from gateway_console.models import Membership, Org, Role, User
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

STRONG = "plum-orchard-lantern-42"


def _create_org(*args) -> str:
    out = StringIO()
    call_command("create_org", *args, stdout=out)
    return out.getvalue()


def test_it_creates_the_org_its_owner_and_one_audit_event(monkeypatch):
    monkeypatch.setenv("CONSOLE_OWNER_PASSWORD", STRONG)

    out = _create_org("Initech Labs", "--owner", "Peter@Initech.example")

    org = Org.objects.get()
    assert org.name == "Initech Labs"
    assert org.slug == "initech-labs"
    assert org.timezone == "UTC"
    owner = User.objects.get()
    assert owner.email == "peter@initech.example"
    assert owner.check_password(STRONG)
    membership = Membership.objects.get()
    assert (membership.org, membership.user, membership.role) == (org, owner, Role.OWNER)
    event = AuditEvent.objects.get()
    assert event.org == org
    assert event.seq == 1
    assert event.action == "org.created"
    assert event.actor_type == "system"
    assert event.actor_label == "create_org command"
    assert event.target_id == str(org.pk)
    assert event.data == {
        "name": "Initech Labs",
        "slug": "initech-labs",
        "owner": "peter@initech.example",
    }
    assert first_break(org) is None
    assert "Created Initech Labs (slug initech-labs) with owner peter@initech.example." in out


def test_it_sets_the_org_time_zone(monkeypatch):
    monkeypatch.setenv("CONSOLE_OWNER_PASSWORD", STRONG)

    _create_org("Initech", "--owner", "peter@initech.example", "--timezone", "Europe/Berlin")

    assert Org.objects.get().timezone == "Europe/Berlin"


def test_a_second_org_of_the_same_name_gets_its_own_slug(monkeypatch):
    monkeypatch.setenv("CONSOLE_OWNER_PASSWORD", STRONG)

    _create_org("Initech", "--owner", "peter@initech.example")
    _create_org("Initech", "--owner", "milton@initech.example")

    assert sorted(Org.objects.values_list("slug", flat=True)) == ["initech", "initech-2"]
    for org in Org.objects.all():
        assert AuditEvent.objects.filter(org=org, action="org.created").count() == 1


@pytest.mark.parametrize("weak", ["short", "password123", "12345678901234", "initechpeter"])
def test_a_weak_password_is_refused_and_nothing_is_created(monkeypatch, weak):
    monkeypatch.setenv("CONSOLE_OWNER_PASSWORD", weak)

    with pytest.raises(CommandError):
        _create_org("Initech", "--owner", "initechpeter@initech.example")

    assert not Org.objects.exists()
    assert not User.objects.exists()
    assert not AuditEvent.objects.exists()


def test_without_a_password_it_asks_and_refuses_when_none_comes(monkeypatch):
    monkeypatch.delenv("CONSOLE_OWNER_PASSWORD", raising=False)

    def no_terminal(prompt):
        raise EOFError

    monkeypatch.setattr("getpass.getpass", no_terminal)

    with pytest.raises(CommandError, match="CONSOLE_OWNER_PASSWORD"):
        _create_org("Initech", "--owner", "peter@initech.example")

    assert not Org.objects.exists()


def test_an_existing_user_keeps_their_password_and_becomes_owner(monkeypatch):
    existing = UserFactory(email="peter@initech.example")
    monkeypatch.setenv("CONSOLE_OWNER_PASSWORD", STRONG)

    _create_org("Initech", "--owner", "PETER@initech.example")

    existing.refresh_from_db()
    assert existing.check_password(PASSWORD)
    assert not existing.check_password(STRONG)
    assert User.objects.count() == 1
    membership = Membership.objects.get(user=existing)
    assert membership.role == Role.OWNER
    assert membership.org.slug == "initech"
    assert AuditEvent.objects.filter(org=membership.org, action="org.created").count() == 1


def test_an_empty_name_is_refused(monkeypatch):
    monkeypatch.setenv("CONSOLE_OWNER_PASSWORD", STRONG)

    with pytest.raises(CommandError, match="needs a name"):
        _create_org("   ", "--owner", "peter@initech.example")

    assert not Org.objects.exists()
    assert not AuditEvent.objects.exists()
