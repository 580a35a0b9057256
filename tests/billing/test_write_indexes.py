"""The tables written in bulk keep no index that another makes redundant: every index is
written for every row (a usage batch writes 1,000 events, a reset copies a period of each of
200,000 counters), and one whose columns begin another serves no lookup the other does not."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

BULK_WRITTEN = ("billing_usageevent", "billing_counterperiod")


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
        if other != name and len(longer) > len(columns) and longer[: len(columns)] == columns
    ]

    assert redundant == []
