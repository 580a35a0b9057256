from celery import shared_task

from audit import anchor


@shared_task
def anchor_chains() -> int:
    """Beat, every AUDIT_ANCHOR_EVERY_SECONDS (10 minutes): signs each audit chain's new head
    into AUDIT_ANCHOR_DIR, outside the database (audit.anchor)."""
    return anchor.anchor_chains()
