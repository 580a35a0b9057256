"""Deleting old rows without a long lock (README, Configuration: retention): a batch of primary
keys is read, then deleted in its own short transaction, again and again, walking the primary
key upwards, so no statement touches more than `batch_size` rows and writers wait on none
of it for long. Every app prunes its own tables with it; config.tasks.prune runs them all."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from gateway_console.models import AdminTokenShown


def delete_in_batches(rows: QuerySet, *, batch_size: int | None = None) -> int:
    """Deletes every row of `rows`, `batch_size` (RETENTION_BATCH_SIZE) at a time; returns how
    many went."""
    batch_size = batch_size or settings.RETENTION_BATCH_SIZE
    model = rows.model
    deleted, last = 0, None
    while True:
        batch = rows.order_by("pk")
        if last is not None:
            batch = batch.filter(pk__gt=last)
        ids = list(batch.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        with transaction.atomic():
            # The condition again: a row that changed since it was read stays.
            _, by_model = rows.filter(pk__in=ids).delete()
        deleted += by_model.get(model._meta.label, 0)
        last = ids[-1]
        if len(ids) < batch_size:
            return deleted


def prune_shown_nonces(now: datetime) -> int:
    """The admin-token show-once nonces older than SHOWN_NONCE_RETENTION_HOURS: a nonce only
    refuses a resubmitted form, which nobody sends a day later."""
    before = now - timedelta(hours=settings.SHOWN_NONCE_RETENTION_HOURS)
    return delete_in_batches(AdminTokenShown.objects.filter(created_at__lt=before))
