"""`manage.py seed_demo`: the demo org with people, teams and keys; a second run adds nothing."""

from io import StringIO

import pytest
from django.core.management import call_command

from audit.chain import first_break
from audit.models import AuditEvent
from gateway_console.models import Membership, Org, Role, Team, User
from keys.models import Key

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _counts() -> dict[str, int]:
    return {
        "orgs": Org.objects.count(),
        "users": User.objects.count(),
        "teams": Team.objects.count(),
        "memberships": Membership.objects.count(),
        "keys": Key.objects.count(),
        "events": AuditEvent.objects.count(),
    }


def test_it_creates_the_demo_org_with_every_role():
    out = _seed()

    org = Org.objects.get(slug="acme")
    assert sorted(org.memberships.values_list("role", flat=True)) == sorted(Role.values)
    assert set(org.teams.values_list("name", flat=True)) == {"Platform", "Search", "Support"}
    assert Key.objects.filter(org=org).count() == 12
    member = Membership.objects.get(org=org, user__email="member@acme.example")
    assert list(member.teams.values_list("name", flat=True)) == ["Search"]
    assert "owner@acme.example" in out
    assert first_break(org) is None


def test_running_it_twice_adds_nothing():
    _seed()
    first = _counts()

    _seed()

    assert _counts() == first
    assert all(first.values())
    org = Org.objects.get(slug="acme")
    assert first_break(org) is None
    call_command("verify_audit_chain", stdout=StringIO())


def test_larger_data_sets_are_seeded_in_bulk_with_a_valid_chain_and_reconciling_money():
    from billing.ledger.reconcile import reconcile_all
    from billing.usage.models import UsageEvent

    call_command("seed_demo", keys=260, events=2_500, audit=700, stdout=StringIO())
    once = _counts()
    call_command("seed_demo", keys=260, events=2_500, audit=700, stdout=StringIO())

    assert _counts() == once  # a second run adds nothing
    org = Org.objects.get(slug="acme")
    assert Key.objects.filter(org=org).count() == 260
    assert UsageEvent.objects.filter(org=org).count() == 2_500
    assert AuditEvent.objects.filter(org=org).count() >= 700
    assert AuditEvent.objects.filter(org=org, action="keys.imported").count() == 1
    # Times never go back along the chain (the audit page's time filters rely on it).
    times = list(
        AuditEvent.objects.filter(org=org).order_by("seq").values_list("occurred_at", flat=True)
    )
    assert times == sorted(times)
    assert first_break(org) is None
    assert reconcile_all().findings == []
