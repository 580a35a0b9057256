"""authorize is the gateway's hot path (STYLE.md: pin its query counts): a malformed key costs
no query at all, an allowed request one indexed query plus at most one last_used_at write a
minute (docs/contract.md section 4: last_used_at is precise to a minute, not a write per request)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gateway_console import secret
from keys.models import Key
from tests.support.gateway import assert_denied

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def warm_connection(authorize, key_and_secret):
    """One request first, so that per-connection setup (on PostgreSQL authorize prepares its
    key query once per connection) is not counted as the request's queries."""
    assert authorize(secret.new_secret()).status_code == 401


def _bad_checksum(valid: str) -> str:
    return valid[:-1] + ("A" if valid[-1] != "A" else "B")


def _key_writes(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("UPDATE KEYS_KEY")]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-key"},
        {"X-Api-Key": "sk-gw-tooshort"},
        {"x-goog-api-key": "sk-gw-" + "é" * 46},
    ],
    ids=["no key", "not a key", "too short", "not base62"],
)
def test_a_missing_or_malformed_key_is_refused_without_a_database_query(
    authorize, key_and_secret, django_assert_num_queries, headers
):
    with django_assert_num_queries(0):
        response = authorize(model="gpt-4o-mini", headers=headers)

    assert_denied(response, 401, "invalid_api_key")


def test_a_key_with_a_bad_checksum_is_refused_without_a_database_query(
    authorize, key_and_secret, django_assert_num_queries
):
    _, valid = key_and_secret

    with django_assert_num_queries(0):
        response = authorize(_bad_checksum(valid), model="gpt-4o-mini")

    assert_denied(response, 401, "invalid_api_key")


def test_an_unknown_well_formed_key_costs_exactly_one_query(
    authorize, key_and_secret, django_assert_num_queries
):
    with django_assert_num_queries(1):
        response = authorize(secret.new_secret(), model="gpt-4o-mini")

    assert_denied(response, 401, "invalid_api_key")


def test_an_allowed_request_without_request_id_is_one_query_and_one_last_used_write(
    authorize, key_and_secret, django_assert_num_queries
):
    _, valid = key_and_secret

    with django_assert_num_queries(2) as queries:
        response = authorize(valid, model="gpt-4o-mini")

    assert response.status_code == 200
    assert len(_key_writes(queries.captured_queries)) == 1


def test_the_next_allowed_request_in_the_same_minute_is_one_query(
    authorize, key_and_secret, django_assert_num_queries
):
    _, valid = key_and_secret
    assert authorize(valid, model="gpt-4o-mini").status_code == 200

    with django_assert_num_queries(1):
        response = authorize(valid, model="gpt-4o-mini")

    assert response.status_code == 200


def test_a_denial_after_the_key_query_writes_nothing(
    authorize, key_and_secret, org, django_assert_num_queries
):
    _, valid = key_and_secret

    with django_assert_num_queries(1):
        response = authorize(valid, model="claude-3-5-sonnet")

    assert_denied(response, 403, "model_not_allowed")
    assert Key.objects.get(pk=key_and_secret[0].pk).last_used_at is None


def test_an_allowed_request_with_a_hold_pins_its_queries(
    authorize, key_and_secret, django_assert_num_queries
):
    _, valid = key_and_secret
    body = {"model": "gpt-4o-mini", "prompt": "x" * 100}
    # First request of a key: the key query; its three counters created; the hold and its
    # reservations on the wallet and the three counters, one statement that commits on its
    # own (on PostgreSQL: billing.limits.hold_statements); last_used_at.
    with django_assert_num_queries(6):
        response = authorize(valid, model=None, body=body, reports_usage=True)
        assert response.status_code == 200

    # Once its counters exist: the key query and the hold's one statement.
    with django_assert_num_queries(2):
        response = authorize(valid, model=None, body=body, reports_usage=True)
        assert response.status_code == 200


def test_last_used_at_is_written_at_most_once_a_minute(authorize, key_and_secret):
    key, valid = key_and_secret
    before = datetime.now(UTC)

    with CaptureQueriesContext(connection) as queries:
        for _ in range(2):
            assert authorize(valid).status_code == 200

    assert len(_key_writes(queries.captured_queries)) == 1
    first_use = Key.objects.get(pk=key.pk).last_used_at
    assert before <= first_use <= datetime.now(UTC)


def test_last_used_at_is_written_again_once_the_stored_value_is_older_than_a_minute(
    authorize, key_and_secret
):
    key, valid = key_and_secret
    assert authorize(valid).status_code == 200
    two_minutes_ago = datetime.now(UTC) - timedelta(minutes=2)
    Key.objects.filter(pk=key.pk).update(last_used_at=two_minutes_ago)
    before = datetime.now(UTC)

    with CaptureQueriesContext(connection) as queries:
        assert authorize(valid).status_code == 200

    assert len(_key_writes(queries.captured_queries)) == 1
    assert Key.objects.get(pk=key.pk).last_used_at >= before


def test_last_used_at_written_less_than_a_minute_ago_is_not_written(authorize, key_and_secret):
    key, valid = key_and_secret
    recent = datetime.now(UTC) - timedelta(seconds=50)
    Key.objects.filter(pk=key.pk).update(last_used_at=recent)

    with CaptureQueriesContext(connection) as queries:
        assert authorize(valid).status_code == 200

    assert _key_writes(queries.captured_queries) == []
    assert Key.objects.get(pk=key.pk).last_used_at == recent
