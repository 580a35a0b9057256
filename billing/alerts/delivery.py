"""Delivering raised alerts: an email to the org's owners and admins, and a signed POST to the
org's webhook (public receivers only, connected to the very addresses checked: webhook_guard,
pinned), each retried by its Celery task."""

import hashlib
import hmac
import http.client
import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings as django_settings
from django.core import mail
from django.db.models import F

from billing import money
from billing.alerts.common import KEY_CAPS, TEAM_CAPS, WebhookFailed, key_names
from billing.alerts.models import Alert, AlertKind, AlertSettings
from billing.alerts.pinned import pinned_post
from billing.alerts.webhook_guard import Refused, checked_target, redacted
from gateway_console.models import AdminToken, Membership, Role, Team

logger = logging.getLogger("billing.alerts")


def owner_id(alert: Alert) -> uuid.UUID | None:
    try:
        return uuid.UUID(alert.subject.split("/")[0])
    except ValueError:
        return None


def runs_out_of(alert: Alert) -> str | None:
    """What a `runs_out` alert is about: "key", "team" or "wallet" (None: another kind)."""
    if alert.kind != AlertKind.RUNS_OUT:
        return None
    cap = alert.subject.partition("/")[2]
    return {"wallet": "wallet", "team_spend_cap": "team"}.get(cap, "key")


def cap_label(alert: Alert) -> str:
    caps = TEAM_CAPS if alert.kind == AlertKind.TEAM_CAP else KEY_CAPS
    cap = alert.subject.partition("/")[2]
    return caps[cap].label if cap in caps else "cap"


def _names(model, ids: set) -> dict:
    return dict(model.objects.filter(pk__in=ids).values_list("id", "name")) if ids else {}


def titles(alerts: list[Alert]) -> dict[int, str]:
    """A one-line title per alert, naming its key, team or admin token (three queries at
    most)."""
    key_kinds = (
        AlertKind.KEY_CAP,
        AlertKind.KEY_EXPIRING,
        AlertKind.KEY_CANARY,
        AlertKind.KEY_LEAKED,
        AlertKind.KEY_ROTATION_DUE,
    )
    key_ids = {owner_id(a) for a in alerts if a.kind in key_kinds or runs_out_of(a) == "key"}
    team_ids = {
        owner_id(a) for a in alerts if a.kind == AlertKind.TEAM_CAP or runs_out_of(a) == "team"
    }
    token_ids = {owner_id(a) for a in alerts if a.kind == AlertKind.ADMIN_TOKEN_EXPIRING}
    names_of_keys = key_names(key_ids)
    team_names = _names(Team, team_ids)
    token_names = _names(AdminToken, token_ids)
    result = {}
    for a in alerts:
        if a.kind == AlertKind.WALLET_LOW:
            result[a.pk] = f"Wallet below {money.display(Decimal(a.threshold))}"
        elif a.kind == AlertKind.KEY_EXPIRING:
            result[a.pk] = f"Key {names_of_keys.get(owner_id(a), '?')} expires on {a.threshold}"
        elif a.kind == AlertKind.RUNS_OUT:
            name = (names_of_keys if runs_out_of(a) == "key" else team_names).get(owner_id(a), "?")
            result[a.pk] = {
                "key": f"Key {name} runs out before its reset",
                "team": f"Team {name} runs out before its reset",
            }.get(runs_out_of(a), "The wallet runs out within a week")
        elif a.kind == AlertKind.KEY_ROTATION_DUE:
            name = names_of_keys.get(owner_id(a), "?")
            when = "is due for rotation" if a.threshold == "due" else "is due for rotation soon"
            result[a.pk] = f"Key {name} {when}"
        elif a.kind == AlertKind.KEY_LEAKED:
            result[a.pk] = f"Key {names_of_keys.get(owner_id(a), '?')} leaked and was disabled"
        elif a.kind == AlertKind.KEY_CANARY:
            result[a.pk] = f"Canary key {names_of_keys.get(owner_id(a), '?')} was used"
        elif a.kind == AlertKind.ADMIN_TOKEN_EXPIRING:
            name = token_names.get(owner_id(a), "?")
            result[a.pk] = f"Admin token {name} expires on {a.threshold}"
        elif a.kind == AlertKind.TEAM_CAP:
            result[a.pk] = (
                f"Team {team_names.get(owner_id(a), '?')} passed {a.threshold}% of its "
                f"{cap_label(a)}"
            )
        else:
            result[a.pk] = (
                f"Key {names_of_keys.get(owner_id(a), '?')} passed {a.threshold}% of its "
                f"{cap_label(a)}"
            )
    return result


def recipients_by_org(org_ids: set) -> dict:
    """The email addresses of each org's owners and admins (active users), in one query."""
    result: dict = {}
    rows = (
        Membership.objects.filter(
            org_id__in=org_ids, role__in=[Role.OWNER, Role.ADMIN], user__is_active=True
        )
        .order_by("user__email")
        .values_list("org_id", "user__email")
    )
    for org_id, email in rows:
        result.setdefault(org_id, []).append(email)
    return result


def _email_body(alert: Alert, title: str) -> str:
    return (
        f"{alert.message}\n\n"
        f"Organisation: {alert.org.name}\n"
        f"Alert: {title}\n"
        f"Raised: {alert.created_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC\n\n"
        "Each alert is sent once per threshold per period. You receive it as an owner or admin "
        f"of {alert.org.name} in Gateway Console; the alerts and their settings are under "
        "Alerts there.\n"
    )


def email_alerts(alert_ids: list[int], *, now: datetime) -> int:
    """Emails each alert not emailed yet to its org's owners and admins, one message per alert.
    Marks what was sent; raises the first sending error after marking, so a retry sends only
    the rest. Returns how many were sent."""
    alerts = list(
        Alert.objects.filter(pk__in=alert_ids, emailed_at__isnull=True)
        .select_related("org")
        .order_by("id")
    )
    if not alerts:
        return 0
    recipients = recipients_by_org({a.org_id for a in alerts})
    names = titles(alerts)
    sent: list[int] = []
    error: Exception | None = None
    with mail.get_connection() as mail_connection:
        for alert in alerts:
            to = recipients.get(alert.org_id)
            if not to:
                continue
            message = mail.EmailMessage(
                subject=f"[Gateway Console] {alert.org.name}: {names[alert.pk]}",
                body=_email_body(alert, names[alert.pk]),
                to=to,
                connection=mail_connection,
            )
            try:
                message.send()
            except OSError as exc:  # smtplib's errors are OSErrors
                error = exc
                break
            sent.append(alert.pk)
    if sent:
        Alert.objects.filter(pk__in=sent).update(emailed_at=now)
    if error is not None:
        raise error
    return len(sent)


def webhook_payload(alert: Alert) -> dict:
    return {
        "id": alert.pk,
        "org": str(alert.org_id),
        "kind": alert.kind,
        "subject": alert.subject,
        "threshold": alert.threshold,
        "message": alert.message,
        "created_at": alert.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256 of `timestamp + "." + body`, keyed with the secret."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


# What the alerts page shows of a failed delivery. No more: the reason a connection failed
# (refused, timed out, reset, a TLS error) would make the webhook a port scanner of the
# console's network. The log has the detail.
UNREACHABLE = "The receiver could not be reached."
NOT_PUBLIC = "Refused: the receiver's host is not a public address."
_ANSWERED = re.compile(r"The receiver answered HTTP \d{3}\.")


def answered(status: int) -> str:
    return f"The receiver answered HTTP {status}."


def shown_error(stored: str) -> str:
    """The failure of a delivery as the alerts page shows it: one of the texts above, whatever
    an older version stored."""
    if stored in ("", UNREACHABLE, NOT_PUBLIC) or _ANSWERED.fullmatch(stored):
        return stored
    legacy = re.fullmatch(r"HTTP (\d{3}) from the receiver", stored)
    if legacy:
        return answered(int(legacy.group(1)))
    return NOT_PUBLIC if "not a public address" in stored else UNREACHABLE


def _failed(alert: Alert, error: str) -> None:
    Alert.objects.filter(pk=alert.pk).update(
        webhook_attempts=F("webhook_attempts") + 1, webhook_last_error=error[:300]
    )


def _headers(secret: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "User-Agent": "GatewayConsole-Alerts/1",
        "X-Console-Timestamp": timestamp,
        "X-Console-Signature": signature(secret, timestamp, body),
    }


def _send(alert: Alert, setting: AlertSettings, where: str) -> str:
    """One POST to the pinned, checked addresses of the webhook's host: "" when the receiver
    took it, else what the alerts page shows (the detail goes to the log)."""
    try:
        target = checked_target(setting.webhook_url)
    except Refused as refused:
        logger.warning("alert %s: webhook to %s refused: %s", alert.pk, where, refused.detail)
        return UNREACHABLE if refused.unresolved else NOT_PUBLIC
    body = json.dumps(webhook_payload(alert), separators=(",", ":")).encode()
    try:
        status = pinned_post(
            target,
            body,
            _headers(setting.webhook_secret, body),
            timeout=django_settings.ALERT_WEBHOOK_TIMEOUT,
        )
    except (OSError, http.client.HTTPException) as exc:
        addresses = ", ".join(str(sockaddr[0]) for _, sockaddr in target.addresses)
        logger.warning(
            "alert %s: webhook to %s (%s) could not be reached: %s: %s",
            alert.pk,
            where,
            addresses,
            type(exc).__name__,
            exc,
        )
        return UNREACHABLE
    if 200 <= status < 300:
        return ""
    logger.warning("alert %s: webhook to %s answered HTTP %s", alert.pk, where, status)
    return answered(status)


def post_webhook(alert_id: int, *, now: datetime) -> bool:
    """One delivery attempt of an alert to its org's webhook. Returns whether it was delivered
    now; raises WebhookFailed (which Celery retries) when the receiver could not take it. A
    host that resolves to an address that is not public is not retried."""
    alert = Alert.objects.select_related("org").filter(pk=alert_id).first()
    if alert is None or alert.webhook_delivered_at is not None:
        return False
    setting = AlertSettings.objects.filter(org_id=alert.org_id).first()
    if setting is None or not setting.webhook_url or not setting.webhook_secret:
        return False
    # The log names the host, never the URL's path or query (often a secret of its own).
    error = _send(alert, setting, redacted(setting.webhook_url))
    if error == NOT_PUBLIC:
        # Checked at each delivery: the name may resolve elsewhere than when it was saved.
        _failed(alert, error)
        return False
    if error:
        _failed(alert, error)
        raise WebhookFailed(error)
    Alert.objects.filter(pk=alert.pk).update(
        webhook_attempts=F("webhook_attempts") + 1,
        webhook_delivered_at=now,
        webhook_last_error="",
    )
    return True
