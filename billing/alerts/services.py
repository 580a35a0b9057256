"""An org's alert settings: what it wants to be told about, and where (one audit event per
change)."""

import secrets
from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction

import audit
from audit import Actor
from billing import money
from billing.alerts.common import AlertSettingsRefused
from billing.alerts.models import AlertSettings
from billing.alerts.webhook_guard import redacted
from gateway_console.models import Org

SETTINGS_FIELDS = (
    "wallet_below",
    "cap_at_80",
    "cap_at_100",
    "key_expiring",
    "email",
    "webhook_url",
)


def alert_settings_of(org: Org) -> AlertSettings:
    """The org's alert settings; an org that never saved them has the defaults (unsaved)."""
    return AlertSettings.objects.filter(org=org).first() or AlertSettings(org=org)


@transaction.atomic
def update_alert_settings(
    *,
    org: Org,
    actor: Actor,
    wallet_below: Decimal | None,
    cap_at_80: bool,
    cap_at_100: bool,
    key_expiring: bool,
    email: bool,
    webhook_url: str,
) -> AlertSettings:
    """Saves what the org wants to be told about. The first webhook URL gets a secret generated
    by the console; the secret itself is never written to the audit log, nor the URL's path and
    query."""
    # Serialises the first save of two admins at once (the settings row may not exist yet).
    Org.objects.select_for_update().filter(pk=org.pk).first()
    current = AlertSettings.objects.filter(org=org).first()
    created = current is None
    if created:
        current = AlertSettings(org=org)
    new = {
        "wallet_below": money.to_money(wallet_below) if wallet_below is not None else None,
        "cap_at_80": cap_at_80,
        "cap_at_100": cap_at_100,
        "key_expiring": key_expiring,
        "email": email,
        "webhook_url": webhook_url.strip(),
    }
    changes = audit.diff({field: getattr(current, field) for field in new}, new)
    for field in changes:
        setattr(current, field, new[field])
    if "webhook_url" in changes:
        # The log keeps the webhook's scheme and host only: its path and query are often a
        # secret, and the log is kept for ever. A new path on the same host still shows as a
        # change, from https://host/… to https://host/….
        changes["webhook_url"] = {
            side: redacted(url) for side, url in changes["webhook_url"].items()
        }
    if current.webhook_url and not current.webhook_secret:
        current.webhook_secret = secrets.token_hex(32)
        changes["webhook_secret"] = {"before": None, "after": "generated"}
    if not changes:
        return current
    current.updated_at = datetime.now(UTC)
    current.save(force_insert=created)
    audit.record(org=org, actor=actor, action="alerts.updated", target=org, changes=changes)
    return current


@transaction.atomic
def regenerate_webhook_secret(*, org: Org, actor: Actor) -> AlertSettings:
    """A new webhook secret; the old one stops verifying with the next delivery."""
    current = AlertSettings.objects.select_for_update().filter(org=org).first()
    if current is None or not current.webhook_url:
        raise AlertSettingsRefused("Set a webhook URL first; its secret is generated then.")
    current.webhook_secret = secrets.token_hex(32)
    current.updated_at = datetime.now(UTC)
    current.save(update_fields=["webhook_secret", "updated_at"])
    audit.record(
        org=org,
        actor=actor,
        action="alerts.updated",
        target=org,
        changes={"webhook_secret": {"before": None, "after": "regenerated"}},
    )
    return current
