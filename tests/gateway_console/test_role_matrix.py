"""Who may do what (the roles of the README): every role against every page and action.

Owners and admins change things; members and auditors only read (members: their own teams'
keys; auditors: the whole org, the audit log above all); a visitor who is not signed in is sent
to sign in; an admin of another org gets a 404 for anything of this org, never a 403.
"""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation
from audit.models import AuditEvent
from gateway_console.models import Role, Team
from keys.models import Key
from tests.factories import MembershipFactory, TeamFactory, make_key

pytestmark = pytest.mark.django_db

ROLES = ("owner", "admin", "member", "auditor", "anonymous", "other_org_admin")
CHANGERS = {"owner", "admin"}


@dataclass(frozen=True)
class Call:
    method: str
    # "{key}"/"{team}": a key of this org (of the member's own team) / that team;
    # "{empty_team}": a team of this org with no key and no member
    path: str
    data: dict | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


CREATE_KEY = {"name": "new-key", "type": "standard", "limit_period": "monthly"}
EDIT_KEY = {"name": "billing-renamed", "type": "standard", "limit_period": "monthly"}
BATCH = {"action": "disable", "keys": "{key}", "confirmed": "yes"}
TEAM_SETTINGS = {
    "name": "Search & Ranking",
    "spend_cap": "50",
    "token_limit": "",
    "limit_period": "weekly",
    "rpm_limit": "30",
}

# fmt: off
#                                                  owner admin member auditor anon other-org-admin
MATRIX = [
    (Call("GET", "/keys/"),                           200,  200,  200,   200,   302,  200),
    (Call("GET", "/keys/new/"),                       200,  200,  403,   403,   302,  200),
    (Call("GET", "/keys/{key}/"),                     200,  200,  200,   200,   302,  404),
    (Call("GET", "/keys/{key}/edit/"),                200,  200,  403,   403,   302,  404),
    (Call("GET", "/keys/{key}/rotate/"),              200,  200,  403,   403,   302,  404),
    (Call("GET", "/keys/{key}/disable/"),             200,  200,  403,   403,   302,  404),
    (Call("GET", "/keys/{key}/enable/"),              200,  200,  403,   403,   302,  404),
    (Call("GET", "/keys/{key}/delete/"),              200,  200,  403,   403,   302,  404),
    (Call("GET", "/teams/"),                          200,  200,  200,   200,   302,  200),
    (Call("GET", "/teams/new/"),                      200,  200,  403,   403,   302,  200),
    (Call("GET", "/members/"),                        200,  200,  403,   200,   302,  200),
    (Call("GET", "/audit/"),                          200,  200,  403,   200,   302,  200),
    (Call("POST", "/keys/new/", CREATE_KEY),          200,  200,  403,   403,   302,  200),
    (Call("POST", "/keys/{key}/edit/", EDIT_KEY),     302,  302,  403,   403,   302,  404),
    (Call("POST", "/keys/{key}/rotate/", {"grace_hours": "0"}),
                                                      200,  200,  403,   403,   302,  404),
    (Call("POST", "/keys/{key}/disable/", {}),        302,  302,  403,   403,   302,  404),
    (Call("POST", "/keys/{key}/delete/", {}),         302,  302,  403,   403,   302,  404),
    # Another org's admin may batch-change keys, but only their own: ours are not even offered.
    (Call("POST", "/keys/batch/", BATCH),             302,  302,  403,   403,   302,  302),
    (Call("POST", "/teams/new/", {"name": "Research"}),
                                                      302,  302,  403,   403,   302,  302),
    (Call("GET", "/teams/{team}/"),                   200,  200,  200,   200,   302,  404),
    (Call("GET", "/teams/{team}/edit/"),              200,  200,  403,   403,   302,  404),
    (Call("POST", "/teams/{team}/edit/", TEAM_SETTINGS),
                                                      302,  302,  403,   403,   302,  404),
    # {team} holds the key; an empty team can be deleted.
    (Call("GET", "/teams/{team}/delete/"),            200,  200,  403,   403,   302,  404),
    (Call("GET", "/teams/{empty_team}/delete/"),      200,  200,  403,   403,   302,  404),
    (Call("POST", "/teams/{empty_team}/delete/", {}), 302,  302,  403,   403,   302,  404),
    (Call("GET", "/billing/"),                        200,  200,  403,   200,   302,  200),
    (Call("GET", "/billing/ledger/"),                 200,  200,  403,   200,   302,  200),
    (Call("GET", "/billing/caps/"),                   200,  200,  403,   200,   302,  200),
    (Call("GET", "/admin-tokens/"),                   200,  200,  403,   200,   302,  200),
    (Call("GET", "/gateway/"),                        200,  200,  403,   200,   302,  200),
    (Call("GET", "/admin-tokens/new/"),               200,  200,  403,   403,   302,  200),
    (Call("POST", "/admin-tokens/new/", {"name": "ci", "nonce": "n-1"}),
                                                      200,  200,  403,   403,   302,  200),
    # People: {member} is another member of this org, {invitation} an open invitation.
    (Call("GET", "/members/invite/"),                 200,  200,  403,   403,   302,  200),
    (Call("POST", "/members/invite/", {"email": "new@example.com", "role": "member"}),
                                                      302,  302,  403,   403,   302,  302),
    (Call("GET", "/members/{member}/role/"),          200,  200,  403,   403,   302,  404),
    (Call("POST", "/members/{member}/role/", {"role": "auditor"}),
                                                      302,  302,  403,   403,   302,  404),
    (Call("GET", "/members/{member}/teams/"),         200,  200,  403,   403,   302,  404),
    (Call("POST", "/members/{member}/teams/", {"teams": "{team}"}),
                                                      302,  302,  403,   403,   302,  404),
    (Call("GET", "/members/{member}/remove/"),        200,  200,  403,   403,   302,  404),
    (Call("POST", "/members/{member}/remove/", {}),   302,  302,  403,   403,   302,  404),
    (Call("GET", "/members/invitations/{invitation}/resend/"),
                                                      200,  200,  403,   403,   302,  404),
    (Call("POST", "/members/invitations/{invitation}/resend/", {}),
                                                      302,  302,  403,   403,   302,  404),
    (Call("GET", "/members/invitations/{invitation}/revoke/"),
                                                      200,  200,  403,   403,   302,  404),
    (Call("POST", "/members/invitations/{invitation}/revoke/", {}),
                                                      302,  302,  403,   403,   302,  404),
    # Only owners set the org's sign-in security.
    (Call("GET", "/members/security/"),               200,  403,  403,   403,   302,  403),
    (Call("POST", "/members/security/", {"require_two_factor": "on"}),
                                                      302,  403,  403,   403,   302,  403),
    # Everyone's own account.
    (Call("GET", "/account/"),                        200,  200,  200,   200,   302,  200),
    (Call("GET", "/account/password/"),               200,  200,  200,   200,   302,  200),
    (Call("GET", "/account/two-factor/"),             200,  200,  200,   200,   302,  200),
]
# fmt: on

CASES = [
    pytest.param(call, role, expected, id=f"{role}-{call}")
    for call, *statuses in MATRIX
    for role, expected in zip(ROLES, statuses, strict=True)
]


def _client(request, role: str) -> Client:
    return Client() if role == "anonymous" else request.getfixturevalue(f"{role}_client")


def _state_of(org, key) -> dict:
    return {
        "key": model_to_dict(Key.objects.get(pk=key.pk)),
        "keys": Key.objects.filter(org=org).count(),
        "teams": list(Team.objects.filter(org=org).order_by("pk").values()),
        "events": AuditEvent.objects.filter(org=org).count(),
    }


@pytest.mark.parametrize(("call", "role", "expected"), CASES)
def test_role_matrix(
    request, call, role, expected, org, team, key, empty_team, carol, invitation, mailoutbox
):
    client = _client(request, role)
    path = call.path.format(
        key=key.pk,
        team=team.pk,
        empty_team=empty_team.pk,
        member=carol.pk,
        invitation=invitation.pk,
    )
    data = {k: v.format(key=key.pk, team=team.pk) for k, v in (call.data or {}).items()}
    if "team" not in data and call.path.endswith("/edit/"):
        data["team"] = str(team.pk)
    before = _state_of(org, key)

    response = client.get(path) if call.method == "GET" else client.post(path, data)

    assert response.status_code == expected, f"{role} {call}: {response.status_code}"
    if role == "anonymous":
        assert response.url == f"{reverse('sign-in')}?next={path}"
    if role == "other_org_admin":
        assert str(key.pk) not in response.content.decode()
        assert key.preview not in response.content.decode()
    after = _state_of(org, key)
    if call.method == "POST" and role in CHANGERS and expected < 400:
        # The action happened, with its one audit event.
        assert after != before
        assert after["events"] == before["events"] + 1
    else:
        assert after == before


def test_matrix_covers_every_page_of_the_console():
    paths = {call.path for call, *_ in MATRIX}

    assert {
        "/keys/",
        "/keys/new/",
        "/keys/{key}/",
        "/keys/{key}/edit/",
        "/keys/{key}/rotate/",
        "/keys/{key}/disable/",
        "/keys/{key}/enable/",
        "/keys/{key}/delete/",
        "/keys/batch/",
        "/teams/",
        "/teams/new/",
        "/members/",
        "/audit/",
        "/teams/{team}/",
        "/teams/{team}/edit/",
        "/teams/{team}/delete/",
        "/teams/{empty_team}/delete/",
        "/billing/",
        "/billing/ledger/",
        "/billing/caps/",
        "/admin-tokens/",
        "/admin-tokens/new/",
        "/members/invite/",
        "/members/{member}/role/",
        "/members/{member}/teams/",
        "/members/{member}/remove/",
        "/members/invitations/{invitation}/resend/",
        "/members/invitations/{invitation}/revoke/",
        "/members/security/",
        "/account/",
        "/account/password/",
        "/account/two-factor/",
    } <= paths


@pytest.fixture
def carol(org):
    return MembershipFactory(org=org, role=Role.MEMBER, user__email="carol@example.com")


@pytest.fixture
def invitation(org):
    now = timezone.now()
    return Invitation.objects.create(
        org=org, email="invited@example.com", role=Role.MEMBER, expires_at=now + timedelta(days=7)
    )


@pytest.fixture
def empty_team(org):
    return TeamFactory(org=org, name="Empty")


@pytest.fixture
def other_teams_key(org, other_team):
    return make_key(org, name="platform-prod", team=other_team)[0]


@pytest.mark.parametrize("suffix", ["", "edit/", "rotate/", "disable/", "enable/", "delete/"])
def test_member_gets_404_for_other_teams_key(member_client, other_teams_key, suffix):
    response = member_client.get(f"/keys/{other_teams_key.pk}/{suffix}")

    # The page of another team's key does not exist for a member; the actions are forbidden
    # to members whatever the key, so they reveal nothing either.
    assert response.status_code == (404 if suffix == "" else 403)


def test_member_lists_only_their_own_teams_keys(member_client, key, other_teams_key):
    response = member_client.get("/keys/")

    html = response.content.decode()
    assert key.preview in html
    assert other_teams_key.name not in html
    assert other_teams_key.preview not in html


def test_auditor_sees_keys_of_every_team(auditor_client, key, other_teams_key):
    assert auditor_client.get(f"/keys/{other_teams_key.pk}/").status_code == 200
    html = auditor_client.get("/keys/").content.decode()
    assert key.preview in html
    assert other_teams_key.preview in html


def test_member_cannot_batch_change_another_teams_key(member_client, other_teams_key):
    response = member_client.post(
        "/keys/batch/", {"action": "delete", "keys": str(other_teams_key.pk), "confirmed": "yes"}
    )

    assert response.status_code == 403
    other_teams_key.refresh_from_db()
    assert other_teams_key.status == "active"
