"""Raising alerts every minute and delivering them, by email and webhook, with retries."""

from datetime import UTC, datetime

from celery import shared_task
from django.dispatch import receiver

from billing.alerts.common import WebhookFailed
from billing.alerts.delivery import email_alerts, post_webhook
from billing.alerts.evaluation import alerts_raised, evaluate

# Tasks keep their names from when billing had one tasks module (billing.tasks): queued messages
# and the beat schedule (config.celery) name them.


@shared_task(name="billing.tasks.evaluate_alerts")
def evaluate_alerts() -> int:
    """Every minute (beat): raises the alerts due, once per threshold per period; returns how
    many were raised."""
    return len(evaluate(now=datetime.now(UTC)))


@shared_task(name="billing.tasks.forecast_alerts")
def forecast_alerts() -> int:
    """Hourly (beat): the `runs_out` alerts, from the last week's pace; returns how many."""
    return len(evaluate(now=datetime.now(UTC), forecasts=True))


@shared_task(
    name="billing.tasks.send_alert_emails",
    autoretry_for=(OSError,),  # smtplib's errors are OSErrors
    retry_backoff=True,
    retry_backoff_max=900,
    retry_jitter=True,
    max_retries=6,
)
def send_alert_emails(alert_ids: list[int]) -> int:
    """Emails the alerts not emailed yet; a retry sends only those that failed."""
    return email_alerts(alert_ids, now=datetime.now(UTC))


@shared_task(
    name="billing.tasks.deliver_alert_webhook",
    autoretry_for=(WebhookFailed,),
    retry_backoff=True,
    retry_backoff_max=900,
    retry_jitter=True,
    max_retries=6,
)
def deliver_alert_webhook(alert_id: int) -> bool:
    """POSTs one alert to its org's webhook; retried with exponential backoff (about 1 s, 2 s,
    4 s … up to 15 minutes, jittered) on a connection error or a non-2xx answer."""
    return post_webhook(alert_id, now=datetime.now(UTC))


@receiver(alerts_raised)
def deliver_raised_alerts(
    sender, *, email_ids: list[int], webhook_ids: list[int], **kwargs
) -> None:
    """Queues the delivery of alerts just raised and committed: their emails in one task, each
    webhook in a task of its own (retried apart)."""
    if email_ids:
        send_alert_emails.delay(email_ids)
    for alert_id in webhook_ids:
        deliver_alert_webhook.delay(alert_id)
