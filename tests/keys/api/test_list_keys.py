"""GET /api/v1/keys: the org's keys, filtered by team, status and search, a cursor page at a
time; never another org's keys."""

from datetime import timedelta

import pytest
from django.utils import timezone

from keys.models import Key
from tests.factories import make_key
from tests.support.api import error_of

pytestmark = pytest.mark.django_db


def _names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["data"]]


def test_it_lists_the_keys_with_every_contract_field(api, key, team):
    response = api.get("/api/v1/keys")

    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    (row,) = body["data"]
    assert row == {
        "id": str(key.pk),
        "name": "billing-prod",
        "preview": key.preview,
        "team": str(team.pk),
        "user_id": "",
        "status": "active",
        "type": "standard",
        "profile": None,
        "model_scope": [],
        "allowed_ips": [],
        "rotate_every_days": None,
        "rotation_overlap_hours": 0,
        "rotation_due_at": None,
        "limits": {
            "monthly_spend_cap": None,
            "cost_limit": None,
            "token_limit": None,
            "limit_period": "monthly",
            "rpm_limit": None,
            "model_budgets": {},
            "tpm_limit": None,
            "max_in_flight": None,
            "increase_cap": None,
            "increase_amount": None,
            "increase_until": None,
        },
        "expires_at": None,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "last_used_at": None,
    }


def test_it_never_lists_another_orgs_keys(api, key, other_org_key, other_org_api):
    assert _names(api.get("/api/v1/keys")) == ["billing-prod"]
    assert _names(other_org_api.get("/api/v1/keys")) == ["globex-prod"]


def test_it_filters_by_team(api, org, team, other_team):
    make_key(org, name="search-1", team=team)
    make_key(org, name="platform-1", team=other_team)
    make_key(org, name="loose")

    assert _names(api.get(f"/api/v1/keys?team={team.pk}")) == ["search-1"]
    assert _names(api.get("/api/v1/keys?team=none")) == ["loose"]


def test_it_filters_by_status_and_hides_deleted_keys_by_default(api, org):
    make_key(org, name="live")
    Key.objects.filter(pk=make_key(org, name="off")[0].pk).update(status="disabled")
    Key.objects.filter(pk=make_key(org, name="gone")[0].pk).update(status="deleted")
    Key.objects.filter(pk=make_key(org, name="old")[0].pk).update(
        expires_at=timezone.now() - timedelta(days=1)
    )

    assert sorted(_names(api.get("/api/v1/keys"))) == ["live", "off", "old"]
    assert _names(api.get("/api/v1/keys?status=active")) == ["live"]
    assert _names(api.get("/api/v1/keys?status=disabled")) == ["off"]
    assert _names(api.get("/api/v1/keys?status=deleted")) == ["gone"]
    expired = api.get("/api/v1/keys?status=expired").json()["data"]
    assert [(row["name"], row["status"]) for row in expired] == [("old", "expired")]


def test_it_searches_by_name_and_preview(api, org):
    billing, _ = make_key(org, name="billing-prod")
    make_key(org, name="search-prod")

    assert _names(api.get("/api/v1/keys?search=billing")) == ["billing-prod"]
    assert _names(api.get("/api/v1/keys", {"search": billing.preview})) == ["billing-prod"]


def test_it_pages_by_cursor_through_every_key_once(api, org):
    for n in range(7):
        make_key(org, name=f"key-{n}")

    seen, cursor, pages = [], "", 0
    while True:
        body = api.get("/api/v1/keys", {"limit": 3, "cursor": cursor, "sort": "name"}).json()
        seen += [row["name"] for row in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert seen == [f"key-{n}" for n in range(7)]


def test_a_cursor_it_did_not_give_out_is_a_400(api, key):
    response = api.get("/api/v1/keys?cursor=bm90LWEtY3Vyc29y")

    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_cursor"


def test_an_unknown_status_is_a_422(api):
    response = api.get("/api/v1/keys?status=sleeping")

    assert response.status_code == 422
    assert error_of(response)["param"] == "status"


def test_a_page_costs_a_fixed_number_of_queries(api, org, team, django_assert_max_num_queries):
    for n in range(30):
        make_key(org, name=f"key-{n}", team=team)

    with django_assert_max_num_queries(3):
        response = api.get("/api/v1/keys?limit=100")

    assert len(response.json()["data"]) == 30
