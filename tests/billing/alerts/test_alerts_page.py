"""The alerts page and the nav badge of new alerts."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.alerts.models import Alert
from tests.factories import make_key

pytestmark = pytest.mark.django_db

URL = "/billing/alerts/"


def raise_alert(org, n: int = 0, **fields) -> Alert:
    fields.setdefault("kind", "key_cap")
    fields.setdefault("subject", f"00000000-0000-0000-0000-{n:012d}/monthly_spend")
    fields.setdefault("threshold", "80")
    fields.setdefault("message", f"Key “key-{n}” passed 80% of its monthly spend cap.")
    return Alert.objects.create(
        org=org,
        period_start=timezone.now() - timedelta(days=3),
        created_at=timezone.now(),
        **fields,
    )


def badge(response) -> str | None:
    match = re.search(
        r'>Alerts <span class="badge[^"]*"[^>]*>([^<]+)</span>', response.content.decode()
    )
    return match.group(1) if match else None


@pytest.mark.parametrize("client_name", ["owner_client", "admin_client", "auditor_client"])
def test_readers_see_the_orgs_alerts_newest_first(request, client_name, org, other_org):
    raise_alert(org, 1)
    raise_alert(org, 2)
    raise_alert(other_org, 3, message="Key “theirs” passed 80% of its monthly spend cap.")

    response = request.getfixturevalue(client_name).get(URL)

    assert response.status_code == 200
    body = response.content.decode()
    assert body.index("key-2") < body.index("key-1")
    assert "theirs" not in body


def test_a_member_gets_403(member_client):
    assert member_client.get(URL).status_code == 403


def test_an_alert_links_to_its_key_and_shows_its_delivery(admin_client, org, key):
    raise_alert(
        org,
        subject=f"{key.pk}/monthly_spend",
        message="Key “billing-prod” passed 80% of its monthly spend cap.",
        emailed_at=timezone.now(),
        webhook_attempts=7,
        webhook_last_error="HTTP 500 from the receiver",
    )

    body = admin_client.get(URL).content.decode()

    assert f'href="/keys/{key.pk}/"' in body
    assert "80% of monthly spend cap" in body
    assert "Failed 7×" in body
    # Stored in an older version's words, shown in today's.
    assert "The receiver answered HTTP 500." in body


def test_older_alerts_are_a_page_further(admin_client, org):
    for n in range(60):
        raise_alert(org, n)

    first = admin_client.get(URL)
    older = admin_client.get(URL, {"before": first.context["page"].next_cursor})

    assert len(first.context["page"].rows) == 50
    assert [row.alert.message for row in older.context["page"].rows] == [
        f"Key “key-{n}” passed 80% of its monthly spend cap." for n in range(9, -1, -1)
    ]
    assert older.context["page"].next_cursor is None


@pytest.mark.parametrize("count", [5, 60])
def test_the_alerts_page_query_count_does_not_grow(
    admin_client, org, count, django_assert_max_num_queries
):
    for n in range(count):
        raise_alert(org, n)

    # Session, user, membership, the alerts, the settings, the badge, the switcher's orgs, and
    # the session save (in a savepoint).
    with django_assert_max_num_queries(10):
        assert admin_client.get(URL).status_code == 200


def test_the_nav_badge_counts_new_alerts_until_the_alerts_page_is_seen(admin_client, org):
    assert badge(admin_client.get("/teams/")) is None
    raise_alert(org, 1)
    raise_alert(org, 2)

    assert badge(admin_client.get("/teams/")) == "2"

    admin_client.get(URL)
    assert badge(admin_client.get("/teams/")) is None

    raise_alert(org, 3)
    assert badge(admin_client.get("/teams/")) == "1"


def test_the_badge_forgets_alerts_older_than_a_week(admin_client, org):
    alert = raise_alert(org, 1)
    Alert.objects.filter(pk=alert.pk).update(created_at=timezone.now() - timedelta(days=8))

    assert badge(admin_client.get("/teams/")) is None


def test_the_badge_shows_99_plus_for_many(admin_client, org):
    for n in range(120):
        raise_alert(org, n)

    assert badge(admin_client.get("/teams/")) == "99+"


def test_the_badge_costs_one_query_and_members_none(admin_client, member_client, org):
    raise_alert(org, 1)

    with CaptureQueriesContext(connection) as admin_queries:
        admin_client.get("/teams/")
    with CaptureQueriesContext(connection) as member_queries:
        response = member_client.get("/teams/")

    assert sum("billing_alert" in q["sql"] for q in admin_queries.captured_queries) == 1
    assert sum("billing_alert" in q["sql"] for q in member_queries.captured_queries) == 0
    assert f'href="{URL}"' not in response.content.decode()


def test_the_alerts_page_shows_no_key_plaintext(admin_client, org):
    key, plaintext = make_key(org, name="billing-prod")
    raise_alert(org, subject=f"{key.pk}/monthly_spend", message=f"Key “{key.name}” ({key.preview})")

    assert plaintext not in admin_client.get(URL).content.decode()
