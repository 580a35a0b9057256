"""Issue 14's key controls through the browser, with screenshots (key-controls-*.png): an IP
allowlist, a temporary increase, a scheduled rotation, a budget for one model and tokens per
minute set in the key form; a limit previewed against last month's use; a canary tripped by the
gateway; a leaked key reported; a hygiene row fixed."""

import json
import urllib.error
import urllib.request
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from billing.usage.models import UsageHourly
from keys.models import Key
from tests.factories import PASSWORD, make_key

pytestmark = pytest.mark.browser

GATEWAY_TOKEN = "browser-walk-gateway-token"


def _authorize(live_server, secret: str, address: str) -> tuple[int, str]:
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/gateway/authorize",
        method="POST",
        data=json.dumps({"model": "gpt-4o-mini"}).encode(),
        headers={
            "X-Gateway-Token": GATEWAY_TOKEN,
            "Authorization": f"Bearer {secret}",
            "X-Forwarded-For": address,
            "User-Agent": "stolen-laptop/1.0",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, ""
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())["error"]["code"]


def test_admin_sets_previews_reports_trips_and_fixes(
    page: Page, live_server, screenshot, sign_in, settings, org, owner_membership, admin_membership
):
    settings.GATEWAY_TOKENS = [GATEWAY_TOKEN]
    key, _ = make_key(org, name="billing-prod", monthly_spend_cap=Decimal("10"))
    for day in range(1, 4):
        UsageHourly.objects.create(
            org=org,
            key=key,
            model="gpt-4o-mini",
            hour=(timezone.now() - timedelta(days=day)).replace(minute=0, second=0, microsecond=0),
            requests=10,
            cost_micros=1_000_000,
        )
    sign_in(admin_membership.user.email, PASSWORD)

    # 1. The allowlist, a temporary increase and a schedule, in the key form.
    page.goto(f"/keys/{key.pk}/edit/")
    page.get_by_label("Allowed addresses").fill("203.0.113.0/24\n2001:db8::/32")
    page.get_by_label("Temporary increase of").select_option("monthly_spend_cap")
    page.get_by_label("By (USD)").fill("5")
    later = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Until").fill(later)
    page.get_by_label("Rotate every (days)").fill("30")
    page.get_by_label("Overlap (hours)").fill("12")

    # 2. Before saving: what would a daily cost limit of $0.50 have refused?
    page.get_by_label("Cost limit (USD)").fill("0.5")
    page.get_by_label("Reset period").select_option("daily")
    page.get_by_role("button", name="What would this have refused?").click()
    expect(page.locator("#preview")).to_contain_text("would have refused about 15, on 3 days")
    screenshot("key-controls-01-preview")
    page.get_by_label("Cost limit (USD)").fill("")
    # 3. A budget for one model, and tokens per minute, saved with the rest.
    page.get_by_label("Budgets per model").fill("gpt-4o-mini: 2.50")
    page.get_by_label("Tokens per minute").fill("40000")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#messages")).to_contain_text("Saved the settings of billing-prod")
    expect(page.locator("body")).to_contain_text("$2.50 per daily period")
    expect(page.locator("body")).to_contain_text("gpt-4o-mini (daily)")
    expect(page.locator("#needs-usage-reports")).to_be_visible()
    expect(page.locator("body")).to_contain_text("203.0.113.0/24")
    expect(page.locator("body")).to_contain_text("every 30 days, 12 h overlap")
    expect(page.locator("body")).to_contain_text("Monthly spend cap + $5.00")
    screenshot("key-controls-02-key-page")
    key.refresh_from_db()
    assert key.allowed_ips == ["203.0.113.0/24", "2001:db8::/32"]
    assert (key.model_budgets, key.tpm_limit) == ({"gpt-4o-mini": "2.500000"}, 40_000)

    # 4. A canary, used by whoever found it: refused like any unknown key, and the page says so.
    canary, planted = make_key(org, name="aws-backup-creds", type="canary")
    assert _authorize(live_server, planted, "198.51.100.23") == (401, "invalid_api_key")
    page.goto(f"/keys/{canary.pk}/")
    expect(page.locator("body")).to_contain_text("someone has it who should not")
    screenshot("key-controls-03-canary")

    # 5. A key found in a repository, reported through the form: disabled and marked.
    leaky, secret = make_key(org, name="leaky-app")
    page.goto("/keys/report-leak/")
    page.get_by_label("The key you found").fill(secret)
    page.get_by_label("Where you found it").fill("https://github.com/acme/app/blob/main/.env")
    page.get_by_role("button", name="Report and disable").click()
    expect(page.locator("#messages")).to_contain_text("Thank you.")
    assert Key.objects.get(pk=leaky.pk).status == "disabled"
    page.goto(f"/keys/{leaky.pk}/")
    expect(page.locator("body")).to_contain_text("Leaked: reported")
    screenshot("key-controls-04-leaked")

    # 6. Hygiene: give the keys without an expiry one, confirming the batch.
    page.goto("/keys/hygiene/")
    screenshot("key-controls-05-hygiene")
    page.locator("#no_expiry").get_by_role("button", name="an expiry in 90 days").click()
    expect(page.get_by_role("heading", name="an expiry?")).to_be_visible()
    page.get_by_role("button", name="Expire").click()
    expect(page.locator("#messages")).to_contain_text("Gave an expiry to")
    assert Key.objects.get(pk=key.pk).expires_at is not None
    screenshot("key-controls-06-fixed")
