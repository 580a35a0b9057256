"""The gateway's calls carry its token, never a person's session (docs/contract.md sections 2
and 3): a browser cookie that comes along (a forward-auth gateway passes the client's headers
on) changes nothing in the answer, costs no query, and no browser-only header is added."""

import time

import pytest
from django.conf import settings
from django.test import Client
from django.urls import get_resolver

from accounts.middleware import LAST_SEEN, SIGNED_IN_AT
from config.middleware import MACHINE_PREFIXES
from gateway_console import secret as secrets_module
from tests.support.gateway import call_authorize, call_usage, usage_event

pytestmark = pytest.mark.django_db


def _signed_in(client: Client, membership, *, idle_hours: float = 0) -> Client:
    """`client` signed in as `membership`'s user, the session idle for `idle_hours`."""
    client.force_login(membership.user)
    session = client.session
    now = time.time()
    session[SIGNED_IN_AT] = now - idle_hours * 3600
    session[LAST_SEEN] = now - idle_hours * 3600
    session.save()
    return client


@pytest.fixture
def expired_session(client, owner_membership):
    hours = settings.SESSION_IDLE_MINUTES / 60 + 1
    return _signed_in(client, owner_membership, idle_hours=hours)


def test_authorize_answers_the_contract_with_an_expired_session_cookie(
    expired_session, key_and_secret
):
    key, plaintext = key_and_secret

    response = call_authorize(expired_session, plaintext)

    assert response.status_code == 200, response.content
    assert response.json()["allowed"] is True
    assert response.json()["key"]["id"] == str(key.pk)


def test_usage_records_the_batch_with_an_expired_session_cookie(expired_session, key):
    response = call_usage(expired_session, {"events": [usage_event(key)]})

    assert response.status_code == 200, response.content
    assert response.json()["recorded"] == 1


def test_a_session_cookie_costs_authorize_no_query(
    client, owner_membership, key_and_secret, django_assert_num_queries
):
    _, plaintext = key_and_secret
    assert call_authorize(Client(), plaintext).status_code == 200  # prepares the key query
    bare = Client()
    with django_assert_num_queries(1):
        assert call_authorize(bare, plaintext).status_code == 200
    signed_in = _signed_in(client, owner_membership)

    with django_assert_num_queries(1):
        response = call_authorize(signed_in, plaintext)

    assert response.status_code == 200


@pytest.fixture
def answers(client, key_and_secret) -> list:
    """authorize's answers to a key it allows and to one it does not know."""
    _, plaintext = key_and_secret
    return [call_authorize(client, plaintext), call_authorize(client, secrets_module.new_secret())]


def test_the_gateway_paths_get_no_browser_only_headers(answers):
    assert [r.status_code for r in answers] == [200, 401]
    for response in answers:
        assert "X-Frame-Options" not in response
        assert "Vary" not in response
        assert "Set-Cookie" not in str(response.cookies)
        # What every response keeps: its request id, and the HTTPS headers.
        assert response["X-Request-Id"]
        assert response["X-Content-Type-Options"] == "nosniff"


def test_the_gateway_paths_still_check_the_host(client, key_and_secret):
    _, plaintext = key_and_secret

    response = call_authorize(client, plaintext, headers={"Host": "evil.example"})

    assert response.status_code == 400


def test_the_gateways_answers_say_their_length(answers):
    """Else gunicorn answers an HTTP/1.1 gateway in chunks."""
    for response in answers:
        assert response["Content-Length"] == str(len(response.content))


def test_every_view_marked_as_a_machine_call_is_under_a_prefix_the_middleware_reads():
    """A marked view elsewhere would quietly go through the browser's middleware after all."""
    marked = [
        str(pattern.pattern)
        for pattern in get_resolver().url_patterns
        if getattr(getattr(pattern, "callback", None), "skips_browser_middleware", False)
    ]

    assert len(marked) == 4
    for route in marked:
        assert ("/" + route.lstrip("^")).startswith(MACHINE_PREFIXES), route
