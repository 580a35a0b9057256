"""A team's pages beyond its limits: renaming it on its settings page, deleting it after a
confirmation (refused while keys are in it), and the members on its page."""

import pytest
from django.urls import reverse

from audit import Actor
from audit.models import AuditEvent
from billing.limits import services
from gateway_console.models import Membership, Role, Team
from gateway_console.services import OrgActionRefused
from keys import services as key_services
from tests.factories import MembershipFactory, TeamFactory, make_key

pytestmark = pytest.mark.django_db

NO_LIMITS = {"spend_cap": "", "token_limit": "", "limit_period": "monthly", "rpm_limit": ""}


def _settings(client, team, **data):
    return client.post(reverse("team-edit", args=[team.pk]), {**NO_LIMITS, **data})


def _events(org, action):
    return list(AuditEvent.objects.filter(org=org, action=action).order_by("seq"))


def _html(response) -> str:
    return response.content.decode()


# Renaming ------------------------------------------------------------------------------------


def test_the_settings_page_offers_the_name_with_the_limits(admin_client, team):
    html = _html(admin_client.get(reverse("team-edit", args=[team.pk])))

    assert 'id="field-name"' in html and 'value="Search"' in html
    assert 'id="field-spend_cap"' in html
    assert "Save settings" in html


@pytest.mark.parametrize("client_fixture", ["owner_client", "admin_client"])
def test_an_owner_or_admin_renames_a_team_with_one_audit_event(request, client_fixture, team, org):
    client = request.getfixturevalue(client_fixture)

    response = _settings(client, team, name="  Search & Ranking ")

    assert response.status_code == 302
    assert response.url == reverse("team-detail", args=[team.pk])
    team.refresh_from_db()
    assert team.name == "Search & Ranking"
    (event,) = _events(org, "team.updated")
    assert event.target_id == str(team.pk)
    assert event.changes == {"name": {"before": "Search", "after": "Search & Ranking"}}
    page = _html(client.get(response.url))
    assert "Saved the settings of Search &amp; Ranking." in page


def test_a_rename_and_a_limit_change_are_one_event(admin_client, team, org):
    _settings(admin_client, team, name="Ranking", rpm_limit="60")

    (event,) = _events(org, "team.updated")
    assert event.changes == {
        "name": {"before": "Search", "after": "Ranking"},
        "rpm_limit": {"before": None, "after": 60},
    }


def test_a_name_only_changed_in_case_is_a_rename(admin_client, team, org):
    _settings(admin_client, team, name="SEARCH")

    team.refresh_from_db()
    assert team.name == "SEARCH"
    assert len(_events(org, "team.updated")) == 1


@pytest.mark.parametrize("name", ["Platform", "platform", " PLATFORM "])
def test_another_teams_name_is_a_field_error(admin_client, team, other_team, org, name):
    response = _settings(admin_client, team, name=name)

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors == {"name": [f"There is already a team called {name.strip()}."]}
    assert 'id="id_name-error"' in _html(response)
    team.refresh_from_db()
    assert team.name == "Search"
    assert _events(org, "team.updated") == []


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "A team needs a name."),
        ("   ", "A team needs a name."),
        ("x" * 121, "Ensure this value has at most 120 characters (it has 121)."),
    ],
)
def test_a_blank_or_too_long_name_is_a_field_error(admin_client, team, org, name, error):
    response = _settings(admin_client, team, name=name, rpm_limit="60")

    assert response.status_code == 200
    assert response.context["form"].errors == {"name": [error]}
    team.refresh_from_db()
    assert (team.name, team.rpm_limit) == ("Search", None)
    assert _events(org, "team.updated") == []


def test_a_name_taken_by_a_concurrent_rename_is_refused_not_a_500(
    admin_client, team, other_team, org, monkeypatch
):
    # The check before the write saw the name free; another transaction took it meanwhile and
    # the database's unique constraint refuses it.
    monkeypatch.setattr(services, "_free_name", lambda org, name, team=None: name.strip())

    response = _settings(admin_client, team, name="Platform")

    assert response.status_code == 200
    assert response.context["form"].errors == {"name": ["There is already a team called Platform."]}
    team.refresh_from_db()
    assert team.name == "Search"
    assert _events(org, "team.updated") == []


def test_a_new_team_with_a_taken_or_blank_name_is_a_field_error(admin_client, team, org):
    taken = admin_client.post(reverse("team-new"), {"name": "search"})
    blank = admin_client.post(reverse("team-new"), {"name": "  "})

    assert taken.context["form"].errors == {"name": ["There is already a team called search."]}
    assert blank.context["form"].errors == {"name": ["A team needs a name."]}
    assert list(Team.objects.filter(org=org).values_list("name", flat=True)) == ["Search"]


# Deleting ------------------------------------------------------------------------------------


def _delete_url(team) -> str:
    return reverse("team-delete", args=[team.pk])


def test_the_confirmation_names_the_team_and_the_members_who_leave_it(admin_client, team, org):
    for email in ("bo@example.com", "al@example.com"):
        MembershipFactory(org=org, role=Role.MEMBER, user__email=email).teams.set([team])

    html = _html(admin_client.get(_delete_url(team)))

    assert "Delete “Search”?" in html
    assert "2 members leave the team and stay in the organisation" in html
    assert html.index("al@example.com") < html.index("bo@example.com")
    assert '<button class="danger">Delete Search</button>' in html
    assert Team.objects.filter(pk=team.pk).exists()
    assert _events(org, "team.deleted") == []


def test_the_confirmation_of_a_team_with_keys_says_how_many_and_offers_no_delete(
    admin_client, team, org
):
    for name in ("a", "b", "c"):
        make_key(org, name=name, team=team)

    html = _html(admin_client.get(_delete_url(team)))

    assert "This team still has 3 keys; move or delete them first." in html
    assert f"?team={team.pk}" in html
    assert "<button" not in html.split('<div class="actions">')[1].split("</div>")[0]


def test_delete_is_refused_while_keys_are_in_the_team_even_disabled_ones(admin_client, team, org):
    make_key(org, name="active", team=team)
    disabled, _ = make_key(org, name="disabled", team=team)
    key_services.disable_key(key=disabled, actor=Actor.system("tests"))
    make_key(org, name="elsewhere")  # not in the team
    events_before = AuditEvent.objects.filter(org=org).count()

    response = admin_client.post(_delete_url(team), follow=True)

    assert response.redirect_chain == [(reverse("team-detail", args=[team.pk]), 302)]
    assert "This team still has 2 keys; move or delete them first." in _html(response)
    assert Team.objects.filter(pk=team.pk).exists()
    assert AuditEvent.objects.filter(org=org).count() == events_before


def test_one_key_is_named_in_the_singular(admin_client, team, org):
    make_key(org, name="only", team=team)

    response = admin_client.post(_delete_url(team), follow=True)

    assert "This team still has 1 key; move or delete it first." in _html(response)


def test_delete_removes_the_team_with_one_audit_event_and_keeps_the_memberships(
    owner_client, team, org
):
    member = MembershipFactory(org=org, role=Role.MEMBER, user__email="m@example.com")
    member.teams.set([team])
    auditor = MembershipFactory(org=org, role=Role.AUDITOR, user__email="a@example.com")
    auditor.teams.set([team])
    other = TeamFactory(org=org, name="Platform")
    member.teams.add(other)
    gone, _ = make_key(org, name="gone", team=team)
    key_services.delete_key(key=gone, actor=Actor.system("tests"))
    events_before = AuditEvent.objects.filter(org=org).count()

    response = owner_client.post(_delete_url(team), follow=True)

    assert response.redirect_chain == [(reverse("teams"), 302)]
    assert "Deleted the team Search." in _html(response)
    assert not Team.objects.filter(pk=team.pk).exists()
    assert AuditEvent.objects.filter(org=org).count() == events_before + 1
    (event,) = _events(org, "team.deleted")
    assert (event.target_id, event.data) == (str(team.pk), {"name": "Search", "members": 2})
    # The people stay, with their roles and their other teams; the deleted key left the team.
    assert set(Membership.objects.filter(org=org).values_list("user__email", "role")) >= {
        ("m@example.com", "member"),
        ("a@example.com", "auditor"),
    }
    assert list(member.teams.all()) == [other]
    assert list(auditor.teams.all()) == []
    gone.refresh_from_db()
    assert (gone.status, gone.team_id) == ("deleted", None)


def test_only_owners_and_admins_delete_and_another_orgs_admin_gets_a_404(
    member_client, auditor_client, other_org_admin_client, org
):
    empty = TeamFactory(org=org, name="Empty")

    answers = [
        client.post(_delete_url(empty)).status_code
        for client in (member_client, auditor_client, other_org_admin_client)
    ]

    assert answers == [403, 403, 404]
    assert Team.objects.filter(pk=empty.pk).exists()
    assert _events(org, "team.deleted") == []


def test_the_service_refuses_with_the_count_and_its_code(team, org):
    make_key(org, name="a", team=team)

    with pytest.raises(OrgActionRefused) as refused:
        services.delete_team(team=team, actor=Actor.system("tests"))

    assert (refused.value.code, str(refused.value)) == (
        "team_has_keys",
        "This team still has 1 key; move or delete it first.",
    )


# The members on the team's page --------------------------------------------------------------


def _detail(client, team, **params):
    return client.get(reverse("team-detail", args=[team.pk]), params)


@pytest.fixture
def people(org, team):
    """Three people in the team (of three roles) and one who is not."""
    rows = [
        ("carol@example.com", "Carol", Role.ADMIN),
        ("alice@example.com", "", Role.MEMBER),
        ("bob@example.com", "Bob", Role.AUDITOR),
    ]
    for email, name, role in rows:
        MembershipFactory(org=org, role=role, user__email=email, user__name=name).teams.set([team])
    MembershipFactory(org=org, role=Role.MEMBER, user__email="outsider@example.com")


@pytest.mark.parametrize("client_fixture", ["owner_client", "admin_client", "auditor_client"])
def test_the_team_page_lists_its_members_by_email(request, client_fixture, team, people):
    client = request.getfixturevalue(client_fixture)

    response = _detail(client, team)

    assert [m.user.email for m in response.context["members"]] == [
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
    ]
    html = _html(response)
    assert '<div id="team-members">' in html
    assert "<td>carol@example.com</td><td>Carol</td>" in html
    assert "<td>alice@example.com</td><td>—</td>" in html
    assert '<span class="role role-auditor">Auditor</span>' in html
    assert "outsider@example.com" not in html


def test_a_member_sees_the_other_members_of_their_team(member_client, team, people):
    html = _html(_detail(member_client, team))

    assert "member@example.com" in html and "carol@example.com" in html
    # Reading only: no settings or delete buttons.
    assert reverse("team-edit", args=[team.pk]) not in html
    assert reverse("team-delete", args=[team.pk]) not in html


def test_owners_and_admins_see_the_settings_and_delete_buttons(admin_client, team):
    html = _html(_detail(admin_client, team))

    assert f'href="{reverse("team-edit", args=[team.pk])}">Settings</a>' in html
    assert f'class="button danger" href="{reverse("team-delete", args=[team.pk])}"' in html


def test_a_team_without_members_says_so(admin_client, team):
    assert "No one is in this team yet." in _html(_detail(admin_client, team))


def test_a_long_member_list_pages_by_keyset(admin_client, team, org):
    for n in range(52):
        MembershipFactory(org=org, role=Role.MEMBER, user__email=f"p{n:02d}@example.com").teams.set(
            [team]
        )

    first = _detail(admin_client, team)
    emails = [m.user.email for m in first.context["members"]]
    pager = first.context["pager"]
    second = admin_client.get(reverse("team-detail", args=[team.pk]) + pager.next)

    assert emails == [f"p{n:02d}@example.com" for n in range(50)]
    assert pager.next == "?after=p49%40example.com" and pager.prev is None
    assert [m.user.email for m in second.context["members"]] == [
        "p50@example.com",
        "p51@example.com",
    ]
    assert second.context["pager"].next is None
    assert 'hx-target="#team-members"' in _html(first)


def test_htmx_gets_the_members_table_alone(admin_client, team, people):
    response = admin_client.get(
        reverse("team-detail", args=[team.pk]),
        headers={"HX-Request": "true", "HX-Target": "team-members"},
    )

    html = _html(response)
    assert html.startswith('<div id="team-members">')
    assert "alice@example.com" in html
    assert "Limits shared by the team" not in html


# The session, the user, the membership, the team, its limit counter, its members, and the
# page's frame (the alerts badge, the org switcher).
QUERIES = 8


def test_the_team_page_costs_the_same_queries_for_3_or_30_members(
    admin_client, team, org, people, django_assert_max_num_queries
):
    with django_assert_max_num_queries(QUERIES):
        _detail(admin_client, team)
    for n in range(27):
        MembershipFactory(org=org, role=Role.MEMBER, user__email=f"more{n}@example.com").teams.set(
            [team]
        )

    with django_assert_max_num_queries(QUERIES):
        response = _detail(admin_client, team)
    assert len(response.context["members"]) == 30
