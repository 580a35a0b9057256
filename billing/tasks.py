from datetime import UTC, datetime

from celery import shared_task
from django.dispatch import receiver

from billing import alerts, holds, reconcile, resets


@shared_task
def release_expired_holds() -> int:
    return holds.release_expired(now=datetime.now(UTC))


@shared_task
def reconcile_wallets() -> int:
    """Daily (beat, 04:00 UTC): records and logs every difference; returns how many."""
    return len(reconcile.reconcile_all().findings)


@shared_task
def reset_periods_due() -> int:
    """Every minute (beat): closes the quota periods that have ended and starts the next."""
    return resets.reset_periods_due(now=datetime.now(UTC))


@shared_task
def evaluate_alerts() -> int:
    """Every minute (beat): raises the alerts due, once per threshold per period; returns how
    many were raised."""
    return len(alerts.evaluate(now=datetime.now(UTC)))


@shared_task(
    autoretry_for=(OSError,),  # smtplib's errors are OSErrors
    retry_backoff=True,
    retry_backoff_max=900,
    retry_jitter=True,
    max_retries=6,
)
def send_alert_emails(alert_ids: list[int]) -> int:
    """Emails the alerts not emailed yet; a retry sends only those that failed."""
    return alerts.email_alerts(alert_ids, now=datetime.now(UTC))


@shared_task(
    autoretry_for=(alerts.WebhookFailed,),
    retry_backoff=True,
    retry_backoff_max=900,
    retry_jitter=True,
    max_retries=6,
)
def deliver_alert_webhook(alert_id: int) -> bool:
    """POSTs one alert to its org's webhook; retried with exponential backoff (about 1 s, 2 s,
    4 s … up to 15 minutes, jittered) on a connection error or a non-2xx answer."""
    return alerts.post_webhook(alert_id, now=datetime.now(UTC))


@receiver(alerts.alerts_raised)
def deliver_raised_alerts(
    sender, *, email_ids: list[int], webhook_ids: list[int], **kwargs
) -> None:
    """Queues the delivery of alerts just raised and committed: their emails in one task, each
    webhook in a task of its own (retried apart)."""
    if email_ids:
        send_alert_emails.delay(email_ids)
    for alert_id in webhook_ids:
        deliver_alert_webhook.delay(alert_id)
