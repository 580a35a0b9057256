"""Members, managed by owners and admins on the members page: roles (only an owner makes or
changes an owner, the last owner stays), teams, removal (which ends the person's sessions)."""

import pytest
from django.test import Client

from audit.models import AuditEvent
from gateway_console.models import Membership, Role
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob(org):
    return MembershipFactory(org=org, role=Role.MEMBER, user__email="bob@example.com")


def _events(org, action):
    return list(AuditEvent.objects.filter(org=org, action=action))


def test_the_members_page_offers_the_actions_to_admins(admin_client, bob, owner_membership):
    body = admin_client.get("/members/").content.decode()

    assert f"/members/{bob.pk}/role/" in body
    assert f"/members/{bob.pk}/remove/" in body
    # An admin does not get the owner's actions.
    assert f"/members/{owner_membership.pk}/role/" not in body
    assert "Invite a member" in body


def test_auditors_read_the_page_without_actions(auditor_client, bob):
    response = auditor_client.get("/members/")

    assert response.status_code == 200
    assert f"/members/{bob.pk}/role/" not in response.content.decode()
    assert "Invite a member" not in response.content.decode()


def test_an_admin_changes_a_role_confirmed_and_audited(admin_client, bob, org):
    page = admin_client.get(f"/members/{bob.pk}/role/")
    assert page.status_code == 200
    assert "Change the role of bob@example.com" in page.content.decode()

    response = admin_client.post(f"/members/{bob.pk}/role/", {"role": "admin"})

    assert response["Location"] == "/members/"
    bob.refresh_from_db()
    assert bob.role == Role.ADMIN
    [event] = _events(org, "member.role_changed")
    assert event.changes == {"role": {"before": "member", "after": "admin"}}
    assert event.data == {"email": "bob@example.com"}


def test_the_same_role_again_writes_nothing(admin_client, bob, org):
    admin_client.post(f"/members/{bob.pk}/role/", {"role": "member"})

    assert _events(org, "member.role_changed") == []


def test_an_admin_cannot_make_an_owner(admin_client, bob):
    response = admin_client.post(f"/members/{bob.pk}/role/", {"role": "owner"})

    assert response.status_code == 200
    assert "role" in response.context["form"].errors
    bob.refresh_from_db()
    assert bob.role == Role.MEMBER


def test_an_admin_cannot_demote_or_remove_an_owner(admin_client, owner_membership, org):
    demote = admin_client.post(f"/members/{owner_membership.pk}/role/", {"role": "member"})
    assert "Only an owner may" in demote.content.decode()
    admin_client.post(f"/members/{owner_membership.pk}/remove/")

    owner_membership.refresh_from_db()
    assert owner_membership.role == Role.OWNER
    assert _events(org, "member.removed") == []


def test_an_owner_makes_an_owner(owner_client, bob):
    owner_client.post(f"/members/{bob.pk}/role/", {"role": "owner"})

    bob.refresh_from_db()
    assert bob.role == Role.OWNER


def test_the_last_owner_cannot_be_demoted_or_removed(owner_client, owner_membership, org):
    demote = owner_client.post(f"/members/{owner_membership.pk}/role/", {"role": "admin"})
    assert "last owner" in demote.content.decode()
    removed = owner_client.post(f"/members/{owner_membership.pk}/remove/", follow=True)
    assert "last owner" in removed.content.decode()

    owner_membership.refresh_from_db()
    assert owner_membership.role == Role.OWNER
    assert _events(org, "member.role_changed") == _events(org, "member.removed") == []


def test_with_a_second_owner_an_owner_may_step_down(owner_client, owner_membership, org):
    MembershipFactory(org=org, role=Role.OWNER)

    owner_client.post(f"/members/{owner_membership.pk}/role/", {"role": "admin"})

    owner_membership.refresh_from_db()
    assert owner_membership.role == Role.ADMIN


def test_removal_ends_the_persons_sessions_at_once(admin_client, bob, org):
    bobs_browser = Client()
    bobs_browser.force_login(bob.user)
    assert bobs_browser.get("/keys/").status_code == 200
    page = admin_client.get(f"/members/{bob.pk}/remove/")
    assert "every session of theirs ends at once" in page.content.decode()

    admin_client.post(f"/members/{bob.pk}/remove/")

    assert not Membership.objects.filter(pk=bob.pk).exists()
    assert bobs_browser.get("/keys/")["Location"].startswith("/sign-in/")
    [event] = _events(org, "member.removed")
    assert event.data == {"email": "bob@example.com", "role": "member"}


def test_an_admin_chooses_a_members_teams(admin_client, bob, team, other_team, org):
    admin_client.post(f"/members/{bob.pk}/teams/", {"teams": [str(other_team.pk)]})

    assert list(bob.teams.all()) == [other_team]
    [event] = _events(org, "member.teams_changed")
    assert event.changes == {"teams": {"before": [], "after": ["Platform"]}}


def test_another_orgs_team_is_not_a_choice(admin_client, bob, other_org):
    from tests.factories import TeamFactory

    foreign = TeamFactory(org=other_org)

    response = admin_client.post(f"/members/{bob.pk}/teams/", {"teams": [str(foreign.pk)]})

    assert response.status_code == 200
    assert "teams" in response.context["form"].errors
    assert not bob.teams.exists()


def test_another_orgs_member_is_not_found(admin_client, other_org):
    stranger = MembershipFactory(org=other_org, role=Role.MEMBER)

    for path in ("role", "teams", "remove"):
        assert admin_client.get(f"/members/{stranger.pk}/{path}/").status_code == 404


def test_a_removal_by_platform_staff_in_django_admin_ends_the_sessions_too(bob):
    from gateway_console.models import User

    staff = Client()
    staff.force_login(User.objects.create_superuser("root@example.com", "x-root-passphrase-1"))
    bobs_browser = Client()
    bobs_browser.force_login(bob.user)

    staff.post(f"/admin/gateway_console/membership/{bob.pk}/delete/", {"post": "yes"})

    assert not Membership.objects.filter(pk=bob.pk).exists()
    assert bobs_browser.get("/keys/")["Location"].startswith("/sign-in/")


def test_deleting_a_person_with_memberships_and_sessions_works(bob):
    bobs_browser = Client()
    bobs_browser.force_login(bob.user)

    bob.user.delete()

    assert not Membership.objects.filter(pk=bob.pk).exists()
