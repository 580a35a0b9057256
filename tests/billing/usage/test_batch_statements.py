"""A usage batch's statements have the same short text whatever its size: on PostgreSQL its rows
go as one array per column. psycopg parses a statement's placeholders again on every call once
its text is long, which took some 40 % of a batch of 1,000 when each value had its own."""

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection

from tests.billing.usage.conftest import event, record
from tests.factories import make_key

pytestmark = [
    pytest.mark.django_db,
    # SQLite has no arrays: there a batch takes a placeholder per value (the SQLite pass of
    # bin/test runs only the smoke tests, so this skip never shows in `make test`).
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's arrays"),
]

AT = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)


def _statements_of(batch: list[dict]) -> list[str]:
    texts: list[str] = []

    def capture(execute, sql, params, many, context):
        # The batch's writes (the ORM's reads of its keys and prices aside).
        if sql.startswith(("WITH", "INSERT", "UPDATE")):
            texts.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        result = record(*batch)
    assert {o.status for o in result.outcomes} == {"recorded"}
    return texts


def test_a_batch_of_300_runs_the_statements_of_a_batch_of_3(org, team):
    keys = [make_key(org, name=f"k{i}", team=team)[0] for i in range(30)]
    small = [event(keys[i], f"small-{i}", AT - timedelta(minutes=i)) for i in range(3)]
    large = [event(keys[i % 30], f"large-{i}", AT - timedelta(minutes=i)) for i in range(300)]

    statements = _statements_of(large)

    assert statements == _statements_of(small)
    assert len(statements) >= 4  # the events, the counters (created, added to), the rollups
    assert max(len(text) for text in statements) < 3_000
    # The rollups come from the batch in hand: no statement reads the events back.
    assert not any("FROM billing_usageevent" in text for text in statements)


def test_the_events_and_their_rollups_go_to_the_database_in_one_statement(org, team):
    keys = [make_key(org, name=f"k{i}", team=team)[0] for i in range(3)]
    batch = [event(keys[i % 3], f"one-{i}", AT - timedelta(minutes=i)) for i in range(30)]

    statements = _statements_of(batch)

    (rollups,) = [text for text in statements if "billing_usagehourly" in text]
    assert "INSERT INTO billing_usageevent" in rollups
    assert sum("billing_usageevent" in text for text in statements) == 1


def test_a_batch_goes_as_binary_arrays_bound_on_the_server(org, team):
    """Django's cursors bind on the client: each array as text, parsed again by the server
    (18 ms for a batch of 1,000 events; 5 in binary)."""
    key, _ = make_key(org, name="k", team=team)
    seen = []

    def capture(execute, sql, params, many, context):
        if "FROM unnest(" in sql:
            seen.append((type(context["cursor"].cursor), sql))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        record(event(key, "bin-1", AT), event(key, "bin-2", AT))

    assert len(seen) >= 3  # the events, the counters created and added to
    for cursor_type, sql in seen:
        assert not issubclass(cursor_type, psycopg.ClientCursor), sql
        assert "%s::" not in sql
