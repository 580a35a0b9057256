"""authorize's key query and its hold statement are prepared by psycopg, once per PostgreSQL
connection (billing.dbvalues.prepared_cursor): planning the hold's statement took longer than
running it. PostgreSQL only: SQLite prepares nothing (the SQLite pass of bin/test runs only the
smoke tests, so this skip never shows in `make test`)."""

from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from billing.limits.models import Hold
from gateway_console import secret as secrets
from keys.authorize.lookup import fetch_key
from keys.models import Key
from tests.factories import make_key
from tests.keys.authorize.test_hold_statements import _place
from tests.support.gateway import set_wallet

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="PostgreSQL's prepared statements"
    ),
]


def _prepared_holds() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%INSERT INTO billing_hold%"],
        )
        return cursor.fetchone()[0]


def test_a_hold_statement_is_prepared_once_per_connection(org, team):
    """Planning the statement, with its four locked rows, took longer than running it: prepared,
    PostgreSQL keeps one generic plan for it after its first five runs."""
    _key, plaintext = make_key(org, name="planned", team=team, monthly_spend_cap=Decimal("10"))

    for n in range(3):
        assert _place(plaintext, f"req_{n}") > 0

    assert _prepared_holds() == 1
    assert Hold.objects.count() == 3


def test_behind_a_pooler_no_hold_statement_is_prepared(org, team, settings):
    settings.DB_PREPARED_STATEMENTS = False
    _key, plaintext = make_key(org, name="pooled", team=team, monthly_spend_cap=Decimal("10"))

    for n in range(3):
        assert _place(plaintext, f"req_{n}") > 0

    assert _prepared_holds() == 0
    assert Hold.objects.count() == 3


def test_a_rollback_on_the_connection_leaves_authorize_working(org, team):
    """psycopg forgets its prepared statements on a rollback (DEALLOCATE ALL) and prepares them
    again: a statement prepared by hand beside them would be gone with them."""
    _key, plaintext = make_key(org, name="rolled", team=team, monthly_spend_cap=Decimal("10"))
    assert _place(plaintext, "req_before") > 0

    with pytest.raises(RuntimeError), transaction.atomic():
        raise RuntimeError("rolled back")

    assert _place(plaintext, "req_after") > 0
    assert _prepared_holds() == 1
    assert set(Hold.objects.values_list("request_id", flat=True)) == {"req_before", "req_after"}


def test_holds_of_any_size_share_one_prepared_statement(org, team):
    """psycopg sends a small whole number as smallint and a larger one as integer or bigint, and
    keeps a prepared statement per parameter types: every number goes as bigint."""
    _key, plaintext = make_key(org, name="sizes", team=team, monthly_spend_cap=Decimal("100000"))
    set_wallet(org, balance="100000")

    amounts = [_place(plaintext, f"req_{t}", t) for t in (1, 1_000_000, 20_000_000_000)]

    assert amounts[0] < 2**15 < amounts[1] < 2**31 < amounts[2]
    assert _prepared_holds() == 1


@pytest.mark.django_db(transaction=True)
def test_a_kept_connection_that_went_away_is_replaced_before_the_key_query(org):
    """CONN_HEALTH_CHECKS: authorize's first statement runs on a server-binding cursor of its
    own, which must check the kept connection as Django's cursors do (else a database restart
    costs each kept connection one 503)."""
    _key, plaintext = make_key(org, name="healthy")
    now = datetime.now(UTC)
    assert fetch_key(secrets.secret_hash(plaintext), "gpt-4o-mini", now) is not None
    connection.health_check_enabled = True
    connection.health_check_done = False
    connection.connection.close()  # the server went away under a kept connection

    row = fetch_key(secrets.secret_hash(plaintext), "gpt-4o-mini", now)

    assert row is not None and row.name == "healthy"


@pytest.fixture
def name_column_widened():
    """What a migration run by another process (a deploy's) does under a kept connection: the
    type of a column that the key query returns changes (keys_key.name, 40 characters longer),
    then changes back."""
    length = Key._meta.get_field("name").max_length

    def alter(length: int) -> None:
        settings = connection.settings_dict
        with psycopg.connect(
            host=settings["HOST"] or None,
            port=settings["PORT"] or None,
            user=settings["USER"],
            password=settings["PASSWORD"] or None,
            dbname=settings["NAME"],
            autocommit=True,
        ) as other:
            other.execute(f"ALTER TABLE keys_key ALTER COLUMN name TYPE varchar({length})")

    yield lambda: alter(length + 40)
    alter(length)


@pytest.mark.django_db(transaction=True)
def test_a_migration_that_changes_a_column_it_returns_leaves_the_key_query_working(
    org, name_column_widened
):
    """PostgreSQL refuses to run a prepared statement whose result type changed ("cached plan
    must not change result type"), and psycopg keeps it: every authorize on a kept connection
    would answer 503 until the connection closed. The statement is prepared again instead."""
    _key, plaintext = make_key(org, name="migrated")
    now = datetime.now(UTC)
    assert fetch_key(secrets.secret_hash(plaintext), "gpt-4o-mini", now) is not None

    name_column_widened()
    rows = [fetch_key(secrets.secret_hash(plaintext), "gpt-4o-mini", now) for _ in range(2)]

    assert [row.name for row in rows] == ["migrated", "migrated"]


@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_a_changed_result_type_fails_once_then_works(org, name_column_widened):
    """Inside a transaction the failed statement has aborted it: that request fails (a 503 for
    authorize), and the rollback makes psycopg prepare the statement again for the next."""
    _key, plaintext = make_key(org, name="migrated")
    now = datetime.now(UTC)
    assert fetch_key(secrets.secret_hash(plaintext), "gpt-4o-mini", now) is not None
    name_column_widened()

    with pytest.raises(DatabaseError), transaction.atomic():
        fetch_key(secrets.secret_hash(plaintext), "gpt-4o-mini", now)

    assert fetch_key(secrets.secret_hash(plaintext), "gpt-4o-mini", now).name == "migrated"
