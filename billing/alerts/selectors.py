"""What the alert pages and the navigation badge read."""

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from django.urls import reverse

from billing import money
from billing.alerts.common import BADGE_MAX, BADGE_WINDOW, PAGE_SIZE, SEEN_SESSION_KEY
from billing.alerts.delivery import cap_label, owner_id, runs_out_of, shown_error
from billing.alerts.models import Alert, AlertKind, AlertSettings
from gateway_console.models import Membership
from gateway_console.paging import Column, Page, keyset_page


def watching(setting: AlertSettings) -> list[str]:
    """What the settings watch, in words."""
    result = []
    if setting.wallet_below is not None:
        result.append(f"wallet below {money.display(setting.wallet_below)}")
    caps = [f"{t}%" for t, on in ((80, setting.cap_at_80), (100, setting.cap_at_100)) if on]
    if caps:
        result.append(f"caps at {' and '.join(caps)}")
    if setting.key_expiring:
        result.append("keys and admin tokens expiring within 7 days")
    return result


@dataclass(frozen=True)
class AlertRow:
    alert: Alert
    threshold_label: str
    link: str | None
    # "deleted" (red) for a cap reached or a low wallet, "expired" (amber) for a warning.
    badge: str
    # Why the last webhook delivery failed, in the generic words of delivery.shown_error.
    webhook_error: str = ""


def _threshold_label(alert: Alert) -> str:
    if alert.kind == AlertKind.WALLET_LOW:
        return f"below {money.display(Decimal(alert.threshold))}"
    if alert.kind in (AlertKind.KEY_EXPIRING, AlertKind.ADMIN_TOKEN_EXPIRING):
        return f"expires {alert.threshold}"
    if alert.kind == AlertKind.KEY_CANARY:
        return "used"
    if alert.kind == AlertKind.KEY_LEAKED:
        return "disabled"
    if alert.kind == AlertKind.KEY_ROTATION_DUE:
        return "due" if alert.threshold == "due" else "due within 7 days"
    if alert.kind == AlertKind.RUNS_OUT:
        return "before its reset" if alert.threshold == "before_reset" else "within a week"
    return f"{alert.threshold}% of {cap_label(alert)}"


def _link(alert: Alert) -> str | None:
    owner = owner_id(alert)
    if owner is None or alert.kind == AlertKind.WALLET_LOW:
        return None
    if alert.kind == AlertKind.TEAM_CAP or runs_out_of(alert) == "team":
        return reverse("team-detail", args=[owner])
    if runs_out_of(alert) == "wallet":
        return reverse("billing:caps")
    if alert.kind == AlertKind.ADMIN_TOKEN_EXPIRING:
        return reverse("admin-tokens")
    return reverse("keys:detail", args=[owner])


ALERT_ORDER = [Column("id", descending=True, kind=int)]


def alerts_of(membership: Membership, *, after: str = "", before: str = "") -> Page[AlertRow]:
    """The org's alerts, newest first, a page at a time (keyset on the id). One query."""
    queryset = Alert.objects.filter(org_id=membership.org_id)
    page = keyset_page(queryset, ALERT_ORDER, after=after, before=before, size=PAGE_SIZE)
    rows = [
        AlertRow(
            a,
            _threshold_label(a),
            _link(a),
            "deleted" if a.threshold == "100" or a.kind == AlertKind.WALLET_LOW else "expired",
            shown_error(a.webhook_last_error),
        )
        for a in page.rows
    ]
    return replace(page, rows=rows)


def seen_alert_id(session, org_id) -> int:
    return int((session.get(SEEN_SESSION_KEY) or {}).get(str(org_id), 0))


def mark_alerts_seen(session, org_id, newest_id: int) -> None:
    """Remembers, per session and org, the newest alert shown, so the badge counts what is new."""
    seen = dict(session.get(SEEN_SESSION_KEY) or {})
    if newest_id > seen.get(str(org_id), 0):
        seen[str(org_id)] = newest_id
        session[SEEN_SESSION_KEY] = seen


def unseen_alert_count(org_id, *, seen_id: int, now: datetime) -> int:
    """Alerts of the last week newer than `seen_id`, counted up to BADGE_MAX + 1. One query."""
    return (
        Alert.objects.filter(org_id=org_id, id__gt=seen_id, created_at__gte=now - BADGE_WINDOW)
        .order_by()
        .values("id")[: BADGE_MAX + 1]
        .count()
    )
