from datetime import datetime

from celery import shared_task
from django.utils import timezone

from keys import canary, hygiene, increases, services


@shared_task
def forget_ended_rotation_grace() -> int:
    return services.forget_ended_rotation_grace()


@shared_task(name="keys.tasks.lapse_increases")
def lapse_increases() -> int:
    """Every minute (beat): clears the temporary increases that ended (keys.increases)."""
    return increases.lapse_increases(now=timezone.now())


@shared_task(name="keys.tasks.keep_hygiene_scores")
def keep_hygiene_scores() -> int:
    """Hourly (beat): each org's key hygiene score, for the key list (keys.hygiene)."""
    return hygiene.keep_scores(timezone.now())


@shared_task(name="keys.tasks.canary_tripped")
def canary_tripped(key_id: str, address: str, user_agent: str, at: str) -> int | None:
    """A canary key's first use (keys.canary), reported off authorize's path."""
    return canary.report(
        key_id=key_id, address=address, user_agent=user_agent, at=datetime.fromisoformat(at)
    )
