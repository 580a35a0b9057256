"""The limits' periodic work: releasing expired holds, closing ended periods."""

from datetime import UTC, datetime

from celery import shared_task

from billing.limits import holds, resets

# Tasks keep their names from when billing had one tasks module (billing.tasks): queued messages
# and the beat schedule (config.celery) name them.


@shared_task(name="billing.tasks.release_expired_holds")
def release_expired_holds() -> int:
    return holds.release_expired(now=datetime.now(UTC))


@shared_task(name="billing.tasks.reset_periods_due")
def reset_periods_due() -> int:
    """Every minute (beat): closes the quota periods that have ended and starts the next."""
    return resets.reset_periods_due(now=datetime.now(UTC))
