"""The keys' show-once nonces are pruned like the admin tokens' (gateway_console.retention), and
where keys were seen from after KEY_SIGHTING_RETENTION_DAYS."""

from datetime import datetime, timedelta

from django.conf import settings

from gateway_console.retention import delete_in_batches
from keys.models import KeySighting, SecretShown


def prune_shown_nonces(now: datetime) -> int:
    """The key show-once nonces older than SHOWN_NONCE_RETENTION_HOURS."""
    before = now - timedelta(hours=settings.SHOWN_NONCE_RETENTION_HOURS)
    return delete_in_batches(SecretShown.objects.filter(created_at__lt=before))


def prune_sightings(now: datetime) -> int:
    """Where keys were seen from, last seen more than KEY_SIGHTING_RETENTION_DAYS ago."""
    before = now - timedelta(days=settings.KEY_SIGHTING_RETENTION_DAYS)
    return delete_in_batches(KeySighting.objects.filter(last_seen__lt=before))
