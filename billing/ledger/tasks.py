"""The ledger's periodic work: the daily reconciliation."""

from celery import shared_task

from billing.ledger import reconcile

# Tasks keep their names from when billing had one tasks module (billing.tasks): queued messages
# and the beat schedule (config.celery) name them.


@shared_task(name="billing.tasks.reconcile_wallets")
def reconcile_wallets() -> int:
    """Daily (beat, 04:00 UTC): records and logs every difference; returns how many."""
    return len(reconcile.reconcile_all().findings)
