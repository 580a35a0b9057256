from datetime import datetime

from celery import shared_task

from keys import canary, services


@shared_task
def forget_ended_rotation_grace() -> int:
    return services.forget_ended_rotation_grace()


@shared_task(name="keys.tasks.canary_tripped")
def canary_tripped(key_id: str, address: str, user_agent: str, at: str) -> int | None:
    """A canary key's first use (keys.canary), reported off authorize's path."""
    return canary.report(
        key_id=key_id, address=address, user_agent=user_agent, at=datetime.fromisoformat(at)
    )
