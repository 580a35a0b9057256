"""POST /api/v1/keys: 201 with the key's plaintext once, stored only as its hash, validated by
the console's own KeyForm rules, one `key.created` event naming the admin token."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from gateway_console import secret
from keys.models import Key
from tests.factories import TeamFactory
from tests.support.api import error_of, events

pytestmark = pytest.mark.django_db


def test_it_creates_a_key_and_shows_its_plaintext_once(api, org, team, admin_token):
    response = api.post(
        "/api/v1/keys",
        {
            "name": "billing-prod",
            "team": str(team.pk),
            "user_id": "svc-billing",
            "model_scope": ["gpt-4o-mini", "claude-3-5-haiku"],
            "limits": {
                "monthly_spend_cap": "100.00",
                "cost_limit": 25,
                "token_limit": 1_000_000,
                "limit_period": "weekly",
                "rpm_limit": 60,
                "tpm_limit": 40_000,
                "max_in_flight": 8,
            },
        },
    )

    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    plaintext = body["key"]
    assert secret.is_well_formed(plaintext)
    key = Key.objects.get(org=org)
    assert body["id"] == str(key.pk)
    assert body["preview"] == key.preview == f"{plaintext[:12]}…{plaintext[-4:]}"
    assert key.secret_hash == secret.secret_hash(plaintext)
    assert key.team == team
    assert key.user_id == "svc-billing"
    assert key.model_scope == ["gpt-4o-mini", "claude-3-5-haiku"]
    assert key.monthly_spend_cap == Decimal("100")
    assert key.cost_limit == Decimal("25")
    assert key.limit_period == "weekly"
    assert (key.tpm_limit, key.max_in_flight) == (40_000, 8)
    assert body["limits"] == {
        "monthly_spend_cap": "100.000000",
        "cost_limit": "25.000000",
        "token_limit": 1_000_000,
        "limit_period": "weekly",
        "rpm_limit": 60,
        "model_budgets": {},
        "tpm_limit": 40_000,
        "max_in_flight": 8,
        "increase_cap": None,
        "increase_amount": None,
        "increase_until": None,
    }

    (event,) = events(org, "key.created")
    assert event.actor_type == "admin_token"
    assert event.actor_id == str(admin_token.pk)
    assert event.actor_label == f"admin token terraform ({admin_token.preview})"
    assert event.actor_role == "admin"
    assert event.target_id == str(key.pk)
    assert event.changes["name"] == {"before": None, "after": "billing-prod"}


def test_the_plaintext_is_in_no_other_answer(api, org):
    plaintext = api.post("/api/v1/keys", {"name": "x"}).json()["key"]
    key = Key.objects.get(org=org)

    for path in ("/api/v1/keys", f"/api/v1/keys/{key.pk}", "/api/v1/audit-events"):
        assert plaintext not in api.get(path).content.decode()


def test_it_creates_a_profile_key(api, org):
    response = api.post("/api/v1/keys", {"name": "router", "type": "profile", "profile": "eu-only"})

    assert response.status_code == 201
    assert response.json()["profile"] == "eu-only"
    assert Key.objects.get(org=org).profile == "eu-only"


def test_an_expiry_keeps_its_utc_offset(api, org):
    org.timezone = "Europe/Berlin"
    org.save()
    expires = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    local = expires.astimezone(timezone.get_fixed_timezone(-300))  # UTC-05:00

    response = api.post("/api/v1/keys", {"name": "x", "expires_at": local.isoformat()})

    assert response.status_code == 201
    assert Key.objects.get(org=org).expires_at == expires


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"name": "x", "type": "profile"}, "profile"),
        ({"name": "x", "type": "profile", "profile": "has spaces"}, "profile"),
        ({"name": "x", "profile": "eu-only"}, "profile"),
        ({"name": "x", "model_scope": ["gpt 4"]}, "model_scope.0"),
        ({"name": "x", "model_scope": ["m"] * 201 + [f"m{n}" for n in range(201)]}, "model_scope"),
        ({"name": "x", "limits": {"monthly_spend_cap": "0"}}, "limits.monthly_spend_cap"),
        ({"name": "x", "limits": {"cost_limit": "1.0000001"}}, "limits.cost_limit"),
        ({"name": "x", "limits": {"cost_limit": "lots"}}, "limits.cost_limit"),
        ({"name": "x", "limits": {"token_limit": 0}}, "limits.token_limit"),
        ({"name": "x", "limits": {"limit_period": "hourly"}}, "limits.limit_period"),
        ({"name": "x", "limits": {"rpm_limit": 1_000_001}}, "limits.rpm_limit"),
        ({"name": "x", "limits": {"tpm_limit": 0}}, "limits.tpm_limit"),
        ({"name": "x", "limits": {"tpm_limit": 10**9 + 1}}, "limits.tpm_limit"),
        ({"name": "x", "limits": {"max_in_flight": 0}}, "limits.max_in_flight"),
        ({"name": "x", "limits": {"max_in_flight": "many"}}, "limits.max_in_flight"),
        ({"name": "x", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "expires_at": "2099-01-01T00:00:00"}, "expires_at"),
        ({"name": "x", "team": "00000000-0000-4000-8000-000000000000"}, "team"),
        ({"name": "x", "status": "active"}, "status"),
    ],
    ids=[
        "empty-name",
        "blank-name",
        "long-name",
        "profile-key-without-profile",
        "bad-profile",
        "profile-on-standard-key",
        "bad-model-name",
        "too-many-models",
        "zero-cap",
        "sub-micro-amount",
        "not-an-amount",
        "zero-token-limit",
        "unknown-period",
        "huge-rpm",
        "zero-tpm",
        "huge-tpm",
        "zero-in-flight",
        "in-flight-not-a-number",
        "past-expiry",
        "expiry-without-offset",
        "unknown-team",
        "read-only-field",
    ],
)
def test_it_refuses_what_the_console_refuses(api, org, payload, param):
    response = api.post("/api/v1/keys", payload)

    assert response.status_code == 422, response.content
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert error["param"] == param
    assert not Key.objects.filter(org=org).exists()
    assert events(org, "key.created") == []


def test_another_orgs_team_is_refused(api, org, other_org):
    foreign = TeamFactory(org=other_org, name="Theirs")

    response = api.post("/api/v1/keys", {"name": "x", "team": str(foreign.pk)})

    assert response.status_code == 422
    assert error_of(response)["param"] == "team"
    assert not Key.objects.filter(org=org).exists()


def test_an_idempotency_key_makes_a_retry_safe(api, org):
    first = api.post("/api/v1/keys", {"name": "x"}, headers={"Idempotency-Key": "run-42"})
    again = api.post("/api/v1/keys", {"name": "x"}, headers={"Idempotency-Key": "run-42"})

    assert first.status_code == 201
    assert again.status_code == 409
    error = error_of(again)
    assert error["code"] == "already_shown"
    assert error["key_id"] == first.json()["id"]
    assert first.json()["key"] not in again.content.decode()
    assert Key.objects.filter(org=org).count() == 1
    assert len(events(org, "key.created")) == 1


def test_the_same_idempotency_key_in_two_orgs_makes_two_keys(api, other_org_api, org, other_org):
    assert (
        api.post("/api/v1/keys", {"name": "x"}, headers={"Idempotency-Key": "k"}).status_code == 201
    )
    response = other_org_api.post("/api/v1/keys", {"name": "x"}, headers={"Idempotency-Key": "k"})

    assert response.status_code == 201
    assert Key.objects.filter(org=other_org).count() == 1
