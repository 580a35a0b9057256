from datetime import UTC, datetime

from celery import shared_task

from billing import holds


@shared_task
def release_expired_holds() -> int:
    return holds.release_expired(now=datetime.now(UTC))
