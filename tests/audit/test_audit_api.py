"""GET /api/v1/audit-events: the org's audit log, newest first, filtered by actor, action,
target and time, a cursor page at a time; never another org's events."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit import Actor
from keys import services
from tests.factories import make_key
from tests.support.api import error_of

pytestmark = pytest.mark.django_db


def _actions(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [event["action"] for event in response.json()["data"]]


def test_it_lists_the_orgs_events_newest_first(api, org, key):
    services.disable_key(key=key, actor=Actor.system("tests"))

    response = api.get("/api/v1/audit-events")

    assert _actions(response) == ["key.disabled", "key.created", "admin_token.created"]
    newest = response.json()["data"][0]
    assert newest["target_id"] == str(key.pk)
    assert newest["description"] == "disabled a key"
    assert newest["changes"] == {"status": {"before": "active", "after": "disabled"}}
    assert len(newest["hash"]) == 64


def test_it_never_lists_another_orgs_events(api, other_org_api, key, other_org_key):
    assert "globex-prod" not in api.get("/api/v1/audit-events").content.decode()
    assert "billing-prod" not in other_org_api.get("/api/v1/audit-events").content.decode()


def test_it_names_the_admin_token_that_made_a_change(api, org, key, admin_token):
    api.post(f"/api/v1/keys/{key.pk}/disable")

    response = api.get("/api/v1/audit-events?actor=admin token")

    (event,) = response.json()["data"]
    assert event["action"] == "key.disabled"
    assert event["actor_type"] == "admin_token"
    assert event["actor_id"] == str(admin_token.pk)
    assert event["actor_role"] == "admin"


def test_it_filters_by_action_target_and_time(api, org, key):
    other, _ = make_key(org, name="other")
    services.disable_key(key=key, actor=Actor.system("tests"))

    assert _actions(api.get("/api/v1/audit-events?action=key.disabled")) == ["key.disabled"]
    assert _actions(api.get("/api/v1/audit-events?action=key.")) == [
        "key.disabled",
        "key.created",
        "key.created",
    ]
    assert _actions(api.get(f"/api/v1/audit-events?target={other.pk}")) == ["key.created"]
    later = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert _actions(api.get("/api/v1/audit-events", {"since": later})) == []
    assert len(_actions(api.get("/api/v1/audit-events", {"until": later}))) == 4


def test_it_pages_by_cursor(api, org):
    for n in range(5):
        make_key(org, name=f"key-{n}")

    seqs, cursor = [], ""
    while True:
        body = api.get("/api/v1/audit-events", {"limit": 2, "cursor": cursor}).json()
        seqs += [event["seq"] for event in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seqs == [6, 5, 4, 3, 2, 1]


@pytest.mark.parametrize("cursor", ["abc", "-1", "١٢"])
def test_a_cursor_it_did_not_give_out_is_a_400(api, cursor):
    response = api.get("/api/v1/audit-events", {"cursor": cursor})

    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_cursor"


def test_a_time_without_an_offset_is_a_422(api):
    response = api.get("/api/v1/audit-events?since=2026-01-01T00:00:00")

    assert response.status_code == 422
    assert error_of(response)["param"] == "since"


def test_it_filters_by_the_orgs_days_like_the_page(api, org, key):
    today = timezone.now().date()
    tomorrow = today + timedelta(days=1)

    assert len(_actions(api.get("/api/v1/audit-events", {"from": today.isoformat()}))) == 2
    assert _actions(api.get("/api/v1/audit-events", {"from": tomorrow.isoformat()})) == []
    assert (
        _actions(api.get("/api/v1/audit-events", {"to": (today - timedelta(days=2)).isoformat()}))
        == []
    )


def test_it_returns_the_same_events_as_the_page(api, admin_client, org, key):
    services.disable_key(key=key, actor=Actor.system("tests"))
    params = {"action": "key.", "actor": "tests"}

    from_api = [event["seq"] for event in api.get("/api/v1/audit-events", params).json()["data"]]
    page = admin_client.get("/audit/", params)

    assert from_api == [event.seq for event in page.context["page"].rows] == [3, 2]
