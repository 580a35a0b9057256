"""What billing prunes besides usage events (billing.usage.retention), and when (README,
Configuration: retention):

- Alerts: ALERT_RETENTION_DAYS (400) after they were raised, once the period they were raised
  in began that long ago too, except one of a period a counter still runs (a `never` period):
  pruned, it would be raised again.
- Reconciliation findings: FINDING_RETENTION_DAYS (400) after they were found. They have no
  resolved state; staff read them in Django admin.

The wallet ledger, counters, closed periods and the hourly usage rollups are never pruned.
Each kind goes in batches of short transactions (gateway_console.retention).
"""

from datetime import datetime, timedelta

from django.conf import settings

from billing.alerts.models import Alert
from billing.ledger.models import ReconciliationFinding
from billing.limits.models import Counter
from gateway_console.retention import delete_in_batches


def prune_alerts(now: datetime) -> int:
    before = now - timedelta(days=settings.ALERT_RETENTION_DAYS)
    running = Counter.objects.filter(period_start__lt=before).values("period_start")
    old = Alert.objects.filter(created_at__lt=before, period_start__lt=before).exclude(
        period_start__in=running
    )
    return delete_in_batches(old)


def prune_findings(now: datetime) -> int:
    before = now - timedelta(days=settings.FINDING_RETENTION_DAYS)
    return delete_in_batches(ReconciliationFinding.objects.filter(found_at__lt=before))
