"""The owner's opt-in to exporting, then pruning, the oldest audit events (/audit/retention/):
confirmed by a step-up, one audit event, bounds beside the field, owners only."""

import pytest

from audit.models import AuditEvent
from tests.accounts.conftest import stale_step_up

pytestmark = pytest.mark.django_db

URL = "/audit/retention/"


def test_the_log_is_kept_for_good_until_an_owner_opts_in(owner_client, org):
    page = owner_client.get(URL)

    assert page.status_code == 200
    assert "By default every event is kept for good" in page.content.decode()
    assert org.audit_retention_days is None


def test_an_owner_opts_in_and_out_with_one_event_each(owner_client, org):
    response = owner_client.post(URL, {"prune": "on", "days": "730"})

    assert response.status_code == 302
    org.refresh_from_db()
    assert org.audit_retention_days == 730
    event = AuditEvent.objects.filter(org=org).order_by("-seq").first()
    assert event.action == "audit.retention_changed"
    assert event.changes == {"audit_retention_days": {"before": None, "after": 730}}

    owner_client.post(URL, {"days": "730"})

    org.refresh_from_db()
    assert org.audit_retention_days is None
    assert AuditEvent.objects.filter(org=org, action="audit.retention_changed").count() == 2


def test_saving_the_same_choice_writes_nothing(owner_client, org):
    before = AuditEvent.objects.filter(org=org).count()

    owner_client.post(URL, {"days": "400"})

    assert AuditEvent.objects.filter(org=org).count() == before


@pytest.mark.parametrize(
    ("days", "message"),
    [
        ("100", "Ensure this value is greater than or equal to 365."),
        ("4000", "Ensure this value is less than or equal to 3650."),
        ("", "How many days should the log keep?"),
        ("a year", "Enter a whole number."),
    ],
)
def test_days_out_of_bounds_are_named_beside_the_field(owner_client, org, days, message):
    response = owner_client.post(URL, {"prune": "on", "days": days})

    assert response.status_code == 200
    assert message in response.content.decode()
    org.refresh_from_db()
    assert org.audit_retention_days is None


def test_it_needs_a_step_up(owner_client, org):
    stale_step_up(owner_client)

    response = owner_client.post(URL, {"prune": "on", "days": "730"})

    assert response["Location"].startswith("/account/step-up/")
    org.refresh_from_db()
    assert org.audit_retention_days is None


def test_only_owners_may_choose(admin_client, auditor_client, org):
    assert admin_client.post(URL, {"prune": "on", "days": "730"}).status_code == 403
    assert auditor_client.get(URL).status_code == 403
    org.refresh_from_db()
    assert org.audit_retention_days is None


def test_the_audit_page_links_owners_to_it(owner_client, admin_client):
    assert URL in owner_client.get("/audit/").content.decode()
    assert URL not in admin_client.get("/audit/").content.decode()
