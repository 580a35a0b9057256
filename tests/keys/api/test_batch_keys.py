"""POST /api/v1/keys/batch: disable, enable, delete or move several keys, all or none, with one
audit event naming them all; a key of another org is a 404 and nothing changes."""

import pytest

from keys.models import Key
from tests.factories import TeamFactory, make_key
from tests.support.api import error_of, events

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_keys(org, team):
    return [make_key(org, name=f"key-{n}", team=team)[0] for n in range(3)]


def _ids(keys) -> list[str]:
    return [str(key.pk) for key in keys]


def _statuses(keys) -> list[str]:
    return [Key.objects.get(pk=key.pk).status for key in keys]


@pytest.mark.parametrize(
    ("action", "status", "event"),
    [("disable", "disabled", "keys.disabled"), ("delete", "deleted", "keys.deleted")],
)
def test_it_changes_every_key_named_with_one_event(
    api, org, three_keys, admin_token, action, status, event
):
    response = api.post("/api/v1/keys/batch", {"action": action, "keys": _ids(three_keys[:2])})

    assert response.status_code == 200
    assert sorted(row["id"] for row in response.json()["data"]) == sorted(_ids(three_keys[:2]))
    assert _statuses(three_keys) == [status, status, "active"]
    (audit_event,) = events(org, event)
    assert audit_event.data["count"] == 2
    assert sorted(k["id"] for k in audit_event.data["named_keys"]) == sorted(_ids(three_keys[:2]))
    assert audit_event.actor_id == str(admin_token.pk)


def test_it_enables_keys(api, org, three_keys):
    Key.objects.filter(pk__in=_ids(three_keys)).update(status="disabled")

    response = api.post("/api/v1/keys/batch", {"action": "enable", "keys": _ids(three_keys)})

    assert response.status_code == 200
    assert _statuses(three_keys) == ["active"] * 3
    assert len(events(org, "keys.enabled")) == 1


def test_it_moves_keys_to_a_team_and_to_no_team(api, org, three_keys, other_team):
    moved = api.post(
        "/api/v1/keys/batch",
        {"action": "move", "keys": _ids(three_keys[:2]), "team": str(other_team.pk)},
    )

    assert moved.status_code == 200
    assert [Key.objects.get(pk=k.pk).team_id for k in three_keys[:2]] == [other_team.pk] * 2
    assert {row["team"] for row in moved.json()["data"]} == {str(other_team.pk)}

    unteamed = api.post(
        "/api/v1/keys/batch", {"action": "move", "keys": _ids(three_keys[:1]), "team": None}
    )

    assert unteamed.status_code == 200
    assert Key.objects.get(pk=three_keys[0].pk).team_id is None
    assert [e.data["team"] for e in events(org, "keys.moved")] == ["Platform", None]


def test_move_must_say_where_to(api, org, three_keys):
    response = api.post("/api/v1/keys/batch", {"action": "move", "keys": _ids(three_keys)})

    assert response.status_code == 422
    assert error_of(response)["param"] == "team"
    assert events(org, "keys.moved") == []


def test_only_move_takes_a_team(api, org, three_keys, other_team):
    response = api.post(
        "/api/v1/keys/batch",
        {"action": "disable", "keys": _ids(three_keys), "team": str(other_team.pk)},
    )

    assert response.status_code == 422
    assert _statuses(three_keys) == ["active"] * 3


def test_move_to_another_orgs_team_is_refused(api, org, other_org, three_keys):
    foreign = TeamFactory(org=other_org, name="Theirs")

    response = api.post(
        "/api/v1/keys/batch",
        {"action": "move", "keys": _ids(three_keys), "team": str(foreign.pk)},
    )

    assert response.status_code == 422
    assert error_of(response)["param"] == "team"
    assert {Key.objects.get(pk=k.pk).team.name for k in three_keys} == {"Search"}


def test_a_key_of_another_org_is_a_404_and_nothing_changes(
    api, org, other_org, three_keys, other_org_key
):
    response = api.post(
        "/api/v1/keys/batch",
        {"action": "delete", "keys": [*_ids(three_keys), str(other_org_key.pk)]},
    )

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert str(other_org_key.pk) in error_of(response)["message"]
    assert _statuses(three_keys) == ["active"] * 3
    assert Key.objects.get(pk=other_org_key.pk).status == "active"
    assert events(org, "keys.deleted") == events(other_org, "keys.deleted") == []


def test_a_deleted_key_in_the_batch_is_a_409_and_nothing_changes(api, org, three_keys):
    Key.objects.filter(pk=three_keys[0].pk).update(status="deleted")

    response = api.post("/api/v1/keys/batch", {"action": "disable", "keys": _ids(three_keys)})

    assert response.status_code == 409
    assert error_of(response)["code"] == "key_action_refused"
    assert _statuses(three_keys) == ["deleted", "active", "active"]
    assert events(org, "keys.disabled") == []


@pytest.mark.parametrize(
    "payload",
    [{"action": "disable", "keys": []}, {"action": "explode", "keys": []}, {"keys": ["x"]}],
    ids=["no-keys", "unknown-action", "no-action"],
)
def test_a_malformed_batch_is_a_422(api, payload):
    response = api.post("/api/v1/keys/batch", payload)

    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid_request"
