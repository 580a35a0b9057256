from celery import shared_task
from django.utils import timezone
from user_sessions.models import Session


@shared_task
def clear_expired_sessions() -> int:
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted
