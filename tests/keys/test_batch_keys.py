import pytest
from django.urls import reverse

from audit import Actor
from keys import services
from keys.models import Key, KeyStatus
from keys.services import KeyActionRefused
from tests.factories import TeamFactory, make_key
from tests.support.api import events

pytestmark = pytest.mark.django_db

BATCH = "/keys/batch/"
BATCH_ACTIONS = ("keys.disabled", "keys.enabled", "keys.deleted", "keys.moved")


@pytest.fixture
def three_keys(org, team):
    return [make_key(org, name=name, team=team)[0] for name in ("alpha", "bravo", "charlie")]


def _ids(keys) -> list[str]:
    return [str(k.pk) for k in keys]


def _batch_events(org):
    return [e for e in events(org) if e.action in BATCH_ACTIONS]


def _statuses(keys) -> list[str]:
    return [Key.objects.get(pk=k.pk).status for k in keys]


# The first POST: a confirmation


@pytest.mark.parametrize("action", ["disable", "enable", "delete", "move"])
def test_first_post_lists_the_keys_and_changes_nothing(admin_client, org, three_keys, action):
    response = admin_client.post(BATCH, {"action": action, "keys": _ids(three_keys)})

    assert response.status_code == 200
    html = response.content.decode()
    assert f"{action.capitalize()} 3 keys" in html
    for key in three_keys:
        assert key.name in html
        assert key.preview in html
        assert f'name="keys" value="{key.pk}"' in html
    assert 'name="confirmed" value="yes"' in html
    assert "All of them change, or none does." in html
    assert _statuses(three_keys) == ["active"] * 3
    assert _batch_events(org) == []


def test_move_confirmation_offers_only_the_orgs_teams(admin_client, other_org, three_keys):
    foreign = TeamFactory(org=other_org, name="Foreign")

    html = admin_client.post(BATCH, {"action": "move", "keys": _ids(three_keys)}).content.decode()

    assert "Foreign" not in html
    assert str(foreign.pk) not in html


def test_post_with_no_keys_selected_is_refused(admin_client, org, three_keys):
    response = admin_client.post(BATCH, {"action": "disable", "confirmed": "yes"})

    assert response.status_code == 302
    assert "Select at least one key." in admin_client.get(response["Location"]).content.decode()
    assert _statuses(three_keys) == ["active"] * 3
    assert _batch_events(org) == []


# The confirmed POST: all of them, one event


def test_confirmed_disable_disables_all_with_one_event(admin_client, org, three_keys):
    response = admin_client.post(
        BATCH, {"action": "disable", "keys": _ids(three_keys), "confirmed": "yes"}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("keys:list")
    assert _statuses(three_keys) == ["disabled"] * 3
    assert all(Key.objects.get(pk=k.pk).disabled_at for k in three_keys)
    [event] = _batch_events(org)
    assert event.action == "keys.disabled"
    assert event.actor_label == "admin@example.com"
    assert event.data["count"] == 3
    named = event.data["named_keys"]
    assert [n["id"] for n in named] == _ids(three_keys)
    assert [n["label"] for n in named] == [k.audit_label for k in three_keys]
    assert [n["before"] for n in named] == ["active"] * 3
    assert "Disabled 3 keys." in admin_client.get(response["Location"]).content.decode()
    # No per-key events besides the one batch event.
    assert events(org, "key.disabled") == []


def test_confirmed_enable_enables_all_with_one_event(admin_client, org, three_keys):
    for key in three_keys:
        services.disable_key(key=key, actor=Actor.system("tests"))

    admin_client.post(BATCH, {"action": "enable", "keys": _ids(three_keys), "confirmed": "yes"})

    assert _statuses(three_keys) == ["active"] * 3
    [event] = _batch_events(org)
    assert event.action == "keys.enabled"
    assert {n["id"] for n in event.data["named_keys"]} == set(_ids(three_keys))
    assert [n["before"] for n in event.data["named_keys"]] == ["disabled"] * 3


def test_confirmed_delete_deletes_all_with_one_event(admin_client, org, three_keys):
    services.rotate_key(key=three_keys[0], actor=Actor.system("tests"), grace_hours=5)

    admin_client.post(BATCH, {"action": "delete", "keys": _ids(three_keys), "confirmed": "yes"})

    assert _statuses(three_keys) == ["deleted"] * 3
    for key in three_keys:
        row = Key.objects.get(pk=key.pk)
        assert row.deleted_at is not None
        assert row.grace_secret_hash is None
        assert row.grace_until is None
    [event] = _batch_events(org)
    assert event.action == "keys.deleted"
    assert {n["id"] for n in event.data["named_keys"]} == set(_ids(three_keys))


def test_confirmed_move_moves_all_to_the_team_with_one_event(
    admin_client, org, team, other_team, three_keys
):
    admin_client.post(
        BATCH,
        {
            "action": "move",
            "keys": _ids(three_keys),
            "team": str(other_team.pk),
            "confirmed": "yes",
        },
    )

    assert [Key.objects.get(pk=k.pk).team for k in three_keys] == [other_team] * 3
    [event] = _batch_events(org)
    assert event.action == "keys.moved"
    assert event.data["team"] == "Platform"
    assert {n["id"] for n in event.data["named_keys"]} == set(_ids(three_keys))
    assert [n["before"] for n in event.data["named_keys"]] == ["Search"] * 3


def test_confirmed_move_to_no_team(admin_client, org, three_keys):
    admin_client.post(
        BATCH, {"action": "move", "keys": _ids(three_keys), "team": "", "confirmed": "yes"}
    )

    assert [Key.objects.get(pk=k.pk).team for k in three_keys] == [None] * 3
    [event] = _batch_events(org)
    assert event.data["team"] is None


def test_batch_event_appears_in_each_keys_audit_trail(admin_client, three_keys):
    admin_client.post(BATCH, {"action": "disable", "keys": _ids(three_keys), "confirmed": "yes"})

    for key in three_keys:
        html = admin_client.get(reverse("keys:detail", args=[key.pk])).content.decode()
        assert "keys.disabled" in html


# All or nothing


def test_a_key_of_another_org_changes_nothing(admin_client, org, other_org, three_keys):
    foreign, _ = make_key(other_org, name="foreign")

    response = admin_client.post(
        BATCH,
        {"action": "disable", "keys": [*_ids(three_keys), str(foreign.pk)], "confirmed": "yes"},
    )

    assert response.status_code == 302
    assert _statuses(three_keys) == ["active"] * 3
    assert Key.objects.get(pk=foreign.pk).status == KeyStatus.ACTIVE
    assert _batch_events(org) == []
    assert _batch_events(other_org) == []


def test_a_deleted_key_changes_nothing(admin_client, org, three_keys):
    services.delete_key(key=three_keys[2], actor=Actor.system("tests"))

    response = admin_client.post(
        BATCH, {"action": "disable", "keys": _ids(three_keys), "confirmed": "yes"}
    )

    assert response.status_code == 302
    assert _statuses(three_keys) == ["active", "active", "deleted"]
    assert _batch_events(org) == []
    page = admin_client.get(response["Location"]).content.decode()
    assert "nothing was changed" in page


def test_an_unknown_key_id_changes_nothing(admin_client, org, three_keys):
    response = admin_client.post(
        BATCH,
        {
            "action": "delete",
            "keys": [*_ids(three_keys), "00000000-0000-0000-0000-000000000000"],
            "confirmed": "yes",
        },
    )

    assert response.status_code == 302
    assert _statuses(three_keys) == ["active"] * 3
    assert _batch_events(org) == []


def test_moving_to_a_team_of_another_org_changes_nothing(admin_client, org, other_org, three_keys):
    foreign = TeamFactory(org=other_org, name="Foreign")

    admin_client.post(
        BATCH,
        {"action": "move", "keys": _ids(three_keys), "team": str(foreign.pk), "confirmed": "yes"},
    )

    assert {Key.objects.get(pk=k.pk).team.name for k in three_keys} == {"Search"}
    assert _batch_events(org) == []


def test_unknown_action_changes_nothing(admin_client, org, three_keys):
    admin_client.post(BATCH, {"action": "explode", "keys": _ids(three_keys), "confirmed": "yes"})

    assert _statuses(three_keys) == ["active"] * 3
    assert _batch_events(org) == []


def test_change_keys_service_is_all_or_nothing(org, other_org, three_keys):
    foreign, _ = make_key(other_org, name="foreign")

    with pytest.raises(KeyActionRefused):
        services.change_keys(
            org=org,
            actor=Actor.system("tests"),
            key_ids=[k.pk for k in three_keys] + [foreign.pk],
            action="delete",
        )

    assert _statuses(three_keys) == ["active"] * 3
    assert _batch_events(org) == []


def test_change_keys_service_refuses_moving_to_another_orgs_team(org, other_org, three_keys):
    foreign = TeamFactory(org=other_org, name="Foreign")

    with pytest.raises(KeyActionRefused):
        services.change_keys(
            org=org,
            actor=Actor.system("tests"),
            key_ids=[k.pk for k in three_keys],
            action="move",
            team=foreign,
        )

    assert _batch_events(org) == []


# Who may


def test_member_gets_403(member_client, org, three_keys):
    first = member_client.post(BATCH, {"action": "delete", "keys": _ids(three_keys)})
    confirmed = member_client.post(
        BATCH, {"action": "delete", "keys": _ids(three_keys), "confirmed": "yes"}
    )

    assert first.status_code == 403
    assert confirmed.status_code == 403
    assert _statuses(three_keys) == ["active"] * 3
    assert _batch_events(org) == []


def test_auditor_gets_403(auditor_client, org, three_keys):
    response = auditor_client.post(
        BATCH, {"action": "delete", "keys": _ids(three_keys), "confirmed": "yes"}
    )

    assert response.status_code == 403
    assert _statuses(three_keys) == ["active"] * 3


def test_admin_of_another_org_cannot_touch_the_keys(other_org_admin_client, org, three_keys):
    other_org_admin_client.post(
        BATCH, {"action": "delete", "keys": _ids(three_keys), "confirmed": "yes"}
    )

    assert _statuses(three_keys) == ["active"] * 3
    assert _batch_events(org) == []


def test_a_get_without_a_form_kept_by_a_step_up_goes_back_to_the_list(admin_client):
    response = admin_client.get(BATCH)

    assert response.status_code == 302
    assert response["Location"] == "/keys/"
