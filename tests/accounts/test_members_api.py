"""The admin API's members and invitations: the same rules as the members page, each change one
audit event; a token acts as an admin, never an owner; read-only tokens change nothing."""

import pytest
from user_sessions.models import Session

from accounts.models import Invitation
from audit.models import AuditEvent
from gateway_console.models import Membership, Role
from tests.factories import MembershipFactory, TeamFactory

pytestmark = pytest.mark.django_db


def error_of(response) -> dict:
    return response.json()["error"]


@pytest.fixture
def bob(org):
    return MembershipFactory(org=org, role=Role.MEMBER, user__email="bob@example.com")


def test_members_carry_their_id(api, bob):
    [row] = [
        m for m in api.get("/api/v1/members").json()["data"] if m["email"] == "bob@example.com"
    ]

    assert row["id"] == bob.pk


def test_a_token_changes_a_role_and_teams_one_event_each(api, bob, team, org):
    response = api.patch(f"/api/v1/members/{bob.pk}", {"role": "auditor", "teams": [str(team.pk)]})

    assert response.status_code == 200
    assert response.json()["role"] == "auditor"
    assert response.json()["teams"] == [str(team.pk)]
    actions = set(
        AuditEvent.objects.filter(org=org, target_id=str(bob.pk)).values_list("action", flat=True)
    )
    assert actions == {"member.role_changed", "member.teams_changed"}
    event = AuditEvent.objects.get(org=org, action="member.role_changed")
    assert event.actor_type == "admin_token"


def test_a_token_never_makes_or_changes_an_owner(api, bob, owner_membership):
    make = api.patch(f"/api/v1/members/{bob.pk}", {"role": "owner"})
    change = api.patch(f"/api/v1/members/{owner_membership.pk}", {"role": "member"})
    remove = api.delete(f"/api/v1/members/{owner_membership.pk}")

    for response in (make, change, remove):
        assert response.status_code == 403
        assert error_of(response)["code"] == "owner_required"
    owner_membership.refresh_from_db()
    assert owner_membership.role == Role.OWNER


def test_a_team_of_another_org_is_a_422(api, bob, other_org):
    foreign = TeamFactory(org=other_org)

    response = api.patch(f"/api/v1/members/{bob.pk}", {"teams": [str(foreign.pk)]})

    assert response.status_code == 422
    assert error_of(response)["param"] == "teams"


def test_removing_a_member_ends_their_sessions(api, bob, client, org):
    client.force_login(bob.user)
    assert Session.objects.filter(user=bob.user).exists()

    response = api.delete(f"/api/v1/members/{bob.pk}")

    assert response.status_code == 204
    assert not Membership.objects.filter(pk=bob.pk).exists()
    assert not Session.objects.filter(user=bob.user).exists()
    assert AuditEvent.objects.filter(org=org, action="member.removed").count() == 1


def test_another_orgs_member_is_a_404(api, other_org):
    stranger = MembershipFactory(org=other_org)

    assert api.patch(f"/api/v1/members/{stranger.pk}", {"role": "admin"}).status_code == 404
    assert api.delete(f"/api/v1/members/{stranger.pk}").status_code == 404


def test_read_only_tokens_change_nothing(read_only_api, bob):
    assert read_only_api.patch(f"/api/v1/members/{bob.pk}", {"role": "admin"}).status_code == 403
    assert read_only_api.delete(f"/api/v1/members/{bob.pk}").status_code == 403
    assert read_only_api.post("/api/v1/invitations", {"email": "x@example.com"}).status_code == 403
    assert read_only_api.get("/api/v1/invitations").status_code == 200


def test_invite_list_resend_and_withdraw(api, org, team, mailoutbox):
    created = api.post(
        "/api/v1/invitations",
        {"email": "New@Example.com", "role": "admin", "teams": [str(team.pk)]},
    )
    assert created.status_code == 201
    body = created.json()
    assert body["email"] == "new@example.com"
    assert body["status"] == "pending"
    assert len(mailoutbox) == 1
    assert "/invitations/" in mailoutbox[0].body
    assert "invitations/" not in created.content.decode().replace("/api/v1/", "")

    listed = api.get("/api/v1/invitations").json()
    assert [i["id"] for i in listed] == [body["id"]]
    assert api.post(f"/api/v1/invitations/{body['id']}/resend").status_code == 200
    assert len(mailoutbox) == 2
    assert api.delete(f"/api/v1/invitations/{body['id']}").status_code == 204
    assert api.get("/api/v1/invitations").json() == []
    again = api.delete(f"/api/v1/invitations/{body['id']}")
    assert again.status_code == 409
    actions = list(
        AuditEvent.objects.filter(org=org).order_by("seq").values_list("action", flat=True)
    )
    assert actions[-3:] == ["member.invited", "invitation.resent", "invitation.revoked"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"email": "not-an-email"}, 422, "invalid_request"),
        ({"email": "x@example.com", "role": "owner"}, 403, "owner_required"),
        ({"email": "x@example.com", "role": "boss"}, 422, "invalid_request"),
    ],
)
def test_bad_invitations_are_refused_with_the_contracts_body(api, body, status, code):
    response = api.post("/api/v1/invitations", body)

    assert response.status_code == status
    assert error_of(response)["code"] == code
    assert not Invitation.objects.exists()


def test_a_member_or_an_open_invitation_is_a_409(api, bob, mailoutbox):
    member = api.post("/api/v1/invitations", {"email": "bob@example.com"})
    api.post("/api/v1/invitations", {"email": "new@example.com"})
    twice = api.post("/api/v1/invitations", {"email": "new@example.com"})

    assert error_of(member)["code"] == "already_member"
    assert error_of(twice)["code"] == "already_invited"
