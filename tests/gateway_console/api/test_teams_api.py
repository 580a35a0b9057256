"""/api/v1/teams: list, create, read, rename and set limits, delete (refused while keys are in
the team), each change with one audit event naming the token; another org's team is a 404."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from audit import Actor
from billing.limits.models import Counter, CounterPeriod
from billing.usage.models import UsageEvent
from gateway_console.models import Team
from keys import services as key_services
from tests.factories import MembershipFactory, TeamFactory, make_key
from tests.support.api import error_of, events

pytestmark = pytest.mark.django_db


def test_the_list_shows_each_team_with_its_limits_and_counts(api, org, team):
    Team.objects.filter(pk=team.pk).update(
        spend_cap=Decimal("250.5"), rpm_limit=600, tpm_limit=90_000, max_in_flight=20
    )
    make_key(org, name="in-team", team=team)
    deleted, _ = make_key(org, name="gone", team=team)
    key_services.delete_key(key=deleted, actor=Actor.system("tests"))
    MembershipFactory(org=org).teams.set([team])
    TeamFactory(org=org, name="Analytics")

    response = api.get("/api/v1/teams")

    assert response.status_code == 200
    body = response.json()
    assert [t["name"] for t in body["data"]] == ["Analytics", "Search"]
    search = body["data"][1]
    assert search["id"] == str(team.pk)
    assert search["limits"] == {
        "spend_cap": "250.500000",
        "token_limit": None,
        "limit_period": "monthly",
        "rpm_limit": 600,
        "tpm_limit": 90_000,
        "max_in_flight": 20,
    }
    assert (search["keys"], search["members"]) == (1, 1)
    assert body["next_cursor"] is None


def test_the_list_pages_by_name(api, org):
    for n in range(105):
        TeamFactory(org=org, name=f"team-{n:03d}")

    first = api.get("/api/v1/teams").json()
    second = api.get(f"/api/v1/teams?cursor={first['next_cursor']}").json()

    assert len(first["data"]) == 100
    assert first["next_cursor"] == "team-099"
    assert [t["name"] for t in second["data"]] == [f"team-{n}" for n in range(100, 105)]
    assert second["next_cursor"] is None


def test_create_makes_a_team_with_limits_and_one_audit_event(api, org):
    response = api.post(
        "/api/v1/teams",
        {"name": " Platform ", "limits": {"spend_cap": "100", "limit_period": "weekly"}},
    )

    assert response.status_code == 201, response.content
    body = response.json()
    team = Team.objects.get(pk=body["id"])
    assert (team.name, team.spend_cap, team.limit_period) == ("Platform", Decimal("100"), "weekly")
    assert body["limits"]["spend_cap"] == "100.000000"
    (event,) = events(org, "team.created")
    assert event.actor_type == "admin_token"
    assert event.data == {"name": "Platform", "spend_cap": "100.000000", "limit_period": "weekly"}


def test_create_refuses_a_name_the_org_already_has(api, org, team):
    response = api.post("/api/v1/teams", {"name": "search"})

    assert response.status_code == 409
    assert error_of(response)["code"] == "team_name_taken"
    assert Team.objects.filter(org=org).count() == 1


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"name": "ok", "limits": {"spend_cap": "0"}}, "limits.spend_cap"),
        ({"name": "ok", "limits": {"rpm_limit": 0}}, "limits.rpm_limit"),
        ({"name": "ok", "limits": {"tpm_limit": 0}}, "limits.tpm_limit"),
        ({"name": "ok", "limits": {"max_in_flight": 100_001}}, "limits.max_in_flight"),
        ({"name": "ok", "limits": {"limit_period": "hourly"}}, "limits.limit_period"),
        ({"name": "ok", "colour": "red"}, "colour"),
    ],
)
def test_create_refuses_what_the_console_would_refuse(api, org, body, param):
    response = api.post("/api/v1/teams", body)

    assert response.status_code == 422
    assert error_of(response)["param"] == param
    assert not Team.objects.exists()


def test_patch_renames_and_changes_limits_in_one_audit_event(api, org, team):
    Team.objects.filter(pk=team.pk).update(token_limit=5000)

    response = api.patch(
        f"/api/v1/teams/{team.pk}", {"name": "Search & Ranking", "limits": {"rpm_limit": 120}}
    )

    assert response.status_code == 200, response.content
    team.refresh_from_db()
    assert (team.name, team.rpm_limit, team.token_limit) == ("Search & Ranking", 120, 5000)
    (event,) = events(org, "team.updated")
    assert event.changes == {
        "name": {"before": "Search", "after": "Search & Ranking"},
        "rpm_limit": {"before": None, "after": 120},
    }


def test_patch_renames_alone_with_one_audit_event_of_the_name(api, org, team):
    response = api.patch(f"/api/v1/teams/{team.pk}", {"name": " Ranking "})

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Ranking"
    team.refresh_from_db()
    assert team.name == "Ranking"
    (event,) = events(org, "team.updated")
    assert event.actor_type == "admin_token"
    assert event.changes == {"name": {"before": "Search", "after": "Ranking"}}


@pytest.mark.parametrize("name", ["", "   ", "x" * 121])
def test_patch_refuses_a_blank_or_too_long_name(api, org, team, name):
    response = api.patch(f"/api/v1/teams/{team.pk}", {"name": name})

    assert response.status_code == 422
    assert error_of(response)["param"] == "name"
    team.refresh_from_db()
    assert team.name == "Search"
    assert events(org, "team.updated") == []


def test_create_refuses_a_name_of_spaces(api, org):
    response = api.post("/api/v1/teams", {"name": "   "})

    assert response.status_code == 422
    assert error_of(response) | {"message": None} == {
        "type": "invalid_request_error",
        "code": "invalid_request",
        "message": None,
        "param": "name",
    }
    assert not Team.objects.exists()


def test_patch_removes_a_limit_set_to_null(api, org, team):
    Team.objects.filter(pk=team.pk).update(spend_cap=Decimal("10"))

    response = api.patch(f"/api/v1/teams/{team.pk}", {"limits": {"spend_cap": None}})

    assert response.status_code == 200
    assert response.json()["limits"]["spend_cap"] is None
    team.refresh_from_db()
    assert team.spend_cap is None


def test_patch_that_changes_nothing_writes_no_event(api, org, team):
    response = api.patch(f"/api/v1/teams/{team.pk}", {"name": "Search"})

    assert response.status_code == 200
    assert events(org, "team.updated") == []


def test_patch_refuses_another_teams_name(api, org, team, other_team):
    response = api.patch(f"/api/v1/teams/{team.pk}", {"name": "PLATFORM"})

    assert response.status_code == 409
    assert error_of(response)["code"] == "team_name_taken"


def test_delete_refuses_a_team_that_still_has_keys(api, org, team):
    make_key(org, name="a", team=team)
    disabled, _ = make_key(org, name="b", team=team)
    key_services.disable_key(key=disabled, actor=Actor.system("tests"))

    response = api.delete(f"/api/v1/teams/{team.pk}")

    assert response.status_code == 409
    error = error_of(response)
    assert (error["type"], error["code"]) == ("conflict_error", "team_has_keys")
    assert error["message"] == "This team still has 2 keys; move or delete them first."
    assert Team.objects.filter(pk=team.pk).exists()
    assert events(org, "team.deleted") == []


def test_delete_removes_an_empty_team_and_keeps_its_history(api, org, team):
    key, _ = make_key(org, name="old", team=team)
    now = timezone.now()
    UsageEvent.objects.create(
        org=org,
        request_id="req_history",
        key=key,
        team=team,
        model="gpt-4o-mini",
        input_tokens=10,
        output_tokens=5,
        cost_micros=42,
        status_code=200,
        occurred_at=now,
    )
    counter = Counter.objects.create(
        org=org,
        team=team,
        kind="limit",
        period_start=now - timedelta(days=1),
        period_end=now + timedelta(days=29),
    )
    CounterPeriod.objects.create(
        org=org,
        counter=counter,
        team=team,
        kind="limit",
        period_start=now - timedelta(days=31),
        period_end=now - timedelta(days=1),
        spend_micros=42,
        tokens=15,
    )
    key_services.delete_key(key=key, actor=Actor.system("tests"))
    member = MembershipFactory(org=org)
    member.teams.set([team])

    response = api.delete(f"/api/v1/teams/{team.pk}")

    assert response.status_code == 204, response.content
    assert not Team.objects.filter(pk=team.pk).exists()
    (event,) = events(org, "team.deleted")
    assert (event.target_id, event.data) == (str(team.pk), {"name": "Search", "members": 1})
    # The history stays: the closed period (append-only) and the request, now without team.
    assert CounterPeriod.objects.get().team_id == team.pk
    assert UsageEvent.objects.get().team_id is None
    member.refresh_from_db()
    assert list(member.teams.all()) == []


def test_another_orgs_team_is_a_404_for_every_method(api, other_org):
    theirs = TeamFactory(org=other_org, name="Theirs")

    answers = [
        api.get(f"/api/v1/teams/{theirs.pk}").status_code,
        api.patch(f"/api/v1/teams/{theirs.pk}", {"name": "Mine"}).status_code,
        api.delete(f"/api/v1/teams/{theirs.pk}").status_code,
    ]

    assert answers == [404, 404, 404]
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"


def test_a_read_only_token_reads_teams_and_changes_none(read_only_api, org, team):
    assert read_only_api.get("/api/v1/teams").status_code == 200
    answers = [
        read_only_api.post("/api/v1/teams", {"name": "New"}),
        read_only_api.patch(f"/api/v1/teams/{team.pk}", {"name": "Renamed"}),
        read_only_api.delete(f"/api/v1/teams/{team.pk}"),
    ]

    assert [(a.status_code, error_of(a)["code"]) for a in answers] == [
        (403, "admin_token_read_only")
    ] * 3
    assert list(Team.objects.values_list("name", flat=True)) == ["Search"]
