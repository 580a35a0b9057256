"""PROXY_COUNT (gateway_console.actors.client_ip): behind N reverse proxies the client's address
is the N-th entry from the right of X-Forwarded-For, whatever the client wrote to its left.
Sign-in throttling and audit events both see that address, never the proxy's."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import RequestFactory
from django.urls import reverse

from audit.models import AuditEvent
from gateway_console.actors import client_ip
from gateway_console.models import Role
from tests.factories import PASSWORD, MembershipFactory

SIGN_IN = reverse("sign-in")
WRONG = "not-the-password-at-all"
LOCKED_OUT = "Too many failed sign-ins"
PROXY = "10.0.0.5"


def _request(forwarded: str | None, remote: str = PROXY):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (0, None, PROXY),
        (0, "198.51.100.7", PROXY),  # no proxies: the header is the client's own words
        (1, "198.51.100.7", "198.51.100.7"),
        (1, "203.0.113.99, 198.51.100.7", "198.51.100.7"),  # a forged entry to the left
        (1, " 198.51.100.7 ", "198.51.100.7"),
        (2, "198.51.100.7, 10.0.0.4", "198.51.100.7"),
        (2, "203.0.113.99, 198.51.100.7, 10.0.0.4", "198.51.100.7"),
        (2, "198.51.100.7", PROXY),  # fewer entries than proxies: not through them
        (1, None, PROXY),  # straight to the console
        (1, "2001:db8::7", "2001:db8::7"),
        (1, "not-an-address", PROXY),  # no address where the proxy's should be
        (1, "unknown, 198.51.100.7:4431", PROXY),
    ],
)
def test_the_client_address_is_the_entry_the_outermost_proxy_added(
    settings, count, forwarded, expected
):
    settings.PROXY_COUNT = count

    assert client_ip(_request(forwarded)) == expected


@pytest.fixture
def ada(org):
    return MembershipFactory(org=org, role=Role.ADMIN, user__email="ada@example.com").user


def _sign_in(client, password, *, through: str, forged: str = ""):
    forwarded = f"{forged}, {through}" if forged else through
    return client.post(
        SIGN_IN,
        {"username": "ada@example.com", "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded,
    )


@pytest.mark.django_db
def test_behind_one_proxy_six_wrong_passwords_lock_out_only_that_client(client, settings, ada):
    settings.PROXY_COUNT = 1
    for _ in range(6):
        _sign_in(client, WRONG, through="198.51.100.7")

    locked = _sign_in(client, PASSWORD, through="198.51.100.7")
    assert LOCKED_OUT in locked.content.decode()
    assert SESSION_KEY not in client.session

    # Another client, through the same proxy, is not locked out with it.
    other = _sign_in(client, PASSWORD, through="203.0.113.40")
    assert other.status_code == 302
    assert client.session[SESSION_KEY] == str(ada.pk)


@pytest.mark.django_db
def test_a_forged_entry_does_not_escape_the_lockout(client, settings, ada):
    settings.PROXY_COUNT = 1
    for n in range(6):
        _sign_in(client, WRONG, through="198.51.100.7", forged=f"203.0.113.{n}")

    response = _sign_in(client, PASSWORD, through="198.51.100.7", forged="203.0.113.200")

    assert LOCKED_OUT in response.content.decode()
    assert SESSION_KEY not in client.session


@pytest.mark.django_db
def test_without_proxies_a_forwarded_header_does_not_escape_the_lockout(client, settings, ada):
    settings.PROXY_COUNT = 0
    for n in range(6):
        _sign_in(client, WRONG, through=f"198.51.100.{n}")

    response = _sign_in(client, PASSWORD, through="198.51.100.200")

    assert LOCKED_OUT in response.content.decode()


@pytest.mark.django_db
def test_audit_events_record_the_client_behind_the_proxy(admin_client, org, settings):
    settings.PROXY_COUNT = 1
    form = admin_client.get(reverse("keys:new"))

    admin_client.post(
        reverse("keys:new"),
        {
            "name": "billing-prod",
            "type": "standard",
            "limit_period": "monthly",
            "nonce": form.context["nonce"],
        },
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="203.0.113.99, 198.51.100.7",
    )

    event = AuditEvent.objects.get(org=org, action="key.created")
    assert event.ip_address == "198.51.100.7"


@pytest.mark.django_db
def test_admin_api_events_record_the_client_behind_the_proxy(api, org, settings):
    settings.PROXY_COUNT = 1

    response = api.post(
        "/api/v1/keys",
        {"name": "from-ci"},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="198.51.100.8",
    )

    assert response.status_code == 201
    event = AuditEvent.objects.get(org=org, action="key.created")
    assert event.ip_address == "198.51.100.8"
    assert event.actor_type == "admin_token"
