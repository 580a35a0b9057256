"""The usage and audit pages through the browser, as a member and as an auditor (issue 6):
a member sees their own team's usage and nothing of another team's; an auditor reads and
exports everything and changes nothing."""

import csv
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from audit import Actor
from audit.models import AuditEvent
from billing.ledger import services as billing_services
from billing.ledger.models import ModelPrice, WalletEntry
from billing.money import display
from billing.usage.services import record_batch
from keys import services as key_services
from keys.models import Key
from tests.factories import PASSWORD, make_key

pytestmark = pytest.mark.browser

PRICES = {
    "gpt-4o-mini": (Decimal("0.15"), Decimal("0.60")),
    "gpt-4o": (Decimal("2.50"), Decimal("10.00")),
}
TESTS = Actor.system("tests")


@dataclass
class Usage:
    """What was recorded for one key, summed from record_batch's own outcomes."""

    request_ids: list[str] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    errors: int = 0
    cost: Decimal = Decimal(0)

    def totals(self) -> list[str]:
        """The cells of a usage table's Total row: requests, tokens in/out, cost, errors."""
        return [
            f"{len(self.request_ids):,}",
            f"{self.input_tokens:,}",
            f"{self.output_tokens:,}",
            display(self.cost),
            f"{self.errors:,}",
        ]


def _record_usage(key: Key, prefix: str, count: int, now: datetime) -> Usage:
    """`count` events of `key`, one every 3 hours back from now (all within the last 7 days),
    over two models, every seventh one an error, recorded as the gateway reports them."""
    events = []
    for i in range(count):
        events.append(
            {
                "request_id": f"{prefix}-{i:03d}",
                "key_id": str(key.pk),
                "model": "gpt-4o" if i % 3 == 0 else "gpt-4o-mini",
                "input_tokens": 1_000 + 37 * i,
                "output_tokens": 200 + 11 * i,
                "status_code": 500 if i % 7 == 6 else 200,
                "latency_ms": 100 + i,
                "occurred_at": (now - timedelta(hours=1 + 3 * i)).isoformat(),
            }
        )
    result = record_batch(events, now=now)
    assert result.count("recorded") == count, [o.as_dict() for o in result.outcomes]
    usage = Usage()
    for event, outcome in zip(events, result.outcomes, strict=True):
        usage.request_ids.append(event["request_id"])
        usage.input_tokens += event["input_tokens"]
        usage.output_tokens += event["output_tokens"]
        usage.errors += event["status_code"] >= 400
        usage.cost += outcome.cost
    return usage


@pytest.fixture
def usage_world(org, team, other_team):
    """Prices, a funded wallet, a key in each team and a few dozen events of each key."""
    for model, (price_in, price_out) in PRICES.items():
        ModelPrice.objects.create(
            model=model,
            input_per_million=price_in,
            output_per_million=price_out,
            max_output_tokens=16_000,
        )
    billing_services.top_up_wallet(org=org, actor=TESTS, amount=Decimal("500"), reason="tests")
    own_key, _ = make_key(org, name="search-prod", team=team)
    other_key, _ = make_key(org, name="platform-prod", team=other_team)
    spare_key, _ = make_key(org, name="platform-batch", team=other_team)
    key_services.disable_key(key=spare_key, actor=TESTS)
    now = datetime.now(UTC)
    return {
        "own_key": own_key,
        "other_key": other_key,
        "spare_key": spare_key,
        "own_usage": _record_usage(own_key, "req-search", 30, now),
        "other_usage": _record_usage(other_key, "req-platform", 18, now),
    }


def _total_row(page: Page) -> list[str]:
    """The Total row of the first usage table ("By model"), without its label."""
    cells = page.locator(".usage-table").first.locator("tfoot th")
    return [text.strip() for text in cells.all_inner_texts()[1:]]


def _expect_charts(page: Page) -> None:
    # uPlot draws each of the three charts into a canvas of its own.
    expect(page.locator(".charts [data-usage-chart] canvas")).to_have_count(3)
    for chart in page.locator(".charts [data-usage-chart]").all():
        box = chart.locator("canvas").bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100


def test_member_walks_their_teams_usage_and_cannot_reach_another_teams(
    page: Page, live_server, screenshot, sign_in, team, other_team, member_membership, usage_world
):
    own_key, other_key = usage_world["own_key"], usage_world["other_key"]
    own_usage, other_usage = usage_world["own_usage"], usage_world["other_usage"]

    # 1. Keys: only team A's.
    sign_in(member_membership.user.email, PASSWORD, screenshot_name="member-usage-01-sign-in")
    table = page.locator("#keys-table tbody")
    expect(table).to_contain_text("search-prod")
    expect(table).not_to_contain_text("platform-")
    expect(page.locator("#keys-table tbody tr")).to_have_count(1)
    screenshot("member-usage-02-keys")

    # 2. Team A's key page, with the last 7 days' summary.
    table.get_by_role("link", name="search-prod").click()
    expect(page.get_by_role("heading", name="search-prod")).to_be_visible()
    expect(page.locator("dl.facts").filter(has_text="Requests, last 7 days")).to_contain_text(
        f"{len(own_usage.request_ids)} ({own_usage.errors} with errors)"
    )
    screenshot("member-usage-03-key-page")

    # 3. Its usage page: three charts, and the totals are the sums of the events made.
    page.get_by_role("link", name="Usage over time").click()
    expect(page).to_have_url(f"{live_server.url}/keys/{own_key.pk}/usage/")
    expect(page.get_by_role("heading", name="Usage of search-prod")).to_be_visible()
    _expect_charts(page)
    assert _total_row(page) == own_usage.totals()
    stats = [t.strip() for t in page.locator(".stat-value").all_inner_texts()]
    assert stats == own_usage.totals()
    # "Over time" sums to the same total.
    over_time = page.locator(".usage-table").nth(1).locator("tfoot th")
    assert [t.strip() for t in over_time.all_inner_texts()[1:]] == own_usage.totals()
    screenshot("member-usage-04-key-usage")

    # 4. Its recent requests: every one of its events, none of the other team's.
    page.get_by_role("link", name="Recent requests").click()
    expect(page.get_by_role("heading", name="Recent requests of search-prod")).to_be_visible()
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(len(own_usage.request_ids))
    expect(rows.first).to_contain_text(own_usage.request_ids[0])  # newest first
    assert "req-platform" not in page.content()
    screenshot("member-usage-05-key-requests")

    # 5. The request lookup: a request of team A's key is found ...
    own_request = own_usage.request_ids[3]
    page.get_by_label("Find a request by its id").fill(own_request)
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("heading", name=f"Request {own_request}")).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text("search-prod")
    expect(page.locator("dl.facts")).to_contain_text(team.name)
    screenshot("member-usage-06-request-found")

    # ... one of team B's key is not: a 404 that names nothing of it.
    other_request = other_usage.request_ids[3]
    page.get_by_label("Find a request by its id").fill(other_request)
    with page.expect_response(lambda r: "/billing/usage/requests/" in r.url) as looked_up:
        page.get_by_role("button", name="Find").click()
    assert looked_up.value.status == 404
    expect(page.locator(".empty-usage")).to_contain_text(
        f"No request with the id {other_request} among the keys you can see."
    )
    assert "platform-prod" not in page.content()
    screenshot("member-usage-07-request-of-other-team")

    # 6. Team A's page and its usage page: the team's only key, so the same totals.
    page.goto(f"/teams/{team.pk}/")
    expect(page.get_by_role("heading", name=team.name)).to_be_visible()
    screenshot("member-usage-08-team-page")
    page.get_by_role("link", name="Usage", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/billing/usage/teams/{team.pk}/")
    expect(page.get_by_role("heading", name=f"Usage of {team.name}")).to_be_visible()
    _expect_charts(page)
    assert _total_row(page) == own_usage.totals()
    screenshot("member-usage-09-team-usage")

    # 7. Team B's key page, its usage page and team B's usage page: 404 each.
    for number, url in [
        ("10", f"/keys/{other_key.pk}/"),
        ("11", f"/keys/{other_key.pk}/usage/"),
        ("12", f"/keys/{other_key.pk}/requests/"),
        ("13", f"/billing/usage/teams/{other_team.pk}/"),
        ("14", f"/teams/{other_team.pk}/"),
    ]:
        response = page.goto(url)
        assert response.status == 404, url
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        content = page.content()
        assert "platform-prod" not in content and other_team.name not in content, url
        slug = url.strip("/").replace("/", "-").replace(str(other_key.pk), "b-key")
        screenshot(f"member-usage-{number}-{slug.replace(str(other_team.pk), 'b')}")


def _db_state(org) -> dict:
    return {
        # The auditor's own sign-in is recorded (user.*); nothing else may be.
        "audit_events": AuditEvent.objects.filter(org=org)
        .exclude(action__startswith="user.")
        .count(),
        "keys": Key.objects.filter(org=org).count(),
        "wallet_entries": WalletEntry.objects.filter(org=org).count(),
        "statuses": dict(Key.objects.filter(org=org).values_list("pk", "status")),
    }


def test_auditor_reads_and_exports_everything_and_changes_nothing(
    page: Page, live_server, screenshot, sign_in, org, team, auditor_membership, usage_world
):
    own_key, spare_key = usage_world["own_key"], usage_world["spare_key"]
    own_usage, other_usage = usage_world["own_usage"], usage_world["other_usage"]
    before = _db_state(org)

    # 1. Keys of every team, without a "New key" button or status toggles.
    sign_in(auditor_membership.user.email, PASSWORD, screenshot_name="auditor-01-sign-in")
    table = page.locator("#keys-table tbody")
    for name in ["search-prod", "platform-prod", "platform-batch"]:
        expect(table).to_contain_text(name)
    expect(page.get_by_role("link", name="New key")).to_have_count(0)
    expect(page.get_by_role("switch")).to_have_count(0)
    expect(page.locator("#keys-table input[type=checkbox]")).to_have_count(0)
    expect(page.locator(f"#key-row-{spare_key.pk} .badge")).to_have_text("Disabled")
    screenshot("auditor-02-keys")

    # 2. A key page without Settings, Rotate, Disable, Delete.
    table.get_by_role("link", name="search-prod").click()
    expect(page.get_by_role("heading", name="search-prod")).to_be_visible()
    for name in ["Settings", "Rotate", "Disable", "Enable", "Delete"]:
        expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)
    expect(page.locator("code.action").first).to_have_text("key.created")
    screenshot("auditor-03-key-page")
    assert page.goto(f"/keys/{own_key.pk}/edit/").status == 403
    assert page.goto("/keys/new/").status == 403

    # 3. The org's usage: both keys' events, in charts and tables, and the top keys.
    page.goto("/billing/usage/")
    expect(page.get_by_role("heading", name=f"Usage of {org.name}")).to_be_visible()
    _expect_charts(page)
    both = Usage(
        request_ids=own_usage.request_ids + other_usage.request_ids,
        input_tokens=own_usage.input_tokens + other_usage.input_tokens,
        output_tokens=own_usage.output_tokens + other_usage.output_tokens,
        errors=own_usage.errors + other_usage.errors,
        cost=own_usage.cost + other_usage.cost,
    )
    assert _total_row(page) == both.totals()
    top = page.locator("section", has=page.get_by_role("heading", name="Top keys by requests"))
    expect(top.locator("tbody tr").first).to_contain_text("search-prod")
    expect(top.locator("tbody tr").nth(1)).to_contain_text("platform-prod")
    screenshot("auditor-04-org-usage")

    # 4. Billing: overview, ledger, caps.
    page.get_by_role("navigation", name="Billing").get_by_role("link", name="Overview").click()
    expect(page).to_have_url(f"{live_server.url}/billing/")
    expect(page.get_by_role("heading", name="Billing", exact=True)).to_be_visible()
    screenshot("auditor-05-billing-overview")
    page.get_by_role("navigation", name="Billing").get_by_role("link", name="Ledger").click()
    expect(page).to_have_url(f"{live_server.url}/billing/ledger/")
    expect(page.locator("#ledger-table")).to_contain_text("tests")  # the top-up's reason
    screenshot("auditor-06-ledger")
    page.get_by_role("navigation", name="Billing").get_by_role("link", name="Caps").click()
    expect(page).to_have_url(f"{live_server.url}/billing/caps/")
    expect(page.locator("#caps-table")).to_be_visible()
    screenshot("auditor-07-caps")

    # 5. Alerts and their settings, which the auditor may read but not save.
    page.goto("/billing/alerts/")
    expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
    screenshot("auditor-08-alerts")
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Alert settings")).to_be_visible()
    expect(page.get_by_text("Only owners and admins can change these settings.")).to_be_visible()
    expect(page.get_by_role("button", name="Save alert settings")).to_have_count(0)
    for field_name in ["wallet_below", "cap_at_80", "cap_at_100", "email", "webhook_url"]:
        expect(page.locator(f"form [name={field_name}]")).to_be_disabled()
    expect(page.get_by_role("link", name="Regenerate…")).to_have_count(0)
    screenshot("auditor-09-alert-settings")

    # 6. The audit log; the chain holds.
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    total_events = AuditEvent.objects.filter(org=org).count()
    expect(page.locator("#audit-table code.action")).to_have_count(min(total_events, 50))
    screenshot("auditor-10-audit-log")
    page.get_by_role("button", name="Check the chain").click()
    expect(page.locator("#chain-check")).to_contain_text(
        f"The whole chain holds: {total_events} events checked."
    )
    screenshot("auditor-11-chain-holds")

    # 7. Both exports of the whole log: every event, once.
    with page.expect_download() as csv_download:
        page.locator("#audit-table").get_by_role("link", name="CSV").click()
    assert csv_download.value.suggested_filename.startswith(f"audit-{org.slug}-")
    assert csv_download.value.suggested_filename.endswith(".csv")
    with open(csv_download.value.path(), encoding="utf-8", newline="") as file:
        csv_rows = list(csv.DictReader(file))
    assert len(csv_rows) == total_events
    assert [int(row["seq"]) for row in csv_rows] == list(range(1, total_events + 1))
    assert {"seq", "action", "prev_hash", "hash"} <= set(csv_rows[0])

    with page.expect_download() as jsonl_download:
        page.locator("#audit-table").get_by_role("link", name="JSON Lines").click()
    assert jsonl_download.value.suggested_filename.endswith(".jsonl")
    with open(jsonl_download.value.path(), encoding="utf-8") as file:
        lines = [json.loads(line) for line in file if line.strip()]
    assert len(lines) == AuditEvent.objects.filter(org=org).count() == total_events
    assert {line["org_id"] for line in lines} == {str(org.pk)}
    assert [line["seq"] for line in lines] == [int(row["seq"]) for row in csv_rows]

    # 8. Filtered by action: only the keys' creations, and the export follows the filter.
    created = AuditEvent.objects.filter(org=org, action="key.created").count()
    assert 0 < created < total_events
    page.locator("input[name=action]").fill("key.created")
    page.locator("input[name=action]").press("Enter")
    expect(page).to_have_url(re.compile(r"/audit/\?.*\baction=key\.created\b"))
    expect(page.locator("#audit-table code.action")).to_have_text(["key.created"] * created)
    screenshot("auditor-12-audit-filtered")
    with page.expect_download() as filtered_download:
        page.locator("#audit-table").get_by_role("link", name="JSON Lines").click()
    filtered = filtered_download.value.path().read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["action"] for line in filtered] == ["key.created"] * created

    # 9. Nothing changed: the same events, keys, ledger entries and key statuses.
    assert _db_state(org) == before
