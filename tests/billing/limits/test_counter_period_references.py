"""The period history keeps its references without database constraints (a reset copies every
due counter's period at once, and deferred reference checks at its COMMIT cost as much as the
copy): Django still refuses to delete a key or an org that has history."""

from datetime import UTC, datetime

import pytest
from django.db.models import ProtectedError

from billing.limits.models import Counter, CounterPeriod
from tests.factories import make_key

pytestmark = pytest.mark.django_db


def _history(org, key) -> CounterPeriod:
    counter = Counter.objects.create(
        org=org,
        key=key,
        kind="month",
        period_start=datetime(2026, 11, 1, tzinfo=UTC),
        period_end=datetime(2026, 12, 1, tzinfo=UTC),
    )
    return CounterPeriod.objects.create(
        org=org,
        counter=counter,
        key=key,
        kind="month",
        period_start=counter.period_start,
        period_end=counter.period_end,
        spend_micros=5,
        tokens=1,
    )


def test_a_key_with_period_history_cannot_be_deleted(org):
    key, _ = make_key(org, name="kept")
    _history(org, key)

    with pytest.raises(ProtectedError):
        key.delete()


def test_an_org_with_period_history_cannot_be_deleted(org):
    key, _ = make_key(org, name="kept")
    period = _history(org, key)

    with pytest.raises(ProtectedError):
        org.delete()
    assert CounterPeriod.objects.get(pk=period.pk).org_id == org.pk
