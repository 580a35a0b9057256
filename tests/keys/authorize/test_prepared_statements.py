"""authorize's key query and its hold statement are prepared by psycopg, once per PostgreSQL
connection (billing.dbvalues.prepared_cursor): planning the hold's statement took longer than
running it. PostgreSQL only: SQLite prepares nothing (the SQLite pass of bin/test runs only the
smoke tests, so this skip never shows in `make test`)."""

from decimal import Decimal

import pytest
from django.db import connection, transaction

from billing.limits.models import Hold
from tests.factories import make_key
from tests.keys.authorize.test_hold_statements import _place

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


def test_a_hold_statement_is_planned_once_per_connection(org, team):
    """Planning the statement, with its four locked rows, took longer than running it."""
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
