"""The key, team and org usage pages: numbers from the rollups, equal to the API's, per range
and granularity, with a CSV of the same query, words for an empty range, and the roles."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from audit import Actor
from billing.ledger.models import ModelPrice
from billing.usage.models import UsageHourly
from gateway_console.admin_tokens import create_admin_token
from tests.billing.usage.conftest import event, record
from tests.factories import make_key
from tests.support.api import ApiClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def usage(org, key, other_team, frozen_now):
    other, _ = make_key(org, name="platform-key", team=other_team)
    record(
        event(key, "k1", datetime(2026, 3, 10, 9, 15, tzinfo=UTC)),
        event(key, "k2", datetime(2026, 3, 10, 9, 45, tzinfo=UTC), model="gpt-4o", status=500),
        event(key, "k3", datetime(2026, 3, 9, 23, 30, tzinfo=UTC)),
        event(key, "k4", datetime(2026, 3, 5, 8, 0, tzinfo=UTC), input_tokens=7, output_tokens=3),
        event(other, "o1", datetime(2026, 3, 10, 11, 0, tzinfo=UTC), model="gemini-2.0-flash"),
    )
    return other


def api_for(org):
    return ApiClient(
        create_admin_token(org=org, actor=Actor.system("t"), name="t", read_only=True)[1]
    )


def test_key_page_numbers_equal_the_apis(admin_client, org, key, usage):
    for query in (
        "range=24h",
        "range=7d",
        "range=30d&granularity=hour",
        "range=7d&granularity=day",
    ):
        page = admin_client.get(f"/keys/{key.pk}/usage/?{query}")
        assert page.status_code == 200
        span = page.context["span"]
        body = (
            api_for(org)
            .get(
                f"/api/v1/keys/{key.pk}/usage",
                {
                    "from": span.since.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                    "to": span.until.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                    "granularity": span.granularity,
                    "by_model": "true",
                },
            )
            .json()
        )
        from_api = [
            (b["model"], b["requests"], b["input_tokens"], b["output_tokens"]) for b in body["data"]
        ]
        from_page = [
            (b.model, b.requests, b.input_tokens, b.output_tokens) for b in page.context["buckets"]
        ]
        assert from_page == from_api and from_page, query


def test_ranges_and_granularity(admin_client, key, usage):
    day = admin_client.get(f"/keys/{key.pk}/usage/?range=7d").context
    assert [(r.label, r.requests) for r in day["rows"]] == [
        ("2026-03-05", 1),
        ("2026-03-09", 1),
        ("2026-03-10", 2),
    ]
    hour = admin_client.get(f"/keys/{key.pk}/usage/?range=24h").context
    assert [(r.label, r.requests) for r in hour["rows"]] == [
        ("2026-03-09 23:00", 1),
        ("2026-03-10 09:00", 2),
    ]
    custom = admin_client.get(f"/keys/{key.pk}/usage/?range=custom&from=2026-03-05&to=2026-03-05")
    assert custom.context["total"].requests == 1
    assert custom.context["total"].input_tokens == 7


def test_day_buckets_are_the_orgs_days(admin_client, org, key, usage):
    org.timezone = "Asia/Tokyo"  # 23:30 UTC on the 9th is the 10th there
    org.save()

    context = admin_client.get(f"/keys/{key.pk}/usage/?range=7d").context

    assert [(r.label, r.requests) for r in context["rows"]] == [
        ("2026-03-05", 1),
        ("2026-03-10", 3),
    ]
    assert context["buckets"][0].start.isoformat() == "2026-03-05T00:00:00+09:00"


def test_a_bad_custom_range_says_so(admin_client, key, usage):
    response = admin_client.get(f"/keys/{key.pk}/usage/?range=custom&from=2026-03-09&to=2026-03-01")

    assert "The range&#x27;s end is before its start." in response.content.decode()


@pytest.mark.smoke
@pytest.mark.parametrize(
    ("start", "end"), [("9999-12-30", "9999-12-31"), ("0001-01-01", "0001-01-02")]
)
def test_a_custom_range_at_the_edge_of_the_calendar_says_so(admin_client, org, key, start, end):
    # East of Greenwich (Tokyo keeps its local mean time, +09:18, before 1888), the first day
    # of year 1 starts before any time Python has in UTC; the last day of 9999 ends after it.
    org.timezone = "Asia/Tokyo"
    org.save()
    query = {"range": "custom", "from": start, "to": end}

    for url in (
        f"/keys/{key.pk}/usage/",
        "/billing/usage/",
        f"/billing/usage/teams/{key.team_id}/",
    ):
        response = admin_client.get(url, query)

        assert response.status_code == 200, url
        assert "Choose days after 0001-01-01 and before 9999-12-31." in response.content.decode()
        assert response.context["span"].name == "7d"
    csv = admin_client.get("/billing/usage/", {**query, "format": "csv"})
    assert csv.status_code == 200
    assert csv.content.decode().startswith("start,model,")


def test_an_empty_range_says_so(admin_client, key, usage):
    response = admin_client.get(f"/keys/{key.pk}/usage/?range=custom&from=2025-01-01&to=2025-01-03")

    assert "No usage between 2025-01-01 and 2025-01-03" in response.content.decode()
    assert "usage-data" not in response.content.decode()


def test_csv_has_the_pages_numbers(admin_client, key, usage):
    response = admin_client.get(f"/keys/{key.pk}/usage/?range=7d&format=csv")

    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().splitlines()
    assert lines[0] == "start,model,requests,input_tokens,output_tokens,cost_usd,errors"
    assert lines[1:] == [
        "2026-03-05T00:00:00+00:00,gpt-4o-mini,1,7,3,0.000003,0",
        "2026-03-09T00:00:00+00:00,gpt-4o-mini,1,1000,200,0.000324,0",
        "2026-03-10T00:00:00+00:00,gpt-4o,1,1000,200,0.005400,1",
        "2026-03-10T00:00:00+00:00,gpt-4o-mini,1,1000,200,0.000324,0",
    ]


@pytest.mark.parametrize("model", ['=HYPERLINK("http://evil")', "+1", "-2+3", "@SUM(A1)", "\t=1"])
def test_csv_quotes_a_model_name_a_spreadsheet_would_run(admin_client, key, frozen_now, model):
    ModelPrice.objects.create(
        model=model,
        input_per_million=Decimal("0.15"),
        output_per_million=Decimal("0.60"),
        max_output_tokens=1000,
    )
    record(event(key, "x1", datetime(2026, 3, 10, 9, 15, tzinfo=UTC), model=model))

    for url in (
        f"/keys/{key.pk}/usage/",
        "/billing/usage/",
        f"/billing/usage/teams/{key.team_id}/",
    ):
        body = admin_client.get(url, {"range": "24h", "format": "csv"}).content.decode()

        [header, row] = list(csv.reader(io.StringIO(body, newline="")))
        assert header[1] == "model"
        # The model's name is quoted; the time and the numbers are as they were.
        assert row == [
            "2026-03-10T09:00:00+00:00",
            "'" + model,
            "1",
            "1000",
            "200",
            "0.000324",
            "0",
        ]


def test_org_page_shows_totals_and_top_keys(auditor_client, key, usage):
    response = auditor_client.get("/billing/usage/?range=7d")

    assert response.status_code == 200
    assert response.context["total"].requests == 5
    assert [r["key__name"] for r in response.context["top_by_requests"]] == [
        "billing-prod",
        "platform-key",
    ]
    assert response.context["top_by_cost"][0]["key__name"] == "billing-prod"


def test_team_page_shows_only_the_teams_keys(member_client, team, key, usage):
    response = member_client.get(f"/billing/usage/teams/{team.pk}/?range=7d")

    assert response.status_code == 200
    assert response.context["total"].requests == 4
    assert [r["key__name"] for r in response.context["top_by_cost"]] == ["billing-prod"]


def test_member_sees_their_teams_key_usage_and_404_for_others(
    member_client, key, other_team, usage
):
    assert member_client.get(f"/keys/{key.pk}/usage/").status_code == 200
    assert member_client.get(f"/keys/{usage.pk}/usage/").status_code == 404
    assert member_client.get(f"/billing/usage/teams/{other_team.pk}/").status_code == 404
    assert member_client.get("/billing/usage/").status_code == 403


def test_another_orgs_admin_gets_404(other_org_admin_client, key, team, usage):
    assert other_org_admin_client.get(f"/keys/{key.pk}/usage/").status_code == 404
    assert other_org_admin_client.get(f"/billing/usage/teams/{team.pk}/").status_code == 404


def test_auditor_reads_every_usage_page(auditor_client, key, team, usage):
    for url in (
        f"/keys/{key.pk}/usage/",
        f"/billing/usage/teams/{team.pk}/",
        "/billing/usage/",
        f"/keys/{key.pk}/requests/",
    ):
        assert auditor_client.get(url).status_code == 200, url


def test_key_page_links_to_usage_and_summarises_the_week(admin_client, key, usage):
    response = admin_client.get(f"/keys/{key.pk}/")

    assert response.context["usage"].requests == 4
    assert f"/keys/{key.pk}/usage/" in response.content.decode()


def test_pages_read_the_rollups_not_the_events(admin_client, key, usage):
    UsageHourly.objects.filter(key=key).update(requests=1000)  # 4 rows: hours × models

    assert admin_client.get(f"/keys/{key.pk}/usage/?range=7d").context["total"].requests == 4000
