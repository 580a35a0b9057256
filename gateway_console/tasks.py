from celery import shared_task
from django.utils import timezone
from user_sessions.models import Session

from gateway_console.retention import delete_in_batches


@shared_task
def clear_expired_sessions() -> int:
    """Daily (beat): the ended sessions, in batches (gateway_console.retention)."""
    return delete_in_batches(Session.objects.filter(expire_date__lt=timezone.now()))
