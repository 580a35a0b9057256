"""The keys' show-once nonces are pruned like the admin tokens' (gateway_console.retention)."""

from datetime import datetime, timedelta

from django.conf import settings

from gateway_console.retention import delete_in_batches
from keys.models import SecretShown


def prune_shown_nonces(now: datetime) -> int:
    """The key show-once nonces older than SHOWN_NONCE_RETENTION_HOURS."""
    before = now - timedelta(hours=settings.SHOWN_NONCE_RETENTION_HOURS)
    return delete_in_batches(SecretShown.objects.filter(created_at__lt=before))
