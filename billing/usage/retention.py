"""How long usage events are kept: USAGE_RETENTION_DAYS (400; at least the longest reset
period, a year, plus 30 days: config.retention). README, Configuration.

An event goes once both its time and its arrival are older than that, so that a counter (which
counts events by arrival) still has every event of its period, and the request log every
request of the window. The hourly rollups stay: every usage chart and total reads them, never
the events. Deleted by primary key in batches, each its own short transaction
(gateway_console.retention); run daily by config.tasks.prune."""

from datetime import datetime, timedelta

from django.conf import settings

from billing.usage.models import UsageEvent
from gateway_console.retention import delete_in_batches


def usage_window_start(now: datetime) -> datetime:
    """The oldest time of the usage events kept: now less USAGE_RETENTION_DAYS."""
    return now - timedelta(days=settings.USAGE_RETENTION_DAYS)


def prune_usage_events(now: datetime, *, batch_size: int | None = None) -> int:
    """The usage events that happened and arrived before the window; their rollups stay."""
    before = usage_window_start(now)
    old = UsageEvent.objects.filter(occurred_at__lt=before, received_at__lt=before)
    return delete_in_batches(old, batch_size=batch_size)
