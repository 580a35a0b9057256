"""Sessions (django-user-sessions): idle and absolute timeouts, the sessions page, "sign out
everywhere else"; passwords: change (asks for the current one) and reset by email, both ending
other sessions, neither telling whether an email has an account."""

import re

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.utils import timezone
from user_sessions.models import Session

from audit.models import AuditEvent
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-long-new-passphrase-42"


def _signed_in(
    email: str, *, address="192.0.2.10", agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
) -> Client:
    client = Client(REMOTE_ADDR=address, HTTP_USER_AGENT=agent)
    assert client.post("/sign-in/", {"username": email, "password": PASSWORD}).status_code == 302
    return client


def _later(**delta):
    return time_machine.travel(timezone.now() + timezone.timedelta(**delta))


def test_a_session_ends_after_thirty_idle_minutes(admin_membership):
    client = _signed_in("admin@example.com")

    with _later(minutes=29):
        assert client.get("/keys/").status_code == 200
    with _later(minutes=29 + 31):
        response = client.get("/keys/")

    assert response["Location"].startswith("/sign-in/?next=%2Fkeys%2F")
    assert SESSION_KEY not in client.session


def test_activity_keeps_it_open_until_the_absolute_limit(admin_membership):
    client = _signed_in("admin@example.com")

    for minutes in range(20, 12 * 60, 20):
        with _later(minutes=minutes):
            assert client.get("/keys/").status_code == 200, minutes
    with _later(hours=12, minutes=5):
        response = client.get("/keys/")

    assert response.status_code == 302
    assert SESSION_KEY not in client.session


def test_the_timeouts_are_configurable(admin_membership, settings):
    settings.SESSION_IDLE_MINUTES = 5
    client = _signed_in("admin@example.com")

    with _later(minutes=6):
        assert client.get("/keys/").status_code == 302


def test_an_htmx_request_after_the_timeout_reloads_to_sign_in(admin_membership):
    client = _signed_in("admin@example.com")

    with _later(minutes=31):
        response = client.get("/keys/", headers={"HX-Request": "true"})

    assert response["HX-Redirect"].startswith("/sign-in/")


def test_the_sessions_page_lists_browser_address_and_last_seen(admin_membership, settings):
    settings.PROXY_COUNT = 1
    client = Client(
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="203.0.113.7",
        HTTP_USER_AGENT="Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605 Safari/605",
    )
    client.post("/sign-in/", {"username": "admin@example.com", "password": PASSWORD})
    _signed_in("admin@example.com", address="198.51.100.9")

    body = client.get("/account/").content.decode()

    assert "203.0.113.7" in body  # the client's address behind the proxy, not the proxy's
    assert "10.0.0.2" not in body
    assert "198.51.100.9" in body
    assert "Safari" in body and "Firefox" in body
    assert body.count("this session") == 1


def test_sign_out_everywhere_else_keeps_this_session(admin_membership, org):
    here = _signed_in("admin@example.com")
    elsewhere = _signed_in("admin@example.com", address="198.51.100.9")

    response = here.post("/account/sessions/sign-out-others/", follow=True)

    assert "Signed out 1 other session." in response.content.decode()
    assert here.get("/keys/").status_code == 200
    assert elsewhere.get("/keys/").status_code == 302
    assert Session.objects.filter(user=admin_membership.user).count() == 1
    assert AuditEvent.objects.filter(org=org, action="user.sessions_ended").count() == 1


def test_changing_the_password_asks_for_the_current_one(admin_membership):
    client = _signed_in("admin@example.com")

    response = client.post(
        "/account/password/",
        {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 200
    assert "old_password" in response.context["form"].errors
    admin_membership.user.refresh_from_db()
    assert admin_membership.user.check_password(PASSWORD)


def test_changing_the_password_ends_the_other_sessions_and_is_audited(admin_membership, org):
    here = _signed_in("admin@example.com")
    elsewhere = _signed_in("admin@example.com", address="198.51.100.9")

    response = here.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response["Location"] == "/account/"
    assert here.get("/keys/").status_code == 200
    assert elsewhere.get("/keys/").status_code == 302
    admin_membership.user.refresh_from_db()
    assert admin_membership.user.check_password(NEW_PASSWORD)
    [event] = AuditEvent.objects.filter(org=org, action="user.password_changed")
    assert NEW_PASSWORD not in str(event.data) and PASSWORD not in str(event.data)


def _reset_link(mail) -> str:
    match = re.search(r"http://testserver(/password-reset/[^/\s]+/[^/\s]+/)", mail.body)
    assert match, mail.body
    return match.group(1)


def test_a_reset_answers_the_same_whether_or_not_the_email_has_an_account(
    client, admin_membership, mailoutbox
):
    known = client.post("/password-reset/", {"email": "admin@example.com"})
    unknown = client.post("/password-reset/", {"email": "nobody@example.com"})

    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == "/password-reset/sent/"
    assert [mail.to for mail in mailoutbox] == [["admin@example.com"]]


def test_a_reset_link_sets_the_password_once_and_ends_every_session(
    client, admin_membership, org, mailoutbox
):
    signed_in = _signed_in("admin@example.com")
    client.post("/password-reset/", {"email": "admin@example.com"})
    link = _reset_link(mailoutbox[0])

    form = client.get(link, follow=True)
    set_url = form.redirect_chain[-1][0]
    response = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert response["Location"] == "/sign-in/"
    admin_membership.user.refresh_from_db()
    assert admin_membership.user.check_password(NEW_PASSWORD)
    assert signed_in.get("/keys/").status_code == 302
    assert not Session.objects.filter(user=admin_membership.user).exists()
    assert AuditEvent.objects.filter(org=org, action="user.password_reset").count() == 1
    # Used once: the same link no longer works.
    again = Client().get(link, follow=True)
    assert "This link no longer works" in again.content.decode()


def test_reset_mails_to_one_address_are_limited(client, admin_membership, mailoutbox):
    for _ in range(5):
        assert client.post("/password-reset/", {"email": "admin@example.com"}).status_code == 302

    assert len(mailoutbox) == 3
