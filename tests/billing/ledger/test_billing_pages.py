from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.ledger.models import ModelPrice, Plan, Wallet, WalletEntry
from billing.limits.models import Counter
from tests.factories import TeamFactory, make_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def priced(org):
    cheap = ModelPrice.objects.create(
        model="gpt-4o-mini",
        input_per_million=Decimal("0.15"),
        output_per_million=Decimal("0.60"),
        max_output_tokens=16384,
    )
    ModelPrice.objects.create(
        model="gpt-4o",
        input_per_million=Decimal("2.50"),
        output_per_million=Decimal("10.00"),
        max_output_tokens=16384,
    )
    plan = Plan.objects.create(name="pro", price_multiplier=Decimal("1.20"))
    plan.models.set([cheap])
    org.plan = plan
    org.save()
    Wallet.objects.create(org=org, balance_micros=123_450_000, held_micros=1_000_000)
    return plan


def _entry(org, n, kind="top_up", amount=1_000_000):
    return WalletEntry.objects.create(
        org=org,
        kind=kind,
        amount_micros=amount,
        balance_after_micros=amount * n,
        reason=f"entry {n}",
        reference=f"ref-{n}",
    )


def test_overview_shows_balance_held_amount_plan_and_the_plans_prices(admin_client, org, priced):
    page = admin_client.get(reverse("billing:overview")).content.decode()

    assert "$123.45" in page
    assert "$1.00 is held for requests in flight" in page
    assert "<strong>pro</strong>" in page and "× 1.2" in page
    assert "gpt-4o-mini" in page
    assert "<code>gpt-4o</code>" not in page  # not in the plan


def test_an_empty_wallet_says_what_the_gateway_will_answer(admin_client, org):
    Wallet.objects.create(org=org, balance_micros=0)

    assert "billing_shortfall" in admin_client.get(reverse("billing:overview")).content.decode()


def test_ledger_lists_entries_newest_first_and_filters_by_kind(admin_client, org):
    _entry(org, 1)
    _entry(org, 2, kind="usage_debit", amount=-250_000)
    _entry(org, 3, kind="adjustment", amount=5_000_000)

    page = admin_client.get(reverse("billing:ledger")).content.decode()
    assert page.index("entry 3") < page.index("entry 2") < page.index("entry 1")

    debits = admin_client.get(reverse("billing:ledger"), {"kind": "usage_debit"}).content.decode()
    assert "entry 2" in debits and "entry 1" not in debits and "entry 3" not in debits
    assert "-$0.25" in debits


def test_ledger_pages_by_keyset_without_repeats(admin_client, org):
    for n in range(1, 121):
        _entry(org, n)

    seen, url = [], reverse("billing:ledger")
    while url:
        response = admin_client.get(url)
        seen += [e.reason for e in response.context["entries"]]
        older = response.context["pager"].next
        url = reverse("billing:ledger") + older if older else None
    assert seen == [f"entry {n}" for n in range(120, 0, -1)]


def test_caps_overview_lists_capped_keys_most_used_first_with_period_end(admin_client, org):
    now = timezone.now()
    low, _ = make_key(org, name="a-little", monthly_spend_cap=Decimal("100"))
    high, _ = make_key(org, name="z-nearly-all", cost_limit=Decimal("10"), limit_period="daily")
    tokens, _ = make_key(org, name="m-tokens", token_limit=1_000)
    make_key(org, name="uncapped")
    Counter.objects.create(
        org=org,
        key=low,
        kind="month",
        period_start=now,
        period_end=now + timedelta(days=5),
        spend_micros=10_000_000,
    )
    Counter.objects.create(
        org=org,
        key=high,
        kind="limit",
        period_start=now,
        period_end=now + timedelta(hours=5),
        spend_micros=9_000_000,
    )

    Counter.objects.create(
        org=org,
        key=tokens,
        kind="limit",
        period_start=now,
        period_end=now + timedelta(days=5),
        tokens=500,
    )

    response = admin_client.get(reverse("billing:caps"))
    page = response.content.decode()

    assert [key.name for key, _ in response.context["rows"]] == [
        "z-nearly-all",
        "m-tokens",
        "a-little",
    ]
    assert "uncapped" not in page
    assert 'aria-label="90% used"' in page and 'aria-label="10% used"' in page
    by_name = admin_client.get(reverse("billing:caps"), {"sort": "name"})
    assert [key.name for key, _ in by_name.context["rows"]] == [
        "a-little",
        "m-tokens",
        "z-nearly-all",
    ]


def test_caps_overview_counts_an_ended_period_as_zero(admin_client, org):
    now = timezone.now()
    key, _ = make_key(org, name="old", monthly_spend_cap=Decimal("10"))
    Counter.objects.create(
        org=org,
        key=key,
        kind="month",
        period_start=now - timedelta(days=40),
        period_end=now - timedelta(days=9),
        spend_micros=10_000_000,
    )

    assert 'aria-label="0% used"' in admin_client.get(reverse("billing:caps")).content.decode()


def test_caps_overview_shows_team_limits(admin_client, org):
    team = TeamFactory(org=org, name="Search", spend_cap=Decimal("40"))
    Counter.objects.create(
        org=org,
        team=team,
        kind="limit",
        period_start=timezone.now(),
        period_end=timezone.now() + timedelta(days=2),
        spend_micros=20_000_000,
    )

    page = admin_client.get(reverse("billing:caps")).content.decode()

    assert "Search" in page and "<strong>$20.00</strong> of $40.00" in page


@pytest.mark.parametrize("keys", [3, 40])
def test_caps_overview_query_count_does_not_grow_with_keys(
    admin_client, org, keys, django_assert_max_num_queries
):
    for n in range(keys):
        make_key(
            org,
            name=f"k{n}",
            monthly_spend_cap=Decimal("5"),
            team=TeamFactory(org=org, spend_cap=Decimal("9")),
        )
    # Besides the page's own: the last week's spend of the page's keys, of the teams and of the
    # org, and the wallet (the forecasts): four more, however many keys.
    with django_assert_max_num_queries(12):
        assert admin_client.get(reverse("billing:caps")).status_code == 200


@pytest.mark.parametrize("page", ["billing:overview", "billing:ledger", "billing:caps"])
def test_auditor_reads_billing_pages(auditor_client, org, page):
    assert auditor_client.get(reverse(page)).status_code == 200


@pytest.mark.parametrize("page", ["billing:overview", "billing:ledger", "billing:caps"])
def test_member_gets_403_on_billing_pages(member_client, page):
    assert member_client.get(reverse(page)).status_code == 403


def test_other_orgs_entries_never_show(other_org_admin_client, org):
    _entry(org, 1)

    page = other_org_admin_client.get(reverse("billing:ledger")).content.decode()

    assert "entry 1" not in page
