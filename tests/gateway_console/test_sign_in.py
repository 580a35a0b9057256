"""Sign in by email and password (Argon2), throttled per email and address; sign out."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.urls import reverse

import config.settings as production_settings
from gateway_console.models import Role, User
from tests.factories import PASSWORD, MembershipFactory

pytestmark = pytest.mark.django_db

SIGN_IN = reverse("sign-in")
WRONG = "not-the-password-at-all"
LOCKED_OUT = "Too many failed sign-ins"


@pytest.fixture
def ada(org):
    return MembershipFactory(org=org, role=Role.ADMIN, user__email="ada@example.com").user


def _sign_in(client, email, password, address="192.0.2.10"):
    return client.post(SIGN_IN, {"username": email, "password": password}, REMOTE_ADDR=address)


def test_it_shows_the_sign_in_form(client):
    response = client.get(SIGN_IN)

    assert response.status_code == 200
    assert 'name="username"' in response.content.decode()
    assert 'name="password"' in response.content.decode()


def test_person_signs_in_with_email_and_password_and_lands_on_keys(client, ada, key):
    response = _sign_in(client, "ada@example.com", PASSWORD)

    assert response.status_code == 302
    assert response.url == reverse("keys:list")
    assert client.session[SESSION_KEY] == str(ada.pk)
    assert key.preview in client.get(response.url).content.decode()


def test_email_is_not_case_sensitive(client, ada):
    response = _sign_in(client, "  ADA@Example.COM ", PASSWORD)

    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(ada.pk)


def test_wrong_password_shows_the_form_error(client, ada):
    response = _sign_in(client, "ada@example.com", WRONG)

    assert response.status_code == 200
    assert "That email and password do not match an account." in response.content.decode()
    assert SESSION_KEY not in client.session


def test_password_is_case_sensitive(client, ada):
    response = _sign_in(client, "ada@example.com", PASSWORD.upper())

    assert response.status_code == 200
    assert SESSION_KEY not in client.session


def test_unknown_email_shows_the_same_error(client, ada):
    response = _sign_in(client, "nobody@example.com", PASSWORD)

    assert response.status_code == 200
    assert "That email and password do not match an account." in response.content.decode()


def test_five_failures_lock_that_email_out_from_that_address(client, ada):
    for _ in range(5):
        _sign_in(client, "ada@example.com", WRONG)

    response = _sign_in(client, "ada@example.com", PASSWORD)

    assert response.status_code in (403, 429)
    html = response.content.decode()
    assert LOCKED_OUT in html
    assert "paused after 5 failed attempts" in html
    assert "15 minutes</time>" in html
    assert SESSION_KEY not in client.session


def test_four_failures_do_not_lock_anyone_out(client, ada):
    for _ in range(4):
        assert _sign_in(client, "ada@example.com", WRONG).status_code == 200

    response = _sign_in(client, "ada@example.com", PASSWORD)

    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(ada.pk)


def test_lockout_does_not_stop_the_same_email_from_another_address(client, ada):
    for _ in range(5):
        _sign_in(client, "ada@example.com", WRONG)
    assert LOCKED_OUT in _sign_in(client, "ada@example.com", PASSWORD).content.decode()

    response = _sign_in(client, "ada@example.com", PASSWORD, address="198.51.100.23")

    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(ada.pk)


def test_lockout_counts_the_email_whatever_its_case(client, ada):
    for _ in range(5):
        _sign_in(client, "Ada@Example.com", WRONG)

    response = _sign_in(client, "ADA@EXAMPLE.COM", PASSWORD)

    assert LOCKED_OUT in response.content.decode()
    assert SESSION_KEY not in client.session


def test_sign_out_ends_the_session(admin_client):
    assert admin_client.get(reverse("keys:list")).status_code == 200

    response = admin_client.post(reverse("sign-out"))

    assert response.status_code == 302
    assert response.url == SIGN_IN
    assert SESSION_KEY not in admin_client.session
    after = admin_client.get(reverse("keys:list"))
    assert after.status_code == 302
    assert after.url.startswith(SIGN_IN)


def test_sign_out_refuses_get(admin_client):
    assert admin_client.get(reverse("sign-out")).status_code == 405
    assert admin_client.get(reverse("keys:list")).status_code == 200


def test_production_settings_hash_passwords_with_argon2_first():
    assert (
        production_settings.PASSWORD_HASHERS[0]
        == "django.contrib.auth.hashers.Argon2PasswordHasher"
    )


def test_user_created_under_argon2_stores_an_argon2_hash_and_signs_in(client, org, settings):
    settings.PASSWORD_HASHERS = production_settings.PASSWORD_HASHERS
    user = User.objects.create_user("grace@example.com", "a-long-enough-passphrase")
    MembershipFactory(org=org, user=user, role=Role.AUDITOR)

    assert User.objects.get(pk=user.pk).password.startswith("argon2$")
    response = _sign_in(client, "grace@example.com", "a-long-enough-passphrase")
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(user.pk)
