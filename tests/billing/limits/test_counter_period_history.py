"""Closed periods (CounterPeriod) are append-only on every database, also after the migration
that let them outlive a deleted team (SQLite rebuilt the table and its triggers with it)."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from billing.limits.models import Counter, CounterPeriod
from tests.factories import TeamFactory

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]


@pytest.fixture
def period(org):
    team = TeamFactory(org=org, name="History")
    now = timezone.now()
    counter = Counter.objects.create(
        org=org, team=team, kind="limit", period_start=now, period_end=now + timedelta(days=30)
    )
    return CounterPeriod.objects.create(
        org=org,
        counter=counter,
        team=team,
        kind="limit",
        period_start=now - timedelta(days=30),
        period_end=now,
        spend_micros=100,
        tokens=10,
    )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE billing_counterperiod SET spend_micros = 0 WHERE id = %s",
        "DELETE FROM billing_counterperiod WHERE id = %s",
    ],
)
def test_a_closed_period_cannot_be_changed_or_removed(period, statement):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, [period.pk])

    period.refresh_from_db()
    assert period.spend_micros == 100


def test_a_closed_period_outlives_its_team(period):
    period.team.delete()

    period.refresh_from_db()
    assert (period.spend_micros, period.tokens) == (100, 10)
    assert not Counter.objects.filter(pk=period.counter_id).exists()
