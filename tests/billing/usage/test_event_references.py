"""A usage event's references are kept by the code, not by database constraints (a batch's
commit checked each of its rows' org, key and team one by one: some 15 % of a batch of 1,000).
What the constraints gave stays: an event is written only for a key the batch has read, and
Django refuses to delete a key or an org with usage, and clears a deleted team."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import ProtectedError

from billing.usage.models import UsageEvent
from tests.billing.usage.conftest import NOW, event, record
from tests.factories import make_key

pytestmark = pytest.mark.django_db


def test_the_events_table_checks_no_reference_at_commit():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "billing_usageevent")

    assert [name for name, c in constraints.items() if c["foreign_key"]] == []


def test_an_event_of_a_key_that_does_not_exist_is_refused_and_not_written(org, team):
    key, _ = make_key(org, name="real", team=team)
    unknown = event(key, "ghost", NOW - timedelta(minutes=1))
    unknown["key_id"] = "00000000-0000-4000-8000-000000000000"

    result = record(event(key, "real", NOW - timedelta(minutes=1)), unknown)

    assert [o.status for o in result.outcomes] == ["recorded", "rejected"]
    assert list(UsageEvent.objects.values_list("request_id", flat=True)) == ["real"]


def test_a_key_or_an_org_with_usage_cannot_be_deleted(org, team):
    key, _ = make_key(org, name="used", team=team)
    record(event(key, "r1", NOW - timedelta(minutes=1)))

    with pytest.raises(ProtectedError):
        key.delete()
    with pytest.raises(ProtectedError):
        org.delete()
    assert UsageEvent.objects.get().key_id == key.pk
