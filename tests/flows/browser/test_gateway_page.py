"""The gateway page through the browser: an admin finds it in the navigation, reads the health
of the org's gateway (with its per-minute chart drawn) and the warning of a gateway that does not
report usage, and the commands to connect one with this console's address filled in."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from billing.usage import traffic
from billing.usage.models import TrafficKind
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def test_an_admin_reads_the_gateway_health_and_how_to_connect(
    page: Page, sign_in, screenshot, admin_membership, live_server, settings
):
    settings.HOLD_TTL = 600
    org = admin_membership.org
    now = timezone.now()
    meter = traffic.TrafficMeter()
    for minutes, allowed in ((40, 12), (25, 30), (3, 18)):
        meter.count(
            org.pk, TrafficKind.AUTHORIZE, "allowed", allowed, now=now - timedelta(minutes=minutes)
        )
    meter.count(
        org.pk, TrafficKind.AUTHORIZE, "rate_limit_exceeded", 4, now=now - timedelta(minutes=3)
    )
    meter.count(org.pk, TrafficKind.USAGE, "recorded", 12, now=now - timedelta(minutes=39))
    meter.flush()

    sign_in(admin_membership.user.email, PASSWORD)
    page.get_by_role("link", name="Gateway", exact=True).click()

    expect(page.get_by_role("heading", name="Gateway", exact=True)).to_be_visible()
    expect(page.get_by_text("Not reporting usage")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text(
        "30 requests allowed more than 10 minutes ago have no usage event"
    )
    expect(page.locator(".stat").first).to_contain_text("60")
    expect(page.locator(".uplot")).to_be_visible()
    expect(page.locator("pre.config").first).to_contain_text(f"CONSOLE={live_server.url}")
    expect(page.locator("pre.config").first).to_contain_text("deploy/traefik/run")
    screenshot("gateway-page")
