"""Raising alerts: once per threshold per period, from the counters as authorize sees them."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing import alerts
from billing.alerts.models import Alert, AlertSettings
from billing.ledger.models import Wallet
from billing.limits.models import Counter
from billing.limits.periods import period_bounds
from keys.models import Key, KeyStatus
from tests.factories import OrgFactory, TeamFactory, make_key

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
MARCH = period_bounds("monthly", NOW, "UTC")
APRIL = period_bounds("monthly", MARCH[1], "UTC")


@pytest.fixture
def evaluate(django_capture_on_commit_callbacks):
    """alerts.evaluate, with its deliveries (run after the commit) run too."""

    def run(now=NOW, org=None):
        with django_capture_on_commit_callbacks(execute=True):
            return alerts.evaluate(now=now, org=org)

    return run


def counter(org, *, key=None, team=None, kind="month", spend="0", tokens=0, period=MARCH):
    return Counter.objects.create(
        org=org,
        key=key,
        team=team,
        kind=kind,
        period_start=period[0],
        period_end=period[1],
        spend_micros=int(Decimal(spend) * 1_000_000),
        tokens=tokens,
    )


def capped_key(org, name="billing-prod", **limits):
    limits.setdefault("monthly_spend_cap", Decimal("100"))
    return make_key(org, name=name, **limits)


def test_a_key_at_80_percent_of_its_monthly_cap_raises_one_alert(org, evaluate):
    key, plaintext = capped_key(org)
    counter(org, key=key, spend="82.10")

    raised = evaluate()

    alert = Alert.objects.get(pk__in=raised)
    assert (alert.kind, alert.subject, alert.threshold) == (
        "key_cap",
        f"{key.pk}/monthly_spend",
        "80",
    )
    assert alert.period_start == MARCH[0]
    assert alert.message == (
        f"Key “billing-prod” ({key.preview}) passed 80% of its monthly spend cap: "
        "$82.10 of $100.00 used (82%). The period ends 2026-04-01 00:00 UTC."
    )
    assert plaintext not in alert.message


def test_evaluating_again_in_the_same_period_raises_nothing_more(org, evaluate):
    key, _ = capped_key(org)
    counter(org, key=key, spend="85")

    first = evaluate()
    again = [evaluate(now=NOW + timedelta(minutes=m)) for m in range(1, 6)]

    assert len(first) == 1
    assert again == [[]] * 5
    assert Alert.objects.count() == 1


def test_passing_100_percent_later_in_the_period_raises_the_100_alert(org, evaluate):
    key, _ = capped_key(org)
    row = counter(org, key=key, spend="85")
    evaluate()

    Counter.objects.filter(pk=row.pk).update(spend_micros=100_000_000)
    evaluate(now=NOW + timedelta(minutes=1))

    assert sorted(Alert.objects.values_list("threshold", flat=True)) == ["100", "80"]


def test_jumping_past_both_thresholds_raises_only_the_higher(org, evaluate):
    key, _ = capped_key(org)
    counter(org, key=key, spend="120")

    evaluate()

    assert list(Alert.objects.values_list("threshold", flat=True)) == ["100"]


def test_a_new_period_rearms_the_alert(org, evaluate):
    key, _ = capped_key(org)
    row = counter(org, key=key, spend="90")
    evaluate()

    # The reset task (or the next usage) starts April's period.
    Counter.objects.filter(pk=row.pk).update(
        period_start=APRIL[0], period_end=APRIL[1], spend_micros=95_000_000
    )
    raised = evaluate(now=APRIL[0] + timedelta(days=3))

    assert len(raised) == 1
    assert sorted(Alert.objects.values_list("period_start", flat=True)) == [MARCH[0], APRIL[0]]


def test_an_ended_period_counts_as_zero(org, evaluate):
    key, _ = capped_key(org)
    counter(org, key=key, spend="100")  # March, not yet closed by the reset task

    assert evaluate(now=APRIL[0] + timedelta(hours=1)) == []


def test_below_80_percent_raises_nothing(org, evaluate):
    key, _ = capped_key(org)
    counter(org, key=key, spend="79.999999")

    assert evaluate() == []


def test_cost_and_token_limits_alert_separately_with_their_period(org, evaluate):
    key, _ = make_key(
        org,
        name="indexer",
        cost_limit=Decimal("10"),
        token_limit=1_000_000,
        limit_period="daily",
    )
    day = period_bounds("daily", NOW, "UTC")
    counter(org, key=key, kind="limit", spend="10.50", tokens=820_000, period=day)

    evaluate()

    alerts_by_subject = {a.subject: a for a in Alert.objects.all()}
    assert alerts_by_subject[f"{key.pk}/cost"].threshold == "100"
    assert "passed 100% of its daily cost limit: $10.50 of $10.00 used (105%)" in (
        alerts_by_subject[f"{key.pk}/cost"].message
    )
    assert alerts_by_subject[f"{key.pk}/tokens"].threshold == "80"
    assert "820,000 of 1,000,000 tokens used (82%). The period ends 2026-03-21 00:00 UTC." in (
        alerts_by_subject[f"{key.pk}/tokens"].message
    )


def test_a_lifetime_limit_says_it_never_resets(org, evaluate):
    key, _ = make_key(org, name="trial", cost_limit=Decimal("5"), limit_period="never")
    counter(org, key=key, kind="limit", spend="4.50", period=period_bounds("never", NOW, "UTC"))

    evaluate()

    assert Alert.objects.get().message.endswith(
        "lifetime cost limit: $4.50 of $5.00 used (90%). This limit never resets."
    )


def test_a_team_at_its_spend_cap_raises_a_team_alert(org, evaluate):
    team = TeamFactory(org=org, name="Research", spend_cap=Decimal("250"), token_limit=None)
    counter(org, team=team, kind="limit", spend="250")

    evaluate()

    alert = Alert.objects.get()
    assert (alert.kind, alert.subject, alert.threshold) == ("team_cap", f"{team.pk}/spend", "100")
    assert alert.message.startswith(
        "Team “Research” passed 100% of its monthly spend cap: $250.00 of $250.00 used (100%)."
    )


def test_period_ends_are_told_in_the_orgs_time_zone(evaluate):
    org = OrgFactory(timezone="America/New_York")
    key, _ = capped_key(org)
    counter(org, key=key, spend="81", period=period_bounds("monthly", NOW, "America/New_York"))

    evaluate()

    assert "The period ends 2026-04-01 00:00 America/New_York." in Alert.objects.get().message


def test_disabled_deleted_and_expired_keys_raise_no_cap_alerts(org, evaluate):
    for status in (KeyStatus.DISABLED, KeyStatus.DELETED):
        key, _ = capped_key(org, name=f"{status}-key")
        Key.objects.filter(pk=key.pk).update(status=status)
        counter(org, key=key, spend="100")
    expired, _ = capped_key(org, name="expired-key", expires_at=NOW - timedelta(days=1))
    counter(org, key=expired, spend="100")

    assert evaluate() == []


def test_cap_alerts_that_are_switched_off_are_not_raised(org, evaluate):
    AlertSettings.objects.create(org=org, cap_at_80=False, cap_at_100=True)
    key, _ = capped_key(org)
    counter(org, key=key, spend="90")

    assert evaluate() == []


def test_an_org_that_never_saved_settings_gets_the_default_alerts(org, evaluate):
    assert not AlertSettings.objects.filter(org=org).exists()
    key, _ = capped_key(org)
    counter(org, key=key, spend="90")
    make_key(org, name="short-lived", expires_at=NOW + timedelta(days=2))

    evaluate()

    assert sorted(Alert.objects.values_list("kind", flat=True)) == ["key_cap", "key_expiring"]


def test_a_wallet_below_the_amount_alerts_once_a_month(org, evaluate):
    AlertSettings.objects.create(org=org, wallet_below=Decimal("50"))
    Wallet.objects.create(org=org, balance_micros=12_500_000)

    evaluate()
    for day in range(1, 5):
        evaluate(now=NOW + timedelta(days=day))

    alert = Alert.objects.get()
    assert (alert.kind, alert.subject, alert.threshold, alert.period_start) == (
        "wallet_low",
        str(org.pk),
        "50.000000",
        MARCH[0],
    )
    assert alert.message.startswith(
        "The wallet of Acme is down to $12.50, below your alert amount of $50.00."
    )

    evaluate(now=APRIL[0] + timedelta(hours=2))

    assert Alert.objects.count() == 2


def test_the_wallet_month_is_the_orgs_calendar_month(evaluate):
    org = OrgFactory(timezone="America/New_York")
    AlertSettings.objects.create(org=org, wallet_below=Decimal("50"))
    Wallet.objects.create(org=org, balance_micros=0)

    # 03:00 UTC on 1 April is still March in New York.
    evaluate(now=datetime(2026, 4, 1, 3, 0, tzinfo=UTC))

    assert Alert.objects.get().period_start == datetime(2026, 3, 1, 5, 0, tzinfo=UTC)


def test_a_wallet_at_or_above_the_amount_raises_nothing(org, evaluate):
    AlertSettings.objects.create(org=org, wallet_below=Decimal("50"))
    Wallet.objects.create(org=org, balance_micros=50_000_000)

    assert evaluate() == []


def test_a_key_expiring_within_7_days_alerts_once_per_expiry_day(org, evaluate):
    key, plaintext = make_key(org, name="temp", expires_at=NOW + timedelta(days=3, hours=2))
    make_key(org, name="later", expires_at=NOW + timedelta(days=9))
    make_key(org, name="gone", expires_at=NOW - timedelta(minutes=1))
    disabled, _ = make_key(org, name="off", expires_at=NOW + timedelta(days=1))
    Key.objects.filter(pk=disabled.pk).update(status=KeyStatus.DISABLED)

    evaluate()
    evaluate(now=NOW + timedelta(days=1))

    alert = Alert.objects.get()
    assert (alert.kind, alert.subject, alert.threshold) == (
        "key_expiring",
        str(key.pk),
        "2026-03-23",
    )
    assert alert.message.startswith(
        f"Key “temp” ({key.preview}) expires in 3 days, at 2026-03-23 14:00 UTC."
    )
    assert plaintext not in alert.message

    # A new expiry day is a new alert.
    Key.objects.filter(pk=key.pk).update(expires_at=NOW + timedelta(days=5))
    evaluate(now=NOW + timedelta(days=1, minutes=1))

    assert Alert.objects.count() == 2


def test_evaluating_one_org_leaves_the_others_alone(org, other_org, evaluate):
    for o in (org, other_org):
        key, _ = capped_key(o)
        counter(o, key=key, spend="95")

    evaluate(org=org)

    assert list(Alert.objects.values_list("org", flat=True)) == [org.pk]


def _many_keys_at_85_percent(org, count: int) -> None:
    keys = Key.objects.bulk_create(
        Key(
            org=org,
            name=f"key-{i}",
            secret_hash=uuid.uuid4().hex,
            display_prefix="sk-gw-",
            last4=f"{i:04d}",
            monthly_spend_cap=Decimal("100"),
            expires_at=NOW + timedelta(days=3),
        )
        for i in range(count)
    )
    Counter.objects.bulk_create(
        Counter(
            org=org,
            key=key,
            kind="month",
            period_start=MARCH[0],
            period_end=MARCH[1],
            spend_micros=85_000_000,
        )
        for key in keys
    )
    teams = [
        TeamFactory(org=org, name=f"team-{i}", spend_cap=Decimal("10")) for i in range(count // 5)
    ]
    Counter.objects.bulk_create(
        Counter(
            org=org,
            team=team,
            kind="limit",
            period_start=MARCH[0],
            period_end=MARCH[1],
            spend_micros=10_000_000,
        )
        for team in teams
    )


@pytest.mark.parametrize("count", [5, 200])
def test_the_query_count_does_not_grow_with_the_number_of_keys(
    org, admin_membership, evaluate, django_assert_max_num_queries, mailoutbox, count
):
    AlertSettings.objects.create(org=org, wallet_below=Decimal("50"))
    Wallet.objects.create(org=org, balance_micros=0)
    _many_keys_at_85_percent(org, count)

    # A savepoint and its release, the settings, six candidate queries (admin tokens and
    # rotation schedules among them) and one insert; then the email task: the alerts, the
    # recipients, the key and team names, one update.
    with django_assert_max_num_queries(15):
        raised = evaluate()

    assert len(raised) == 1 + count + count + count // 5  # wallet, caps, expiries, teams
    assert len(mailoutbox) == len(raised)
