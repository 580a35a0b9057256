"""Sign-in limits wider than axes' (email, address) pair (gateway_console.throttle): one
address spraying many accounts, and many addresses guessing one account, are stopped; each
limit sits above the pair's, so one guessing client never locks an account for everyone."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.urls import reverse

from gateway_console import throttle
from gateway_console.models import Role, User
from tests.factories import PASSWORD, MembershipFactory

pytestmark = pytest.mark.django_db

SIGN_IN = reverse("sign-in")
WRONG = "not-the-password-at-all"


@pytest.fixture
def ada(org):
    return MembershipFactory(org=org, role=Role.ADMIN, user__email="ada@example.com").user


def _sign_in(client, email, password, address):
    return client.post(SIGN_IN, {"username": email, "password": password}, REMOTE_ADDR=address)


def test_spraying_twenty_accounts_from_one_address_stops_that_address(client, ada):
    for n in range(20):
        assert _sign_in(client, f"victim{n}@example.com", WRONG, "192.0.2.66").status_code == 200

    # The next attempt from it is refused on any account, even with the right password.
    refused = _sign_in(client, "ada@example.com", PASSWORD, "192.0.2.66")

    assert refused.status_code == 429
    assert "from your address is paused after 20 failed attempts" in refused.content.decode()
    assert "reset your password" not in refused.content.decode()  # it would not help
    assert SESSION_KEY not in client.session
    # Everyone else signs in as usual.
    assert _sign_in(client, "ada@example.com", PASSWORD, "198.51.100.1").status_code == 302


def test_nineteen_sprayed_failures_do_not_stop_the_address(client, ada):
    for n in range(19):
        _sign_in(client, f"victim{n}@example.com", WRONG, "192.0.2.66")

    assert _sign_in(client, "ada@example.com", PASSWORD, "192.0.2.66").status_code == 302


def test_twenty_failures_on_one_account_from_many_addresses_pause_the_account(client, ada):
    for n in range(20):
        _sign_in(client, "ada@example.com", WRONG, f"198.51.100.{n + 1}")

    refused = _sign_in(client, "ADA@example.com", PASSWORD, "203.0.113.9")

    assert refused.status_code == 429
    assert "to this account is paused after 20 failed attempts" in refused.content.decode()
    assert SESSION_KEY not in client.session


def test_one_guessing_client_is_stopped_by_the_pair_long_before_the_account(client, ada):
    for _ in range(25):
        _sign_in(client, "ada@example.com", WRONG, "192.0.2.77")
    assert SESSION_KEY not in client.session
    assert (
        "Too many failed sign-ins"
        in _sign_in(client, "ada@example.com", PASSWORD, "192.0.2.77").content.decode()
    )

    # Only the pair is locked: the owner, elsewhere, still signs in.
    assert _sign_in(client, "ada@example.com", PASSWORD, "198.51.100.50").status_code == 302


def test_a_successful_sign_in_starts_the_accounts_count_again(client, ada):
    for n in range(19):
        _sign_in(client, "ada@example.com", WRONG, f"198.51.100.{n + 1}")
    assert _sign_in(client, "ada@example.com", PASSWORD, "203.0.113.9").status_code == 302
    client.logout()

    _sign_in(client, "ada@example.com", WRONG, "198.51.100.99")

    assert _sign_in(client, "ada@example.com", PASSWORD, "203.0.113.9").status_code == 302


def test_django_admin_sign_in_is_the_console_sign_in_and_refused_for_an_address_over_its_limit(
    client, org
):
    User.objects.create_user("staff@example.com", PASSWORD, is_staff=True, is_superuser=True)
    for n in range(20):
        _sign_in(client, f"victim{n}@example.com", WRONG, "192.0.2.66")

    # Django admin's own sign-in page sends staff to the console's (throttled, two-factor).
    redirect = client.get("/admin/login/?next=/admin/")
    assert redirect.status_code == 302
    assert redirect["Location"] == "/sign-in/?next=/admin/"
    response = client.post(
        redirect["Location"],
        {"username": "staff@example.com", "password": PASSWORD},
        REMOTE_ADDR="192.0.2.66",
    )

    assert response.status_code == 429
    assert SESSION_KEY not in client.session
    assert (
        client.post(
            redirect["Location"],
            {"username": "staff@example.com", "password": PASSWORD},
            REMOTE_ADDR="198.51.100.1",
        )["Location"]
        == "/admin/"
    )


def test_the_counters_name_no_email_or_address(client, ada, settings):
    from django.core.cache import cache
    from django.utils.crypto import salted_hmac

    _sign_in(client, "ada@example.com", WRONG, "192.0.2.66")

    prefix = settings.SIGN_IN_THROTTLE_PREFIX
    account = f"{prefix}:account:" + salted_hmac("sign-in-account", "ada@example.com").hexdigest()
    address = f"{prefix}:address:" + salted_hmac("sign-in-address", "192.0.2.66").hexdigest()
    assert cache.get_many([account, address]) == {account: 1, address: 1}


def test_an_ipv6_client_is_counted_by_its_slash_64(client, org):
    for n in range(20):
        _sign_in(client, f"victim{n}@example.com", WRONG, f"2001:db8:1:2::{n + 1:x}")

    assert throttle.refused("someone@example.com", "2001:db8:1:2:ffff::1") == throttle.ADDRESS
    assert throttle.refused("someone@example.com", "2001:db8:1:3::1") is None
    assert throttle.counted_address("192.0.2.7") == "192.0.2.7"
