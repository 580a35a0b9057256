"""Budgets per model in the key form, the admin API and on the key page."""

from decimal import Decimal

import pytest
from django.urls import reverse

from billing.limits.models import ModelCounter
from keys.models import Key
from tests.factories import make_key
from tests.keys.test_edit_key import _as_browser_sends, _edit_url
from tests.support.api import error_of, events

pytestmark = pytest.mark.django_db


def test_the_form_saves_budgets_with_one_audit_event_and_their_counters(admin_client, org, key):
    data = _as_browser_sends(admin_client.get(_edit_url(key)))
    data["model_budgets"] = "gpt-4o: 50\nllama3:8b = $12.50\n\n"

    response = admin_client.post(_edit_url(key), data)

    assert response.status_code == 302
    key.refresh_from_db()
    assert key.model_budgets == {"gpt-4o": "50.000000", "llama3:8b": "12.500000"}
    [event] = events(org, "key.updated")
    assert event.changes == {
        "model_budgets": {
            "before": {},
            "after": {"gpt-4o": "50.000000", "llama3:8b": "12.500000"},
        }
    }
    assert set(ModelCounter.objects.filter(key=key).values_list("model", flat=True)) == {
        "gpt-4o",
        "llama3:8b",
    }
    # Shown back as typed, without trailing zeros.
    again = _as_browser_sends(admin_client.get(_edit_url(key)))
    assert again["model_budgets"] == "gpt-4o: 50\nllama3:8b: 12.5"


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("gpt-4o", "Line 1: write a model and an amount"),
        ("gpt-4o: 50\nbad model!: 5", "Line 2: write a model and an amount"),
        ("gpt-4o: 0", "Line 1 (gpt-4o): Ensure this value is greater than or equal to 0.01."),
        ("gpt-4o: 1.0000001", "Line 1 (gpt-4o):"),
        ("\n".join(f"m{i}: 1" for i in range(51)), "At most 50 models have a budget."),
    ],
    ids=["no-amount", "bad-model", "zero", "sub-micro", "too-many"],
)
def test_the_form_names_a_bad_budget_beside_the_field(admin_client, key, typed, message):
    data = _as_browser_sends(admin_client.get(_edit_url(key)))
    data["model_budgets"] = typed

    response = admin_client.post(_edit_url(key), data)

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="field-model_budgets"' in page
    assert message in page
    assert Key.objects.get(pk=key.pk).model_budgets == {}
    assert not ModelCounter.objects.exists()


def test_a_budget_outside_the_model_scope_is_refused(admin_client, key):
    data = _as_browser_sends(admin_client.get(_edit_url(key)))
    data.update(model_scope="gpt-4o-mini", model_budgets="gpt-4o: 5")

    response = admin_client.post(_edit_url(key), data)

    assert response.status_code == 200
    assert "gpt-4o is not in the key&#x27;s model scope" in response.content.decode()


def test_the_key_page_shows_each_budget_against_its_spend(admin_client, org):
    key, _ = make_key(org, name="budgeted", model_budgets={"gpt-4o": Decimal("40")})
    ModelCounter.objects.filter(key=key).update(spend_micros=10_000_000)

    page = admin_client.get(reverse("keys:detail", args=[key.pk])).content.decode()

    assert "Budgets per model" in page
    assert "<strong>$10.00</strong> of $40.00" in page
    assert 'aria-label="25% used"' in page


def test_the_api_sets_replaces_and_clears_budgets(api, org):
    created = api.post(
        "/api/v1/keys", {"name": "b", "limits": {"model_budgets": {"gpt-4o": "20.00"}}}
    )
    assert created.status_code == 201, created.content
    assert created.json()["limits"]["model_budgets"] == {"gpt-4o": "20.000000"}
    key_id = created.json()["id"]

    replaced = api.patch(
        f"/api/v1/keys/{key_id}", {"limits": {"model_budgets": {"gpt-4o-mini": "3"}}}
    )
    cleared = api.patch(f"/api/v1/keys/{key_id}", {"limits": {"model_budgets": {}}})

    assert replaced.json()["limits"]["model_budgets"] == {"gpt-4o-mini": "3.000000"}
    assert cleared.json()["limits"]["model_budgets"] == {}
    assert not ModelCounter.objects.filter(key_id=key_id).exists()
    [created_event] = events(org, "key.created")
    assert created_event.changes["model_budgets"] == {
        "before": None,
        "after": {"gpt-4o": "20.000000"},
    }


@pytest.mark.parametrize(
    ("budgets", "param"),
    [
        ({"gpt 4o": "5"}, "limits.model_budgets"),
        ({"gpt-4o": "0"}, "limits.model_budgets"),
        ({"gpt-4o": "lots"}, "limits.model_budgets"),
        ({f"m{i}": "1" for i in range(51)}, "limits.model_budgets"),
    ],
    ids=["bad-model", "zero", "not-an-amount", "too-many"],
)
def test_the_api_refuses_bad_budgets_naming_the_field(api, budgets, param):
    response = api.post("/api/v1/keys", {"name": "b", "limits": {"model_budgets": budgets}})

    assert response.status_code == 422
    assert error_of(response)["param"].startswith(param)
    assert not Key.objects.exists()
