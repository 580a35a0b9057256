"""The sign-in logs of django-axes are pruned after SIGN_IN_LOG_RETENTION_DAYS (30): throttling
reads only the cool-off window's failures, and the audit log keeps every sign-in, failure and
lockout for good."""

from datetime import datetime, timedelta

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings

from gateway_console.retention import delete_in_batches


def prune_sign_in_logs(now: datetime) -> int:
    """Attempts, failures and sign-in records whose time is older than the retention."""
    before = now - timedelta(days=settings.SIGN_IN_LOG_RETENTION_DAYS)
    return sum(
        delete_in_batches(model.objects.filter(attempt_time__lt=before))
        for model in (AccessAttempt, AccessFailureLog, AccessLog)
    )
