"""When the database cannot answer, authorize answers 503 console_unavailable as JSON: never
an allow, never Django's HTML 500 page (a forward-auth gateway hands any answer to the client
unchanged)."""

from unittest import mock

import pytest
from django.db import DatabaseError, InterfaceError, OperationalError
from django.db.backends.utils import CursorWrapper

from billing.limits.models import Hold
from billing.usage.models import UsageEvent
from tests.support.gateway import assert_denied, usage_event

pytestmark = pytest.mark.django_db


def _unavailable(response) -> dict:
    error = assert_denied(response, 503, "console_unavailable")
    assert int(response["Retry-After"]) > 0
    return error


@pytest.mark.parametrize(
    "failure",
    [
        OperationalError("could not connect to server: Connection refused"),
        OperationalError("server closed the connection unexpectedly"),
        InterfaceError("connection already closed"),
        DatabaseError("canceling statement due to statement timeout"),
    ],
    ids=["refused", "closed", "interface", "timeout"],
)
def test_a_failing_key_query_answers_503_console_unavailable(authorize, key_and_secret, failure):
    _, secret = key_and_secret

    with mock.patch("keys.authorize.fetch_key", side_effect=failure):
        response = authorize(secret, model="gpt-4o-mini")

    _unavailable(response)


def test_a_database_that_refuses_every_statement_answers_503(authorize, key_and_secret):
    _, secret = key_and_secret
    down = OperationalError("could not connect to server: Connection refused")

    with mock.patch.object(CursorWrapper, "execute", side_effect=down):
        response = authorize(secret, model="gpt-4o-mini")

    _unavailable(response)


def test_the_error_body_names_neither_the_key_nor_the_database_error(authorize, key_and_secret):
    _, secret = key_and_secret
    failure = OperationalError('FATAL: password authentication failed for user "console"')

    with mock.patch("keys.authorize.fetch_key", side_effect=failure):
        response = authorize(secret, model="gpt-4o-mini")

    _unavailable(response)
    text = response.content.decode()
    assert secret not in text
    assert "password" not in text
    assert "authentication failed" not in text


def test_a_failure_while_placing_the_hold_answers_503_and_holds_nothing(authorize, key_and_secret):
    _, secret = key_and_secret

    with mock.patch("billing.limits.holds.place", side_effect=OperationalError("connection lost")):
        response = authorize(secret, model="gpt-4o-mini", reports_usage=True)

    _unavailable(response)
    assert not Hold.objects.exists()


def test_a_failure_writing_last_used_at_answers_503_not_200(authorize, key_and_secret):
    _, secret = key_and_secret

    with mock.patch(
        "keys.authorize.touch_last_used", side_effect=OperationalError("connection lost")
    ):
        response = authorize(secret, model="gpt-4o-mini")

    _unavailable(response)


def test_a_made_up_key_is_still_refused_with_401_while_the_database_is_down(authorize):
    down = OperationalError("could not connect to server: Connection refused")

    with mock.patch.object(CursorWrapper, "execute", side_effect=down):
        response = authorize("sk-gw-" + "a" * 46, model="gpt-4o-mini")

    assert_denied(response, 401, "invalid_api_key")


def test_usage_answers_503_when_the_database_fails_and_records_nothing(post_usage, key):
    with mock.patch(
        "billing.usage.services._insert_new", side_effect=OperationalError("connection lost")
    ):
        response = post_usage(usage_event(key))

    _unavailable(response)
    assert not UsageEvent.objects.exists()
