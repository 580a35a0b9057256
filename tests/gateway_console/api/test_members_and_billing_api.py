"""/api/v1/members, /api/v1/plan and /api/v1/prices: what the Members and Billing pages show,
for the token's org only."""

from decimal import Decimal

import pytest

from billing.ledger.models import ModelPrice, Plan
from gateway_console.models import Role
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def test_members_are_listed_by_email_with_role_and_teams(api, org, team, other_org):
    carol = MembershipFactory(org=org, role=Role.MEMBER, user__email="carol@acme.example")
    carol.teams.set([team])
    alice = MembershipFactory(
        org=org, role=Role.OWNER, user__email="alice@acme.example", user__name="Al"
    )
    MembershipFactory(org=other_org, user__email="zed@globex.example")

    response = api.get("/api/v1/members")

    assert response.status_code == 200
    assert response.json() == {
        "data": [
            {
                "id": alice.pk,
                "email": "alice@acme.example",
                "name": "Al",
                "role": "owner",
                "teams": [],
                "joined_at": response.json()["data"][0]["joined_at"],
            },
            {
                "id": carol.pk,
                "email": "carol@acme.example",
                "name": carol.user.name,
                "role": "member",
                "teams": [str(team.pk)],
                "joined_at": response.json()["data"][1]["joined_at"],
            },
        ],
        "next_cursor": None,
    }


def test_members_page_by_email(api, org):
    for n in range(101):
        MembershipFactory(org=org, user__email=f"person{n:03d}@acme.example")

    first = api.get("/api/v1/members").json()
    second = api.get(f"/api/v1/members?cursor={first['next_cursor']}").json()

    assert len(first["data"]) == 100
    assert [m["email"] for m in second["data"]] == ["person100@acme.example"]


@pytest.fixture
def priced(org):
    mini = ModelPrice.objects.create(
        model="gpt-4o-mini",
        input_per_million=Decimal("0.15"),
        output_per_million=Decimal("0.60"),
        max_output_tokens=16000,
    )
    ModelPrice.objects.create(
        model="claude-3-5-sonnet",
        input_per_million=Decimal("3"),
        output_per_million=Decimal("15"),
        max_output_tokens=8192,
    )
    plan = Plan.objects.create(name="pro", price_multiplier=Decimal("1.2"))
    plan.models.set([mini])
    org.plan = plan
    org.save()
    return plan


def test_the_plan_names_its_multiplier_and_models(api, priced):
    assert api.get("/api/v1/plan").json() == {
        "name": "pro",
        "price_multiplier": "1.2000",
        "models": ["gpt-4o-mini"],
    }


def test_an_org_without_a_plan_pays_list_prices_for_every_model(api, org):
    assert api.get("/api/v1/plan").json() == {
        "name": None,
        "price_multiplier": "1",
        "models": None,
    }


def test_prices_are_the_plans_models_at_list_and_org_prices(api, priced):
    assert api.get("/api/v1/prices").json() == {
        "data": [
            {
                "model": "gpt-4o-mini",
                "input_per_million": "0.150000",
                "output_per_million": "0.600000",
                "max_output_tokens": 16000,
                "org_input_per_million": "0.180000",
                "org_output_per_million": "0.720000",
            }
        ]
    }


def test_a_plan_that_names_no_model_prices_every_model(api, priced):
    priced.models.clear()

    models = [p["model"] for p in api.get("/api/v1/prices").json()["data"]]

    assert models == ["claude-3-5-sonnet", "gpt-4o-mini"]


def test_a_read_only_token_reads_members_plan_and_prices(read_only_api, priced):
    for path in ("/api/v1/members", "/api/v1/plan", "/api/v1/prices"):
        assert read_only_api.get(path).status_code == 200


def test_without_a_token_nothing_is_read(client, priced):
    for path in ("/api/v1/members", "/api/v1/plan", "/api/v1/prices"):
        assert client.get(path).status_code == 401
