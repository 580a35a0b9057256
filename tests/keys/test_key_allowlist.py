"""A key's IP allowlist in the key form, the admin API and on the key page, with the addresses
the key was seen from and the offer to allow them (confirmed, one event)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from keys.models import Key, KeySighting
from keys.sightings import sightings
from tests.factories import make_key
from tests.keys.test_edit_key import _as_browser_sends, _edit_url
from tests.support.api import error_of, events

pytestmark = pytest.mark.django_db


def test_the_form_saves_an_allowlist_normalised(admin_client, org, key):
    data = _as_browser_sends(admin_client.get(_edit_url(key)))
    data["allowed_ips"] = "203.0.113.0/24, 2001:0db8::/32\n198.51.100.7/32\n203.0.113.0/24"

    response = admin_client.post(_edit_url(key), data)

    assert response.status_code == 302
    assert Key.objects.get(pk=key.pk).allowed_ips == [
        "203.0.113.0/24",
        "2001:db8::/32",
        "198.51.100.7",
    ]
    [event] = events(org, "key.updated")
    assert event.changes["allowed_ips"]["after"] == [
        "203.0.113.0/24",
        "2001:db8::/32",
        "198.51.100.7",
    ]


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("10.0.0.300", "&#x27;10.0.0.300&#x27; is not an IPv4 or IPv6 address or range."),
        ("10.0.0.5/24", "10.0.0.5/24 has bits set past its /24: the range is 10.0.0.0/24."),
        (" ".join(f"10.0.{i // 250}.{i % 250}" for i in range(101)), "At most 100 addresses"),
    ],
)
def test_the_form_names_a_bad_entry_beside_the_field(admin_client, key, typed, message):
    data = _as_browser_sends(admin_client.get(_edit_url(key)))
    data["allowed_ips"] = typed

    response = admin_client.post(_edit_url(key), data)

    assert response.status_code == 200
    assert 'id="field-allowed_ips"' in response.content.decode()
    assert message in response.content.decode()
    assert Key.objects.get(pk=key.pk).allowed_ips == []


def test_the_api_creates_reads_and_clears_an_allowlist(api, org):
    created = api.post("/api/v1/keys", {"name": "fenced", "allowed_ips": ["2001:db8::1/128"]})

    assert created.status_code == 201
    assert created.json()["allowed_ips"] == ["2001:db8::1"]
    key_id = created.json()["id"]
    assert api.get(f"/api/v1/keys/{key_id}").json()["allowed_ips"] == ["2001:db8::1"]

    cleared = api.patch(f"/api/v1/keys/{key_id}", {"allowed_ips": []})

    assert cleared.status_code == 200
    assert cleared.json()["allowed_ips"] == []
    [event] = events(org, "key.updated")
    assert event.changes == {"allowed_ips": {"before": ["2001:db8::1"], "after": []}}


@pytest.mark.parametrize(
    ("allowed_ips", "fragment"),
    [
        (["nonsense"], "is not an IPv4 or IPv6 address or range"),
        (["10.0.0.5/24"], "the range is 10.0.0.0/24"),
        ([f"10.0.0.{i}" for i in range(101)], "100"),
        ("10.0.0.1", ""),
    ],
)
def test_the_api_refuses_a_bad_allowlist_naming_the_param(api, org, allowed_ips, fragment):
    response = api.post("/api/v1/keys", {"name": "fenced", "allowed_ips": allowed_ips})

    assert response.status_code == 422
    error = error_of(response)
    assert error["param"] == "allowed_ips"
    assert fragment in error["message"]
    assert not Key.objects.filter(name="fenced").exists()


def _seen(key, address, agent="OpenAI/Python 1.40.0", *, old=False, ago=timedelta(0)):
    sightings.seen(key.pk, address, agent, old, timezone.now() - ago)
    sightings.flush()


def test_the_key_page_lists_where_the_key_was_seen_this_week(admin_client, org):
    key, _ = make_key(org, allowed_ips=("203.0.113.0/24",))
    _seen(key, "203.0.113.9")
    _seen(key, "192.0.2.1", "curl/8.5.0")
    _seen(key, "198.51.100.1", ago=timedelta(days=8))

    page = admin_client.get(reverse("keys:detail", args=[key.pk])).content.decode()

    assert "203.0.113.9" in page and "192.0.2.1" in page and "curl/8.5.0" in page
    assert "198.51.100.1" not in page
    assert page.count(reverse("keys:allow-address", args=[key.pk])) == 1  # 192.0.2.1


def test_an_admin_allows_an_address_seen_after_confirming(admin_client, org):
    key, _ = make_key(org, allowed_ips=("203.0.113.0/24",))
    _seen(key, "192.0.2.1")
    url = reverse("keys:allow-address", args=[key.pk])

    confirm = admin_client.get(url, {"address": "192.0.2.1"})

    assert confirm.status_code == 200
    assert "192.0.2.1" in confirm.content.decode()
    assert Key.objects.get(pk=key.pk).allowed_ips == ["203.0.113.0/24"]

    response = admin_client.post(url, {"address": "192.0.2.1"})

    assert response.status_code == 302
    assert Key.objects.get(pk=key.pk).allowed_ips == ["203.0.113.0/24", "192.0.2.1"]
    [event] = events(org, "key.updated")
    assert event.changes["allowed_ips"]["after"] == ["203.0.113.0/24", "192.0.2.1"]


def test_allowing_on_a_key_without_an_allowlist_warns_that_it_fences_the_key(admin_client, org):
    key, _ = make_key(org)
    _seen(key, "192.0.2.1")
    _seen(key, "192.0.2.2")
    url = reverse("keys:allow-address", args=[key.pk])

    confirm = admin_client.get(url, {"address": "all"}).content.decode()

    assert "it works from these addresses only" in confirm
    admin_client.post(url, {"address": "all"})
    assert Key.objects.get(pk=key.pk).allowed_ips == ["192.0.2.1", "192.0.2.2"]


def test_only_an_address_seen_this_week_can_be_allowed_this_way(admin_client, org):
    key, _ = make_key(org)
    _seen(key, "192.0.2.1", ago=timedelta(days=8))

    response = admin_client.post(
        reverse("keys:allow-address", args=[key.pk]), {"address": "192.0.2.1"}
    )

    assert response.status_code == 302
    assert Key.objects.get(pk=key.pk).allowed_ips == []
    assert not events(org, "key.updated")


def test_members_and_auditors_may_not_allow(member_client, auditor_client, org):
    key, _ = make_key(org)
    _seen(key, "192.0.2.1")
    url = reverse("keys:allow-address", args=[key.pk])

    assert auditor_client.post(url, {"address": "192.0.2.1"}).status_code in (403, 404)
    assert member_client.post(url, {"address": "192.0.2.1"}).status_code in (403, 404)
    assert Key.objects.get(pk=key.pk).allowed_ips == []


def test_sightings_are_pruned_after_thirty_days(org):
    from keys.retention import prune_sightings

    key, _ = make_key(org)
    _seen(key, "192.0.2.1", ago=timedelta(days=31))
    _seen(key, "192.0.2.2", ago=timedelta(days=29))

    assert prune_sightings(timezone.now()) == 1
    assert list(KeySighting.objects.values_list("address", flat=True)) == ["192.0.2.2"]
