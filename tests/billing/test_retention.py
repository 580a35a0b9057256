"""Alerts and reconciliation findings are pruned after their retention (billing.retention);
an alert of a period a counter still runs stays, or it would be raised again."""

from datetime import UTC, datetime, timedelta

import pytest

from billing.alerts.models import Alert, AlertKind
from billing.ledger.models import FindingKind, ReconciliationFinding
from billing.limits.models import Counter, CounterKind
from billing.limits.periods import EPOCH
from billing.retention import prune_alerts, prune_findings
from tests.factories import make_key

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]

NOW = datetime(2027, 6, 15, 12, 0, tzinfo=UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def alert(org, subject: str, *, raised: datetime, period_start: datetime, kind=AlertKind.KEY_CAP):
    return Alert.objects.create(
        org=org,
        kind=kind,
        subject=subject,
        threshold="80",
        period_start=period_start,
        message=f"alert {subject}",
        created_at=raised,
    )


def test_old_alerts_go_new_ones_and_those_of_a_running_period_stay(org, team):
    key = make_key(org, name="forever")[0]
    # The key's `never` counter still runs the period that began at the epoch.
    Counter.objects.create(org=org, key=key, kind=CounterKind.LIMIT, period_start=EPOCH)
    alert(org, "old", raised=ago(401), period_start=ago(420), kind=AlertKind.WALLET_LOW)
    alert(org, "old-expiry", raised=ago(500), period_start=ago(493), kind=AlertKind.KEY_EXPIRING)
    alert(org, "recent", raised=ago(30), period_start=ago(45))
    alert(org, "raised-late", raised=ago(10), period_start=ago(420))
    alert(org, "forever", raised=ago(700), period_start=EPOCH)

    assert prune_alerts(NOW) == 2

    assert sorted(Alert.objects.values_list("subject", flat=True)) == [
        "forever",
        "raised-late",
        "recent",
    ]


def test_the_alert_retention_follows_the_setting(org, settings):
    settings.ALERT_RETENTION_DAYS = 800
    alert(org, "600-days", raised=ago(600), period_start=ago(610))
    alert(org, "900-days", raised=ago(900), period_start=ago(910))

    assert prune_alerts(NOW) == 1
    assert list(Alert.objects.values_list("subject", flat=True)) == ["600-days"]


def test_old_findings_go_and_newer_stay(org, settings):
    def finding(subject: str, found: datetime):
        ReconciliationFinding.objects.create(
            org=org, kind=FindingKind.WALLET, subject=subject, found_at=found
        )

    finding("old", ago(401))
    finding("older", ago(1000))
    finding("recent", ago(399))

    assert prune_findings(NOW) == 2
    assert list(ReconciliationFinding.objects.values_list("subject", flat=True)) == ["recent"]

    settings.FINDING_RETENTION_DAYS = 90
    assert prune_findings(NOW) == 1
    assert not ReconciliationFinding.objects.exists()
