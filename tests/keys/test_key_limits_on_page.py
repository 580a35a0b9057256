from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.limits.models import Counter
from tests.factories import make_key

pytestmark = pytest.mark.django_db


def _page(client, key) -> str:
    return client.get(reverse("keys:detail", args=[key.pk])).content.decode()


def test_key_page_shows_each_limit_against_its_use_this_period(admin_client, org):
    key, _ = make_key(
        org, name="capped", monthly_spend_cap=Decimal("100"), token_limit=10_000, rpm_limit=60
    )
    Counter.objects.create(
        org=org,
        key=key,
        kind="month",
        period_start=timezone.now(),
        period_end=timezone.now() + timedelta(days=3),
        spend_micros=25_500_000,
    )
    Counter.objects.create(
        org=org,
        key=key,
        kind="limit",
        period_start=timezone.now(),
        period_end=timezone.now() + timedelta(days=3),
        tokens=9_000,
    )

    page = _page(admin_client, key)

    assert "<strong>$25.50</strong> of $100.00" in page
    assert 'aria-label="25% used"' in page
    assert "<strong>9,000</strong> of 10,000" in page
    assert 'aria-label="90% used"' in page
    assert "Requests per minute" in page


def test_an_ended_period_counts_as_zero_on_the_key_page(admin_client, org):
    key, _ = make_key(org, name="old", monthly_spend_cap=Decimal("10"))
    Counter.objects.create(
        org=org,
        key=key,
        kind="month",
        period_start=timezone.now() - timedelta(days=40),
        period_end=timezone.now() - timedelta(days=9),
        spend_micros=10_000_000,
    )

    page = _page(admin_client, key)

    assert "<strong>$0.00</strong> of $10.00" in page
    assert 'aria-label="0% used"' in page


def test_a_key_without_limits_says_so(admin_client, org):
    key, _ = make_key(org, name="legacy")

    assert "has no spend, cost, token or rate limits" in _page(admin_client, key)
