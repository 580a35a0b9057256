"""A hold's references are kept by the code, as a usage event's: authorize places a hold only
for the key it has just read, so the database need not look up its org, key and team again on
every authorize with a hold. Django still refuses to delete a key or org with holds."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import ProtectedError

from billing.limits.models import Hold

pytestmark = pytest.mark.django_db


def test_the_holds_table_checks_no_reference():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "billing_hold")

    assert [name for name, c in constraints.items() if c["foreign_key"]] == []


def test_a_key_or_an_org_with_a_hold_cannot_be_deleted(org, key):
    now = datetime.now(UTC)
    Hold.objects.create(
        org=org,
        key=key,
        team=key.team,
        request_id="held",
        amount_micros=5,
        expires_at=now + timedelta(minutes=10),
    )

    with pytest.raises(ProtectedError):
        key.delete()
    with pytest.raises(ProtectedError):
        org.delete()
    assert Hold.objects.get().key_id == key.pk
