"""The tables written in bulk or on the gateway's path keep no index that another makes
redundant: every index is written for every row (a usage batch writes 1,000 events, a reset
copies a period of each of 200,000 counters, authorize notes each key's last use once a minute,
in a new version of its row), and one whose columns are those of another, or begin them, serves
no lookup the other does not (a hash is never looked up with LIKE)."""

import pytest
from django.db import IntegrityError, connection, transaction

from keys.models import Key
from tests.factories import make_key

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


@pytest.mark.parametrize("column", ["secret_hash", "grace_secret_hash"])
def test_the_database_refuses_a_hash_that_another_key_has(org, column):
    """Dropping the hashes' second indexes kept their uniqueness: a key is found by its hash."""
    first, _ = make_key(org, name="first")
    second, _ = make_key(org, name="second")
    Key.objects.filter(pk=first.pk).update(grace_secret_hash="a" * 64)

    with pytest.raises(IntegrityError), transaction.atomic():
        Key.objects.filter(pk=second.pk).update(**{column: getattr(first, column) or "a" * 64})
