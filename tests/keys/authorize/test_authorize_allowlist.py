"""A key's IP allowlist at authorize (docs/contract.md section 2, 403 `ip_not_allowed`): the
gateway's client address is the entry GATEWAY_PROXY_COUNT + 1 from the right of
X-Forwarded-For; a key with an allowlist refuses any other address, and an unknown one, naming
no range; the check comes before the key's state. And where each key is seen from."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit import Actor
from keys import services
from keys.models import Key, KeySighting
from keys.sightings import sightings
from tests.factories import make_key
from tests.support.gateway import assert_denied

pytestmark = pytest.mark.django_db

ALLOWED = ("203.0.113.0/24", "2001:db8::/32", "198.51.100.7")


@pytest.fixture
def fenced(org):
    return make_key(org, allowed_ips=ALLOWED)


def _from(address: str | None, **headers) -> dict:
    return {"X-Forwarded-For": address, **headers} if address else headers


@pytest.mark.parametrize("address", ["203.0.113.9", "2001:db8:1::5", "198.51.100.7"])
def test_an_allowed_address_passes(authorize, fenced, address):
    _, secret = fenced
    assert authorize(secret, headers=_from(address)).status_code == 200


@pytest.mark.parametrize(
    "address", ["203.0.114.1", "2001:db9::1", "198.51.100.8", None, "nonsense"]
)
def test_any_other_or_unknown_address_is_refused_naming_no_range(authorize, fenced, address):
    _, secret = fenced

    error = assert_denied(authorize(secret, headers=_from(address)), 403, "ip_not_allowed")

    assert "203.0.113" not in error["message"] and "2001:db8" not in error["message"]


def test_a_key_without_an_allowlist_passes_from_anywhere(authorize, org):
    _, secret = make_key(org)
    assert authorize(secret, headers=_from("192.0.2.1")).status_code == 200
    assert authorize(secret).status_code == 200


def test_an_ipv4_mapped_address_is_its_ipv4_address(authorize, fenced):
    _, secret = fenced
    assert authorize(secret, headers=_from("::ffff:203.0.113.9")).status_code == 200


def test_what_the_client_wrote_to_the_left_is_not_believed(authorize, fenced):
    """The gateway appends its client's address; whatever the client sent stands to its left."""
    _, secret = fenced
    spoofed = "203.0.113.9, 192.0.2.66"
    assert_denied(authorize(secret, headers=_from(spoofed)), 403, "ip_not_allowed")


def test_behind_proxies_in_front_of_the_gateway_the_client_is_further_left(
    authorize, fenced, settings
):
    settings.GATEWAY_PROXY_COUNT = 1
    _, secret = fenced

    assert authorize(secret, headers=_from("203.0.113.9, 10.0.0.2")).status_code == 200
    spoofed = "203.0.113.9, 192.0.2.66, 10.0.0.2"
    assert_denied(authorize(secret, headers=_from(spoofed)), 403, "ip_not_allowed")
    # Fewer entries than proxies plus one: the client cannot be told.
    assert_denied(authorize(secret, headers=_from("203.0.113.9")), 403, "ip_not_allowed")


def test_the_address_is_checked_before_the_keys_state(authorize, fenced):
    key, secret = fenced
    Key.objects.filter(pk=key.pk).update(status="disabled")

    assert_denied(authorize(secret, headers=_from("192.0.2.1")), 403, "ip_not_allowed")
    assert_denied(authorize(secret, headers=_from("203.0.113.9")), 401, "api_key_disabled")


def test_a_changed_allowlist_applies_to_the_next_request(authorize, fenced):
    key, secret = fenced
    assert_denied(authorize(secret, headers=_from("192.0.2.1")), 403, "ip_not_allowed")

    settings_ = services.KeySettings(name=key.name, allowed_ips=("192.0.2.0/28",))
    services.update_key(key=key, actor=Actor.system("tests"), settings_=settings_)

    assert authorize(secret, headers=_from("192.0.2.1")).status_code == 200


def test_each_address_agent_and_secret_is_seen_once_a_minute(authorize, fenced):
    key, secret = fenced
    agent = {"User-Agent": "OpenAI/Python 1.40.0"}
    for _ in range(3):
        authorize(secret, headers=_from("203.0.113.9", **agent))
    authorize(secret, headers=_from("192.0.2.1", **agent))  # refused, and seen
    authorize(secret, headers=_from("203.0.113.9", **{"User-Agent": "curl/8.5.0"}))

    sightings.flush()

    seen = set(KeySighting.objects.values_list("key", "address", "user_agent", "old_secret"))
    assert seen == {
        (key.pk, "203.0.113.9", "OpenAI/Python 1.40.0", False),
        (key.pk, "192.0.2.1", "OpenAI/Python 1.40.0", False),
        (key.pk, "203.0.113.9", "curl/8.5.0", False),
    }


def test_the_old_secret_of_a_rotation_is_seen_as_such(authorize, org):
    key, old = make_key(org)
    key, new = services.rotate_key(key=key, actor=Actor.system("tests"), grace_hours=1)

    authorize(old, headers=_from("192.0.2.1"))
    authorize(new, headers=_from("192.0.2.2"))
    sightings.flush()

    assert set(KeySighting.objects.values_list("address", "old_secret")) == {
        ("192.0.2.1", True),
        ("192.0.2.2", False),
    }


def test_a_later_sighting_moves_last_seen_on_and_keeps_first_seen(org):
    key, _ = make_key(org)
    now = timezone.now()
    sightings.seen(key.pk, "192.0.2.1", "a", False, now - timedelta(hours=2))
    sightings.flush()
    sightings.seen(key.pk, "192.0.2.1", "a", False, now)
    sightings.flush()

    sighting = KeySighting.objects.get()
    assert sighting.first_seen == now - timedelta(hours=2)
    assert sighting.last_seen == now
