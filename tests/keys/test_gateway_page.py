"""The gateway page: how to connect a gateway (this console's address filled in, never a gateway
token) and whether the org's gateway is healthy: decisions and usage events per minute, open
holds, the last usage event, and a warning when allowed requests go unreported."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.limits.models import Hold
from billing.usage import traffic
from billing.usage.models import TrafficKind
from tests.factories import OrgFactory, make_key

pytestmark = pytest.mark.django_db


def _count(org, outcome, n, *, ago=timedelta(0), kind=TrafficKind.AUTHORIZE):
    traffic.meter.count(org.pk, kind, outcome, n, now=timezone.now() - ago)
    traffic.meter.flush()


def test_an_org_without_traffic_sees_how_to_connect(owner_client, settings):
    settings.GATEWAY_TOKENS = ["gw-secret-token-value"]

    response = owner_client.get("/gateway/")

    assert response.status_code == 200
    text = response.content.decode()
    assert "No traffic" in text
    assert "No request reached this console from a gateway in the last hour" in text
    assert "CONSOLE=http://testserver" in text
    assert "deploy/traefik/run" in text and "deploy/Caddyfile" in text
    assert "&lt;your gateway token&gt;" in text
    assert "gw-secret-token-value" not in text


def test_the_figures_of_the_last_hour_are_shown(owner_client, org):
    _count(org, "allowed", 40)
    _count(org, "allowed_no_model", 2)
    _count(org, "rate_limit_exceeded", 3, ago=timedelta(minutes=20))
    _count(org, "recorded", 40, kind=TrafficKind.USAGE)
    _count(org, "allowed", 1000, ago=timedelta(hours=2))  # before the hour shown

    response = owner_client.get("/gateway/")

    health = response.context["health"]
    assert (health.traffic.allowed, health.traffic.denied, health.traffic.recorded) == (42, 3, 40)
    assert health.status == "healthy"
    rows = {
        (kind, outcome): (m1, m15, m60) for kind, outcome, m1, m15, m60 in health.traffic.rows()
    }
    assert rows[("authorize", "rate_limit_exceeded")] == (0, 0, 3)
    assert rows[("usage", "recorded")][2] == 40
    assert response.context["chart"]["names"] == ["Allowed", "Denied", "Usage events"]
    assert sum(response.context["chart"]["series"][0]) == 42
    text = response.content.decode()
    assert "Healthy" in text
    assert "<code>rate_limit_exceeded</code>" in text


def test_open_holds_and_the_oldest_are_shown(owner_client, org, settings):
    key, _ = make_key(org, name="held")
    now = timezone.now()
    for n, age in enumerate((timedelta(minutes=3), timedelta(seconds=5))):
        Hold.objects.create(
            org=org,
            request_id=f"req_{n}",
            key=key,
            amount_micros=10,
            created_at=now - age,
            expires_at=now + timedelta(minutes=5),
        )
    Hold.objects.create(
        org=org,
        request_id="req_closed",
        key=key,
        amount_micros=10,
        created_at=now - timedelta(hours=1),
        expires_at=now,
        closed_at=now,
    )

    health = owner_client.get("/gateway/").context["health"]

    assert health.open_holds == 2
    assert (
        now - timedelta(minutes=3, seconds=1) < health.oldest_hold_at < now - timedelta(minutes=2)
    )
    assert not health.stale_holds


def test_a_hold_nothing_released_says_to_check_the_release_task(owner_client, org, settings):
    settings.HOLD_TTL = 600
    key, _ = make_key(org, name="held")
    now = timezone.now()
    Hold.objects.create(
        org=org,
        request_id="req_stuck",
        key=key,
        amount_micros=10,
        created_at=now - timedelta(minutes=30),
        expires_at=now - timedelta(minutes=20),
    )

    response = owner_client.get("/gateway/")

    assert response.context["health"].stale_holds
    assert "Check that Celery beat and a worker are running" in response.content.decode()


def test_a_gateway_that_does_not_report_usage_is_named_as_such(owner_client, org, settings):
    settings.HOLD_TTL = 600
    _count(org, "allowed", 25, ago=timedelta(minutes=30))
    _count(org, "allowed", 5)

    response = owner_client.get("/gateway/")

    assert response.context["health"].unreported == 25
    assert response.context["health"].status == "not_reporting"
    text = response.content.decode()
    assert "Not reporting usage" in text
    assert "25 requests allowed more than 10 minutes ago have no usage event" in text
    assert "none has ever arrived" in text


def test_usage_after_the_allowed_requests_means_the_gateway_reports(owner_client, org, settings):
    settings.HOLD_TTL = 600
    _count(org, "allowed", 25, ago=timedelta(minutes=30))
    _count(org, "recorded", 25, ago=timedelta(minutes=29), kind=TrafficKind.USAGE)

    response = owner_client.get("/gateway/")

    assert response.context["health"].status == "healthy"
    assert "no usage event" not in response.content.decode()


def test_another_orgs_traffic_is_not_shown(owner_client, org):
    other = OrgFactory(name="Globex", slug="globex")
    _count(other, "allowed", 7)

    health = owner_client.get("/gateway/").context["health"]

    assert health.traffic.allowed == 0


def test_the_page_reads_in_a_fixed_number_of_queries(
    owner_client, org, django_assert_max_num_queries
):
    for n in range(30):
        _count(org, "allowed", n + 1, ago=timedelta(minutes=n))
        _count(org, f"code_{n}", 1, ago=timedelta(minutes=n))

    with django_assert_max_num_queries(12):
        response = owner_client.get("/gateway/")

    assert response.status_code == 200


def test_the_nav_links_to_the_page(owner_client):
    assert 'href="/gateway/"' in owner_client.get("/keys/").content.decode()


def test_a_decision_of_authorize_shows_on_the_page(owner_client, org, client, settings):
    from tests.support.gateway import call_authorize

    settings.GATEWAY_TOKENS = ["gw-token"]
    _, secret = make_key(org, name="live")

    # This org has no price list: the model is refused, and the refusal is counted.
    call_authorize(client, secret, token="gw-token", model="gpt-4o-mini")
    traffic.meter.flush()

    health = owner_client.get("/gateway/").context["health"]
    assert health.traffic.decisions["model_not_allowed"][-1] == 1
