from celery import shared_task

from keys import services


@shared_task
def forget_ended_rotation_grace() -> int:
    return services.forget_ended_rotation_grace()
