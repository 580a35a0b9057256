"""Canary keys in the form, the admin API, on the key page and in the alerts."""

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.alerts.models import Alert
from keys import canary
from keys.models import Key
from keys.sightings import sightings
from tests.factories import make_key

pytestmark = pytest.mark.django_db


def test_the_api_makes_a_canary_and_shows_it_once(api, org):
    response = api.post("/api/v1/keys", {"name": "planted", "type": "canary"})

    assert response.status_code == 201
    assert response.json()["type"] == "canary"
    assert response.json()["key"].startswith("sk-gw-")


def test_the_form_makes_a_canary(admin_client, org):
    response = admin_client.post(
        reverse("keys:new"), {"name": "planted", "type": "canary", "limit_period": "monthly"}
    )

    assert response.status_code == 200
    assert Key.objects.get(name="planted").type == "canary"


def test_a_canary_is_no_legacy_key_and_has_no_addresses_to_allow(admin_client, org):
    key, _ = make_key(org, name="planted", type="canary")
    canary.first_use(key.pk, timezone.now())
    sightings.seen(key.pk, "198.51.100.23", "curl/8.5.0", False, timezone.now())
    sightings.flush()

    page = admin_client.get(reverse("keys:detail", args=[key.pk])).content.decode()
    response = admin_client.post(
        reverse("keys:allow-address", args=[key.pk]), {"address": "198.51.100.23"}
    )

    assert not key.is_legacy
    assert "198.51.100.23" in page
    assert reverse("keys:allow-address", args=[key.pk]) not in page
    assert response.status_code == 302
    assert Key.objects.get(pk=key.pk).allowed_ips == []


def test_the_key_page_says_whether_it_was_used(admin_client, org, owner_membership):
    key, _ = make_key(org, name="planted", type="canary")
    url = reverse("keys:detail", args=[key.pk])

    assert "Not used yet" in admin_client.get(url).content.decode()

    now = timezone.now()
    assert canary.first_use(key.pk, now)
    assert not canary.first_use(key.pk, now)
    canary.report(key_id=key.pk, address="198.51.100.23", user_agent="curl/8.5.0", at=now)

    page = admin_client.get(url).content.decode()
    assert "someone has it who should not" in page
    assert "key.canary_tripped" in page


def test_the_alerts_page_names_the_canary(admin_client, org, owner_membership):
    key, _ = make_key(org, name="planted", type="canary")
    canary.report(key_id=key.pk, address="", user_agent="", at=timezone.now())

    page = admin_client.get(reverse("alerts")).content.decode()

    assert Alert.objects.get(org=org).kind == "key_canary"
    assert "Canary key used" in page
    assert "Canary key “planted”" in page
    assert reverse("keys:detail", args=[key.pk]) in page
