"""Usage events and holds keep their org, key and team references without database constraints
(billing.usage.models.UsageEvent, billing.limits.models.Hold): a batch's commit checked each of
its 1,000 events' references one by one, and every hold's on authorize's path. They are written
only for a key just read (an unknown key's event is refused: test_usage_endpoint). What the
constraints gave and must stay: Django refuses to delete a key or an org they name. Those two
tests passed with the constraints too; they pin what dropping them must not take away."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import ProtectedError

from billing.limits.models import Hold
from billing.usage.models import UsageEvent
from tests.billing.usage.conftest import NOW, event, record
from tests.factories import make_key

pytestmark = pytest.mark.django_db


def _usage_event(key) -> UsageEvent:
    record(event(key, "r1", NOW - timedelta(minutes=1)))
    return UsageEvent.objects.get()


def _hold(key) -> Hold:
    return Hold.objects.create(
        org=key.org,
        key=key,
        team=key.team,
        request_id="held",
        amount_micros=5,
        expires_at=datetime.now(UTC) + timedelta(minutes=10),
    )


@pytest.mark.parametrize("table", ["billing_usageevent", "billing_hold"])
def test_the_table_checks_no_reference_in_the_database(table):
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)

    assert [name for name, c in constraints.items() if c["foreign_key"]] == []


@pytest.mark.parametrize("write", [_usage_event, _hold], ids=["usage event", "hold"])
def test_a_key_or_an_org_it_names_cannot_be_deleted(org, team, write):
    key, _ = make_key(org, name="named", team=team)
    row = write(key)

    with pytest.raises(ProtectedError):
        key.delete()
    with pytest.raises(ProtectedError):
        org.delete()
    row.refresh_from_db()
    assert (row.key_id, row.org_id) == (key.pk, org.pk)
