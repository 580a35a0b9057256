"""The wiring's periodic work: pruning what is kept for a while only (config.retention)."""

import logging
from datetime import UTC, datetime

from celery import shared_task

from accounts.retention import prune_sign_in_logs
from audit import prune as audit_prune
from billing import retention as billing_retention
from billing.usage.retention import prune_usage_events
from gateway_console import retention as tenancy_retention
from keys import retention as keys_retention

logger = logging.getLogger("config.retention")


@shared_task(name="config.tasks.prune")
def prune() -> dict[str, int]:
    """Daily (beat, 03:37 UTC): deletes, in batches, the usage events, sign-in logs, show-once
    nonces, alerts and reconciliation findings past their retention, and the audit events of the
    orgs that opted in (prune_audit_logs); returns how many of each. The ledger and the usage
    rollups are never pruned; ended sessions go in gateway_console.tasks.clear_expired_sessions."""
    now = datetime.now(UTC)
    pruned = {
        "usage_events": prune_usage_events(now),
        "sign_in_logs": prune_sign_in_logs(now),
        "shown_nonces": tenancy_retention.prune_shown_nonces(now)
        + keys_retention.prune_shown_nonces(now),
        "alerts": billing_retention.prune_alerts(now),
        "reconciliation_findings": billing_retention.prune_findings(now),
        "key_sightings": keys_retention.prune_sightings(now),
        "audit_events": prune_audit_logs(now),
    }
    logger.info("pruned %s", ", ".join(f"{n} {kind}" for kind, n in pruned.items()))
    return pruned


def prune_audit_logs(now: datetime) -> int:
    """The orgs that opted in export, then prune, their old audit events (audit.prune). With two
    database roles the worker's may not delete them: it says so, and `manage.py
    prune_audit_log` does it as the owner."""
    orgs = audit_prune.due_orgs()
    if not orgs:
        return 0
    if not audit_prune.may_delete():
        logger.warning(
            "%d org(s) prune their audit log, but this database role may not delete audit"
            " events: run `manage.py prune_audit_log` with MIGRATE_DATABASE_URL daily",
            len(orgs),
        )
        return 0
    results = audit_prune.prune_due(now)
    for result in results:
        logger.info("%s", result)
    return sum(result.events for result in results)
