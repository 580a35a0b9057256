"""The request log: a request found by its id (also of a deleted key, only within scope) and a
key's recent requests, a keyset page at a time."""

from datetime import UTC, datetime, timedelta

import pytest

from keys.models import Key
from tests.billing.usage.conftest import event, record
from tests.factories import make_key

pytestmark = pytest.mark.django_db

AT = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)


@pytest.fixture
def others_key(org, other_team):
    other, _ = make_key(org, name="platform-key", team=other_team)
    record(event(other, "theirs", AT))
    return other


def test_it_finds_a_request_by_id(admin_client, key):
    record(event(key, "req_find_me", AT, status=429))

    response = admin_client.get("/billing/usage/requests/?request_id=req_find_me")

    assert response.status_code == 200
    body = response.content.decode()
    assert "billing-prod" in body and "429" in body and "120 ms" in body


def test_it_finds_a_request_of_a_deleted_key(admin_client, key):
    record(event(key, "req_deleted", AT))
    Key.objects.filter(pk=key.pk).update(status="deleted")

    response = admin_client.get("/billing/usage/requests/?request_id=req_deleted")

    assert response.status_code == 200
    assert "deleted" in response.content.decode()


def test_member_finds_their_teams_requests_only(member_client, key, others_key):
    record(event(key, "mine", AT))

    assert member_client.get("/billing/usage/requests/?request_id=mine").status_code == 200
    response = member_client.get("/billing/usage/requests/?request_id=theirs")
    assert response.status_code == 404
    assert "No request with the id" in response.content.decode()


def test_another_orgs_request_is_a_404(other_org_admin_client, key):
    record(event(key, "ours", AT))

    assert other_org_admin_client.get("/billing/usage/requests/?request_id=ours").status_code == 404


def test_recent_requests_page_by_keyset(admin_client, key, monkeypatch):
    from keys import selectors

    monkeypatch.setitem(selectors.recent_requests_of.__kwdefaults__, "page_size", 2)
    record(*(event(key, f"r{i}", AT + timedelta(minutes=i)) for i in range(5)))

    first = admin_client.get(f"/keys/{key.pk}/requests/")
    ids = [e.request_id for e, _ in first.context["rows"]]
    second = admin_client.get(
        f"/keys/{key.pk}/requests/", {"before": first.context["page"].next_cursor}
    )
    third = admin_client.get(
        f"/keys/{key.pk}/requests/", {"before": second.context["page"].next_cursor}
    )

    assert ids == ["r4", "r3"]
    assert [e.request_id for e, _ in second.context["rows"]] == ["r2", "r1"]
    assert [e.request_id for e, _ in third.context["rows"]] == ["r0"]
    assert third.context["page"].next_cursor is None


def test_member_cannot_browse_another_teams_requests(member_client, others_key):
    assert member_client.get(f"/keys/{others_key.pk}/requests/").status_code == 404
