"""The tables written in bulk or on the gateway's path keep no index that another makes
redundant: every index is written for every row (a usage batch writes 1,000 events, a reset
copies a period of each of 200,000 counters, authorize notes each key's last use once a minute,
in a new version of its row), and one whose columns are those of another, or begin them, serves
no lookup the other does not (a hash is never looked up with LIKE)."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

BULK_WRITTEN = ("billing_usageevent", "billing_counterperiod", "keys_key")


@pytest.mark.parametrize("table", BULK_WRITTEN)
def test_no_index_is_the_start_of_another(table):
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    indexes = {
        name: tuple(c["columns"])
        for name, c in constraints.items()
        if (c["index"] or c["unique"]) and not c["primary_key"]
    }

    redundant = [
        (name, other)
        for name, columns in indexes.items()
        for other, longer in indexes.items()
        if other != name
        and longer[: len(columns)] == columns
        and (len(longer) > len(columns) or name > other)
    ]

    assert redundant == []
