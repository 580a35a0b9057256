"""The audit page's time range (the org's days), target links, before/after table, and query
counts that stay the same however long the log and whichever filter is used."""

from datetime import UTC, date, datetime

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import audit
from audit import Actor, selectors
from audit.models import AuditEvent
from billing.limits.services import create_team
from gateway_console.models import Org
from keys import services as key_services
from tests.factories import make_key

pytestmark = pytest.mark.django_db

URL = reverse("audit:list")
ALICE = Actor(type="user", id="1", label="alice@example.com", role="admin")


def _seqs(response) -> list[int]:
    return [event.seq for event in response.context["page"].rows]


def _events(org, count: int, *, target=None) -> None:
    with transaction.atomic():
        for n in range(count):
            audit.record(
                org=org,
                actor=ALICE,
                action="keys.moved",
                target=target,
                changes={"team": {"before": "Alpha", "after": f"Team {n}"}},
            )


def test_a_day_is_the_orgs_day_not_utcs():
    since, until = selectors.day_range("Pacific/Auckland", date(2026, 3, 1), date(2026, 3, 1))

    assert since.astimezone(UTC) == datetime(2026, 2, 28, 11, 0, tzinfo=UTC)  # NZDT, +13
    assert until.astimezone(UTC) == datetime(2026, 3, 1, 11, 0, tzinfo=UTC)


def test_a_day_when_clocks_change_is_23_hours():
    since, until = selectors.day_range("Europe/Berlin", date(2026, 3, 29), date(2026, 3, 29))

    assert (until - since).total_seconds() == 23 * 3600


@pytest.mark.parametrize(
    ("zone", "first", "last"),
    [("Asia/Tokyo", date(1, 1, 1), date(9999, 12, 31)), ("UTC", date(1, 1, 1), date(9999, 12, 31))],
)
def test_a_day_at_the_edge_of_the_calendar_leaves_that_side_open(zone, first, last):
    since, until = selectors.day_range(zone, first, last)

    # Year 1 in Tokyo (local mean time, +09:18) starts before Python's first UTC time.
    assert since == (None if zone == "Asia/Tokyo" else datetime(1, 1, 1, tzinfo=UTC))
    assert until is None


@pytest.mark.smoke
def test_day_filters_at_the_edge_of_the_calendar_show_every_event(admin_client, org, api):
    Org.objects.filter(pk=org.pk).update(timezone="Asia/Tokyo")
    _events(org, 2)
    edges = {"from": "0001-01-01", "to": "9999-12-31"}

    page = admin_client.get(URL, edges)
    export = admin_client.get(reverse("audit:export", args=["csv"]), edges)
    listed = api.get("/api/v1/audit-events", edges)

    assert page.status_code == 200
    assert _seqs(page)[-2:] == [2, 1]
    assert export.status_code == 200
    assert len(b"".join(export.streaming_content).decode().splitlines()) >= 3
    assert listed.status_code == 200
    assert [e["seq"] for e in listed.json()["data"]][-2:] == [2, 1]


def test_it_filters_by_days_in_the_orgs_time_zone(admin_client, org, monkeypatch):
    Org.objects.filter(pk=org.pk).update(timezone="America/New_York")
    times = iter(
        [
            datetime(2026, 1, 10, 4, 59, tzinfo=UTC),  # 9 January, 23:59 in New York
            datetime(2026, 1, 10, 5, 0, tzinfo=UTC),  # 10 January, 00:00
            datetime(2026, 1, 11, 4, 59, tzinfo=UTC),  # 10 January, 23:59
            datetime(2026, 1, 11, 5, 0, tzinfo=UTC),  # 11 January
        ]
    )
    monkeypatch.setattr("audit.services.now_utc", lambda: next(times))
    _events(org, 4)

    assert _seqs(admin_client.get(URL, {"from": "2026-01-10", "to": "2026-01-10"})) == [3, 2]
    assert _seqs(admin_client.get(URL, {"from": "2026-01-10"})) == [4, 3, 2]
    assert _seqs(admin_client.get(URL, {"to": "2026-01-09"})) == [1]
    html = admin_client.get(URL).content.decode()
    assert "When (America/New_York)" in html
    assert "2026-01-09 23:59:00" in html


def test_a_bad_date_is_shown_beside_its_field_and_filters_nothing(admin_client, org):
    _events(org, 2)

    response = admin_client.get(URL, {"from": "yesterday", "to": "2026-01-01"})

    assert "Enter a valid date." in response.content.decode()
    assert response.context["pager"].next is None
    assert _seqs(response) == []  # "to" still holds


def test_the_last_day_before_the_first_is_an_error(admin_client, org):
    response = admin_client.get(URL, {"from": "2026-02-01", "to": "2026-01-01"})

    assert "The last day comes before the first." in response.content.decode()


def test_each_change_shows_field_before_and_after(admin_client, org, key):
    key_services.disable_key(key=key, actor=ALICE)

    html = admin_client.get(URL).content.decode()

    assert '<th scope="col">Field</th><th scope="col">Before</th>' in html
    assert '<th scope="row" class="field-name">status</th><td><del>active</del></td>' in html
    assert "<ins>disabled</ins>" in html


def test_targets_that_still_exist_link_to_their_pages(admin_client, org, key):
    team = create_team(org=org, actor=ALICE, name="Bravo")

    html = admin_client.get(URL).content.decode()

    assert f'href="{reverse("keys:detail", args=[key.pk])}"' in html
    assert f'href="{reverse("team-detail", args=[team.pk])}"' in html
    assert f'href="{reverse("admin-tokens")}"' not in html.split('id="audit-table"')[1]


def test_an_org_target_has_no_link(admin_client, org):
    with transaction.atomic():
        audit.record(org=org, actor=ALICE, action="alerts.updated", target=org)

    response = admin_client.get(URL)

    assert response.context["page"].rows[0].target_url is None


def test_another_orgs_object_with_the_same_id_is_not_linked(admin_client, org, other_org):
    theirs, _ = make_key(other_org, name="globex-prod")
    with transaction.atomic():
        # An event that names another org's key cannot be made by a service; forge its target.
        audit.record(org=org, actor=ALICE, action="key.updated", target=theirs)

    response = admin_client.get(URL)

    assert response.context["page"].rows[0].target_url is None


def test_the_filters_push_into_the_url_and_work_without_javascript(admin_client, org):
    html = admin_client.get(URL).content.decode()

    assert 'method="get" action="/audit/"' in html
    assert 'hx-push-url="true"' in html
    assert '<button class="button">Apply</button>' in html
    assert 'name="from"' in html and 'name="to"' in html


def test_export_links_carry_the_filters(admin_client, org):
    html = admin_client.get(URL, {"actor": "alice", "from": "2026-01-01"}).content.decode()

    assert f'href="{reverse("audit:export", args=["csv"])}?actor=alice&amp;from=2026-01-01"' in html


def _queries(client, params) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL, params).status_code == 200
    return len(queries)


FILTERS = [
    {},
    {"actor": "alice@example.com"},
    {"actor": "alice"},
    {"action": "keys.moved"},
    {"action": "keys."},
    {"target": "billing"},
    {"target": "00000000-0000-0000-0000-000000000000"},
    {"from": "2020-01-01", "to": "2099-12-31"},
    {"before": "4"},
]


@pytest.mark.parametrize("params", FILTERS)
def test_query_count_is_the_same_for_5_and_300_events(admin_client, org, key, params):
    with transaction.atomic():
        for _ in range(4):
            key_services.disable_key(key=key, actor=ALICE)
            key_services.enable_key(key=key, actor=ALICE)
    _events(org, 5, target=key)
    few = _queries(admin_client, params)

    _events(org, 295, target=key)
    many = _queries(admin_client, params)

    assert few == many
    assert many <= 8
    assert AuditEvent.objects.filter(org=org).count() > 300
