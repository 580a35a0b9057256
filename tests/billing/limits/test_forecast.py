"""When a cap or the wallet runs out at the last week's pace (billing.limits.forecast, from the
hourly rollups): exact integer arithmetic, shown on the key page and on the caps overview."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.ledger.models import Wallet
from billing.limits.forecast import before, runs_out
from billing.usage.models import UsageHourly
from billing.usage.rollups import floor_hour, week_spend
from tests.factories import make_key
from tests.support.gateway import set_counter

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_what_is_left_over_the_weeks_pace():
    assert runs_out(70_000_000, 70_000_000, NOW) == NOW + timedelta(days=7)
    assert runs_out(10_000_000, 70_000_000, NOW) == NOW + timedelta(days=1)
    assert runs_out(1, 3, NOW) == NOW + timedelta(seconds=7 * 86_400 // 3)
    assert runs_out(0, 70, NOW) == NOW  # nothing left
    assert runs_out(-5, 70, NOW) == NOW
    assert runs_out(70, 0, NOW) is None  # nothing spent: never, at this pace


def test_before_the_reset():
    assert before(NOW, NOW + timedelta(days=1))
    assert not before(NOW + timedelta(days=2), NOW + timedelta(days=1))
    assert before(NOW, None)  # a period that never resets
    assert not before(None, NOW)


def _spent(key, dollars: str, *, hours_ago: int):
    UsageHourly.objects.create(
        org=key.org,
        key=key,
        team=key.team,
        model="gpt-4o-mini",
        hour=floor_hour(timezone.now()) - timedelta(hours=hours_ago),
        requests=1,
        cost_micros=int(Decimal(dollars) * 1_000_000),
    )


@pytest.mark.django_db
def test_the_weeks_spend_counts_seven_days_of_rollups(org):
    key, _ = make_key(org, name="k")
    _spent(key, "3", hours_ago=1)
    _spent(key, "4", hours_ago=24 * 6)
    _spent(key, "100", hours_ago=24 * 8)

    now = timezone.now()
    assert week_spend(org.pk, by="key", ids=[key.pk], now=now) == {key.pk: 7_000_000}
    assert week_spend(org.pk, by=None, now=now) == {None: 7_000_000}


@pytest.mark.django_db
def test_the_key_page_says_when_a_cap_runs_out_before_it_resets(admin_client, org):
    key, _ = make_key(org, name="busy", monthly_spend_cap=Decimal("10"))
    set_counter(key=key, kind="month", spend="5")
    _spent(key, "7", hours_ago=2)  # $1 a day: the $5 left last 5 days

    page = admin_client.get(reverse("keys:detail", args=[key.pk])).content.decode()

    expected = (timezone.now() + timedelta(days=5)).date().isoformat()
    assert f"runs out {expected}, before it resets" in page


@pytest.mark.django_db
def test_the_caps_overview_forecasts_keys_and_the_wallet(admin_client, org):
    key, _ = make_key(org, name="busy", monthly_spend_cap=Decimal("1000"))
    make_key(org, name="idle", monthly_spend_cap=Decimal("10"))
    Wallet.objects.update_or_create(org=org, defaults={"balance_micros": 70_000_000})
    _spent(key, "70", hours_ago=3)  # $10 a day

    page = admin_client.get(reverse("billing:caps")).content.decode()

    assert "lasts until it resets" in page  # $1,000 at $10 a day outlasts the month
    assert "no spend in the last week" in page  # the idle key
    wallet_day = (timezone.now() + timedelta(days=7)).date().isoformat()
    assert f"runs out around <strong>{wallet_day}</strong>" in page


def _forecasts():
    from billing.alerts.evaluation import evaluate

    return evaluate(now=timezone.now(), forecasts=True)


def _alerts(org):
    from billing.alerts.models import Alert

    return list(Alert.objects.filter(org=org, kind="runs_out").order_by("subject"))


@pytest.mark.django_db
def test_a_key_cap_spent_before_its_reset_alerts_once_a_period(org):
    key, _ = make_key(org, name="busy", monthly_spend_cap=Decimal("10"))
    set_counter(key=key, kind="month", spend="5")
    _spent(key, "7", hours_ago=2)  # gone in 5 days; the month resets later

    assert len(_forecasts()) == 1
    assert _forecasts() == []  # the same period: raised before

    (alert,) = _alerts(org)
    assert alert.subject == f"{key.pk}/monthly_spend_cap"
    assert "key “busy”" in alert.message and "monthly spend cap runs out around" in alert.message


@pytest.mark.django_db
def test_a_pace_that_lasts_past_the_reset_raises_nothing(org):
    key, _ = make_key(org, name="slow", monthly_spend_cap=Decimal("1000"))
    _spent(key, "1", hours_ago=2)

    assert _forecasts() == []


@pytest.mark.django_db
def test_a_team_cap_and_the_wallet_forecast_too(org):
    from tests.factories import TeamFactory

    team = TeamFactory(org=org, name="Search", spend_cap=Decimal("10"))
    key, _ = make_key(org, name="member-key", team=team)
    set_counter(team=team, kind="limit", spend="5")
    Wallet.objects.update_or_create(org=org, defaults={"balance_micros": 20_000_000})
    _spent(key, "14", hours_ago=2)  # $2 a day: the team's $5 in 2.5 days, the wallet's $20 in 10

    _forecasts()

    (team_alert,) = _alerts(org)
    assert team_alert.subject == f"{team.pk}/team_spend_cap"

    Wallet.objects.filter(org=org).update(balance_micros=10_000_000)  # 5 days now
    _forecasts()
    assert {a.subject.partition("/")[2] for a in _alerts(org)} == {"team_spend_cap", "wallet"}


@pytest.mark.django_db
def test_forecasts_follow_the_80_percent_setting_and_not_the_minute_evaluation(org):
    from billing.alerts.evaluation import evaluate
    from billing.alerts.models import AlertSettings

    key, _ = make_key(org, name="busy", monthly_spend_cap=Decimal("10"))
    set_counter(key=key, kind="month", spend="5")
    _spent(key, "7", hours_ago=2)

    assert not [a for a in evaluate(now=timezone.now())]  # the minute's sources do not
    AlertSettings.objects.update_or_create(org=org, defaults={"cap_at_80": False})
    assert _forecasts() == []


def _busy_org(n: int):
    from tests.factories import OrgFactory, TeamFactory

    org = OrgFactory(slug=f"busy-{n}")
    team = TeamFactory(org=org, name=f"T{n}", spend_cap=Decimal("10"))
    key, _ = make_key(org, name=f"k{n}", team=team, monthly_spend_cap=Decimal("10"))
    set_counter(key=key, kind="month", spend="5")
    set_counter(team=team, kind="limit", spend="5")
    Wallet.objects.update_or_create(org=org, defaults={"balance_micros": 10_000_000})
    _spent(key, "7", hours_ago=2)


def _queries_of_forecasts() -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as seen:
        _forecasts()
    return len(seen)


@pytest.mark.django_db
def test_the_forecast_evaluation_reads_the_weeks_spend_once_whatever_the_number_of_orgs():
    for n in range(2):
        _busy_org(n)
    few = _queries_of_forecasts()
    for n in range(2, 8):
        _busy_org(n)
    many = _queries_of_forecasts()

    assert few == many
