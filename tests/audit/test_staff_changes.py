"""Every change platform staff make in Django admin writes one audit event in the admin's own
transaction (audit.staff): an org's objects in that org's chain, users, plans and model prices
in the platform log. Real admin forms, posted by a signed-in superuser."""

import json

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from audit import recorded
from audit.chain import check_chain, check_platform_chain
from audit.models import AuditEvent, PlatformEvent
from audit.staff import changes_between
from billing.ledger.models import ModelPrice, Plan, Wallet
from gateway_console.models import Membership, Org, Team, User
from tests.factories import PASSWORD, MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(db):
    return UserFactory(email="ops@platform.example", is_staff=True, is_superuser=True)


@pytest.fixture
def staff(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def org_events(org) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(org=org).order_by("seq"))


def platform_events() -> list[PlatformEvent]:
    return list(PlatformEvent.objects.order_by("seq"))


def assert_by_staff(event, superuser) -> None:
    assert (event.actor_type, event.actor_id, event.actor_label, event.actor_role) == (
        "user",
        str(superuser.pk),
        "ops@platform.example",
        "staff",
    )


def team_form(**fields) -> dict:
    return {
        "name": "Search",
        "spend_cap": "",
        "token_limit": "",
        "limit_period": "monthly",
        "rpm_limit": "",
        **fields,
    }


def membership_form(membership, teams, **fields) -> dict:
    return {"role": membership.role, "teams": [team.pk for team in teams], **fields}


# --- An org's objects: that org's chain --------------------------------------------------


def test_adding_a_team_writes_one_event_in_its_orgs_chain(staff, superuser, org, other_org):
    response = staff.post(url(Team, "add"), team_form(org=org.pk, name="Research"))

    assert response.status_code == 302
    team = Team.objects.get(org=org, name="Research")
    [event] = org_events(org)
    assert event.action == "team.created_by_staff"
    assert (event.target_type, event.target_id, event.target_label) == (
        "team",
        str(team.pk),
        "Research",
    )
    assert_by_staff(event, superuser)
    # Every field it was made with; created_at too, which staff cannot set.
    assert event.changes == {
        "org": {"before": None, "after": "Acme"},
        "name": {"before": None, "after": "Research"},
        "limit_period": {"before": None, "after": "monthly"},
        "created_at": {"before": None, "after": recorded(team.created_at)},
    }
    assert event.display == "created a team in Django admin"
    assert org_events(other_org) == []


def test_changing_a_team_records_the_fields_that_changed(staff, superuser, org, team):
    response = staff.post(
        url(Team, "change", team.pk), team_form(name="Search & Rescue", spend_cap="250")
    )

    assert response.status_code == 302
    [event] = org_events(org)
    assert event.action == "team.changed_by_staff"
    assert event.target_id == str(team.pk)
    assert_by_staff(event, superuser)
    assert event.changes == {
        "name": {"before": "Search", "after": "Search & Rescue"},
        "spend_cap": {"before": None, "after": "250.000000"},
    }
    assert check_chain(org).holds


def test_the_orgs_auditors_see_the_staff_change_on_their_audit_page(
    staff, org, team, auditor_client
):
    staff.post(url(Team, "change", team.pk), team_form(spend_cap="250"))

    page = auditor_client.get(reverse("audit:list"))

    assert page.status_code == 200
    assert "changed a team in Django admin" in page.text
    assert "ops@platform.example" in page.text
    assert "$250.00" in page.text


def test_a_form_that_does_not_validate_writes_nothing(staff, org, team):
    response = staff.post(url(Team, "change", team.pk), team_form(name="", spend_cap="lots"))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert Team.objects.get(pk=team.pk).name == "Search"
    assert org_events(org) == []


def test_saving_a_team_unchanged_writes_nothing(staff, org, team):
    response = staff.post(url(Team, "change", team.pk), team_form())

    assert response.status_code == 302
    assert org_events(org) == []


def test_a_team_stays_in_its_org(staff, org, other_org, team):
    staff.post(url(Team, "change", team.pk), team_form(org=other_org.pk, rpm_limit="60"))

    assert Team.objects.get(pk=team.pk).org == org
    [event] = org_events(org)
    assert event.changes == {"rpm_limit": {"before": None, "after": 60}}
    assert org_events(other_org) == []


def test_deleting_a_team_records_what_it_was(staff, superuser, org, team):
    response = staff.post(url(Team, "delete", team.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not Team.objects.filter(pk=team.pk).exists()
    [event] = org_events(org)
    assert event.action == "team.deleted_by_staff"
    assert (event.target_id, event.target_label) == (str(team.pk), "Search")
    assert_by_staff(event, superuser)
    assert event.changes["name"] == {"before": "Search", "after": None}
    assert event.changes["org"] == {"before": "Acme", "after": None}


def test_deleting_teams_of_two_orgs_at_once_writes_one_event_in_each(staff, org, other_org, team):
    theirs = TeamFactory(org=other_org, name="Ops")

    response = staff.post(
        url(Team, "changelist"),
        {"action": "delete_selected", "_selected_action": [team.pk, theirs.pk], "post": "yes"},
    )

    assert response.status_code == 302
    assert not Team.objects.filter(pk__in=[team.pk, theirs.pk]).exists()
    assert [(e.action, e.target_label) for e in org_events(org)] == [
        ("team.deleted_by_staff", "Search")
    ]
    assert [(e.action, e.target_label) for e in org_events(other_org)] == [
        ("team.deleted_by_staff", "Ops")
    ]


def test_changing_a_members_teams_is_one_event_with_the_teams_before_and_after(
    staff, superuser, org, team, other_team, member_membership
):
    response = staff.post(
        url(Membership, "change", member_membership.pk),
        membership_form(member_membership, [other_team]),
    )

    assert response.status_code == 302
    assert list(member_membership.teams.all()) == [other_team]
    [event] = org_events(org)
    assert event.action == "membership.changed_by_staff"
    assert (event.target_type, event.target_id) == ("membership", str(member_membership.pk))
    assert_by_staff(event, superuser)
    assert event.changes == {"teams": {"before": ["Search"], "after": ["Platform"]}}


def test_a_role_and_teams_changed_together_are_one_event(
    staff, org, team, other_team, member_membership
):
    staff.post(
        url(Membership, "change", member_membership.pk),
        membership_form(member_membership, [team, other_team], role="admin"),
    )

    [event] = org_events(org)
    assert event.changes == {
        "role": {"before": "member", "after": "admin"},
        "teams": {"before": ["Search"], "after": ["Platform", "Search"]},
    }


def test_another_orgs_team_is_refused_and_nothing_is_recorded(
    staff, org, other_org, member_membership
):
    theirs = TeamFactory(org=other_org, name="Globex secret project")

    response = staff.post(
        url(Membership, "change", member_membership.pk),
        membership_form(member_membership, [theirs]),
    )

    assert response.status_code == 200
    assert "Not teams of Acme: Globex secret project." in response.text
    assert [t.name for t in member_membership.teams.all()] == ["Search"]
    assert org_events(org) == []
    assert org_events(other_org) == []


def test_adding_and_removing_a_member(staff, org, team):
    person = UserFactory(email="new@example.com")

    staff.post(
        url(Membership, "add"),
        {"org": org.pk, "user": person.pk, "role": "member", "teams": [team.pk]},
    )
    membership = Membership.objects.get(org=org, user=person)
    staff.post(url(Membership, "delete", membership.pk), {"post": "yes"})

    added, removed = org_events(org)
    assert added.action == "membership.created_by_staff"
    assert added.changes == {
        "org": {"before": None, "after": "Acme"},
        "user": {"before": None, "after": "new@example.com"},
        "role": {"before": None, "after": "member"},
        "teams": {"before": None, "after": ["Search"]},
        "created_at": {"before": None, "after": recorded(membership.created_at)},
    }
    assert removed.action == "membership.deleted_by_staff"
    assert removed.changes["user"] == {"before": "new@example.com", "after": None}
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert check_chain(org).holds


def test_changing_an_org_records_in_its_own_chain(staff, superuser, org):
    plan = Plan.objects.create(name="Pro")
    response = staff.post(
        url(Org, "change", org.pk),
        {"name": "Acme AI", "slug": "acme", "timezone": "Europe/Berlin", "plan": plan.pk},
    )

    assert response.status_code == 302
    [event] = org_events(org)
    assert event.action == "org.changed_by_staff"
    assert (event.target_type, event.target_id) == ("org", str(org.pk))
    assert_by_staff(event, superuser)
    assert event.changes == {
        "name": {"before": "Acme", "after": "Acme AI"},
        "timezone": {"before": "UTC", "after": "Europe/Berlin"},
        "plan": {"before": None, "after": "Pro"},
    }


def test_an_org_added_in_admin_starts_its_chain_with_the_staff_event(staff, superuser):
    response = staff.post(
        url(Org, "add"),
        {"name": "Initech", "slug": "initech", "timezone": "UTC", "require_two_factor": "on"},
    )

    assert response.status_code == 302
    org = Org.objects.get(slug="initech")
    [event] = org_events(org)
    assert (event.seq, event.action) == (1, "org.created_by_staff")
    assert event.changes["name"] == {"before": None, "after": "Initech"}
    assert_by_staff(event, superuser)
    assert check_chain(org).holds
    assert Wallet.objects.filter(org=org).exists()  # opened as create_org opens it


def test_an_org_cannot_be_deleted_in_admin(staff, org):
    assert staff.get(url(Org, "delete", org.pk)).status_code == 403
    assert staff.post(url(Org, "delete", org.pk), {"post": "yes"}).status_code == 403

    response = staff.post(
        url(Org, "changelist"),
        {"action": "delete_selected", "_selected_action": [org.pk], "post": "yes"},
    )

    assert response.status_code in (200, 302)
    assert Org.objects.filter(pk=org.pk).exists()
    assert org_events(org) == []


# --- What belongs to no org: the platform log ----------------------------------------------


def test_a_plan_added_and_changed_is_recorded_in_the_platform_log(staff, superuser):
    ModelPrice.objects.create(
        model="gpt-4o", input_per_million="2.5", output_per_million="10", max_output_tokens=4096
    )
    price = ModelPrice.objects.get()

    staff.post(url(Plan, "add"), {"name": "Pro", "price_multiplier": "1.5", "models": [price.pk]})
    plan = Plan.objects.get(name="Pro")
    staff.post(url(Plan, "change", plan.pk), {"name": "Pro", "price_multiplier": "1.25"})

    created, changed = platform_events()
    assert created.action == "plan.created_by_staff"
    assert (created.target_type, created.target_id) == ("plan", str(plan.pk))
    assert_by_staff(created, superuser)
    assert created.changes == {
        "name": {"before": None, "after": "Pro"},
        "price_multiplier": {"before": None, "after": "1.5000"},
        "models": {"before": None, "after": ["gpt-4o"]},
    }
    assert changed.action == "plan.changed_by_staff"
    assert changed.changes == {
        "price_multiplier": {"before": "1.5000", "after": "1.2500"},
        "models": {"before": ["gpt-4o"], "after": []},
    }
    assert AuditEvent.objects.count() == 0
    assert check_platform_chain().holds


def test_a_model_price_changed_is_recorded_as_decimal_text(staff):
    price = ModelPrice.objects.create(
        model="gpt-4o", input_per_million="2.5", output_per_million="10", max_output_tokens=4096
    )

    response = staff.post(
        url(ModelPrice, "change", price.pk),
        {
            "model": "gpt-4o",
            "input_per_million": "2.75",
            "output_per_million": "10",
            "max_output_tokens": "4096",
        },
    )

    assert response.status_code == 302
    [event] = platform_events()
    assert event.action == "model_price.changed_by_staff"
    assert event.changes == {"input_per_million": {"before": "2.500000", "after": "2.750000"}}


def user_form(user, **fields) -> dict:
    return {
        "email": user.email,
        "name": user.name,
        "is_active": "on" if user.is_active else "",
        "is_staff": "on" if user.is_staff else "",
        "is_superuser": "on" if user.is_superuser else "",
        **fields,
    }


def assert_no_secret_in(event, *secrets) -> None:
    row = json.dumps({f.name: str(getattr(event, f.attname)) for f in event._meta.concrete_fields})
    for secret in secrets:
        assert secret not in row


def test_making_a_user_staff_is_recorded_without_their_password(staff, superuser):
    person = UserFactory(email="ada@example.com")

    response = staff.post(url(User, "change", person.pk), user_form(person, is_staff="on"))

    assert response.status_code == 302
    [event] = platform_events()
    assert event.action == "user.changed_by_staff"
    assert (event.target_type, event.target_label) == ("user", "ada@example.com")
    assert_by_staff(event, superuser)
    assert event.changes == {"is_staff": {"before": False, "after": True}}
    assert_no_secret_in(event, person.password)
    assert AuditEvent.objects.count() == 0


def test_a_password_changed_by_staff_is_recorded_with_no_value(staff):
    person = UserFactory(email="ada@example.com")
    old_hash = person.password

    response = staff.post(
        reverse("admin:auth_user_password_change", args=[person.pk]),
        {
            "password1": "a-new-password-2026",
            "password2": "a-new-password-2026",
            "usable_password": "true",
        },
    )

    assert response.status_code == 302
    person.refresh_from_db()
    assert person.check_password("a-new-password-2026")
    [event] = platform_events()
    assert event.action == "user.password_changed_by_staff"
    assert event.display == "changed a user's password"
    assert event.changes == {"password": {"before": None, "after": "changed"}}
    assert_no_secret_in(event, old_hash, person.password, "a-new-password-2026")


def test_a_password_form_that_does_not_validate_writes_nothing(staff):
    person = UserFactory(email="ada@example.com")

    response = staff.post(
        reverse("admin:auth_user_password_change", args=[person.pk]),
        {"password1": "a-new-password-2026", "password2": "another", "usable_password": "true"},
    )

    assert response.status_code == 200
    assert platform_events() == []


def test_a_user_added_in_admin_has_their_password_set_but_not_recorded(staff):
    response = staff.post(
        url(User, "add"),
        {
            "email": "grace@example.com",
            "password1": "a-new-password-2026",
            "password2": "a-new-password-2026",
            "usable_password": "true",
        },
    )

    assert response.status_code == 302
    person = User.objects.get(email="grace@example.com")
    [event] = platform_events()
    assert event.action == "user.created_by_staff"
    assert event.changes["email"] == {"before": None, "after": "grace@example.com"}
    assert event.changes["password"] == {"before": None, "after": "set"}
    assert_no_secret_in(event, person.password, "a-new-password-2026")


def test_deleting_a_user_is_recorded_in_the_platform_log_and_in_each_of_their_orgs(
    staff, superuser, org, other_org
):
    person = UserFactory(email="ada@example.com")
    MembershipFactory(org=org, user=person, role="admin")
    MembershipFactory(org=other_org, user=person, role="auditor")

    response = staff.post(url(User, "delete", person.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not User.objects.filter(pk=person.pk).exists()
    [event] = platform_events()
    assert (event.action, event.target_label) == ("user.deleted_by_staff", "ada@example.com")
    assert event.changes["email"] == {"before": "ada@example.com", "after": None}
    assert "password" not in event.changes
    assert_no_secret_in(event, person.password)
    for each, role in ((org, "admin"), (other_org, "auditor")):
        [left] = org_events(each)
        assert left.action == "membership.deleted_by_staff"
        assert left.changes["role"] == {"before": role, "after": None}
        assert left.data == {"reason": "the user was deleted"}
        assert_by_staff(left, superuser)


def test_a_group_given_a_permission_is_recorded_with_the_permissions_names(staff, superuser):
    permission = Permission.objects.get(codename="change_plan")

    response = staff.post(url(Group, "add"), {"name": "Pricing", "permissions": [permission.pk]})

    assert response.status_code == 302
    [event] = platform_events()
    assert event.action == "group.created_by_staff"
    assert_by_staff(event, superuser)
    assert event.changes == {
        "name": {"before": None, "after": "Pricing"},
        "permissions": {"before": None, "after": [str(permission)]},
    }


def test_the_platform_log_and_the_orgs_chains_hold_after_many_changes(staff, org, team):
    for n in range(3):
        staff.post(url(Team, "change", team.pk), team_form(rpm_limit=str(60 + n)))
        staff.post(url(Plan, "add"), {"name": f"Plan {n}", "price_multiplier": "1"})

    assert [e.seq for e in org_events(org)] == [1, 2, 3]
    assert [e.seq for e in platform_events()] == [1, 2, 3]
    assert check_chain(org).holds
    assert check_platform_chain().holds
    assert PASSWORD not in json.dumps([e.changes for e in platform_events()])


def test_changes_between_never_holds_a_secret_and_takes_blank_for_none():
    before = {"name": "", "webhook_secret": "s3cr3t", "token_hash": None, "teams": []}
    after = {"name": None, "webhook_secret": "n3w", "token_hash": "abc", "teams": ["Search"]}

    assert changes_between(before, after) == {
        "webhook_secret": {"before": None, "after": "changed"},
        "token_hash": {"before": None, "after": "set"},
        "teams": {"before": [], "after": ["Search"]},
    }
    # Deleted with its object: a secret leaves no trace, not even "changed".
    assert changes_between({"password": "s3cr3t", "name": "Ada"}, {}) == {
        "name": {"before": "Ada", "after": None}
    }
