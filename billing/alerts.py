"""Spend alerts: what an org admin wants to be told about, raised once per threshold per period,
shown in the console, emailed to the org's owners and admins and optionally POSTed, signed, to
a webhook.

Raising is set-based: one query per kind of alert for every org at once (or for one org), then
one `INSERT ... ON CONFLICT DO NOTHING RETURNING` per thousand alerts. The unique constraint
`alert_once_per_period` is what makes an alert happen once: the evaluation runs every minute, on
any number of workers, and only the statement that actually inserted a row hands it to delivery.

The period of each kind of alert (the `period_start` of the constraint):

- a key's monthly spend cap, cost limit and token limit, a team's spend cap and token limit at
  80% or 100%: the current period of the counter. An ended period counts as zero, as at authorize
  (docs/contract.md section 2), so nothing is raised for it, and the next period (a new
  `period_start`) re-arms the alert. When a key passes both thresholds between two evaluations,
  only the higher one is raised.
- the wallet below an amount: once per calendar month in the org's time zone, per amount. We
  chose the month over "re-armed once the balance is back above the amount" because it needs no
  history of the balance and cannot flap: a wallet hovering around the amount alerts once a
  month, not at every top-up and debit. Changing the amount is a new threshold and alerts again.
- a key expiring within 7 days: once per key per expiry day (in the org's time zone), so moving
  the expiry to another day alerts again.

Alerts never hold a key's plaintext: the console does not have it. They name a key by its name
and preview (prefix and last four characters).
"""

import functools
import hashlib
import hmac
import http.client
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings as django_settings
from django.core import mail
from django.db import connection, transaction
from django.db.models import F, Q
from django.dispatch import Signal
from django.urls import reverse

import audit
from audit import Actor
from billing import money, webhook_guard
from billing.dbvalues import as_uuid, db_id, db_time
from billing.models import Alert, AlertKind, AlertSettings, Counter, CounterKind
from billing.periods import LimitPeriod, period_bounds
from billing.pricing import micros_to_money, money_to_micros
from gateway_console.models import Membership, Org, Role, Team
from keys.models import Key, KeyStatus

logger = logging.getLogger(__name__)

EXPIRY_WARNING = timedelta(days=7)
# Rows per INSERT statement: 9 parameters each stays far below SQLite's 32,766.
INSERT_CHUNK = 1000
# The badge counts alerts of the last week that this session has not seen, up to this many.
BADGE_WINDOW = timedelta(days=7)
BADGE_MAX = 99
SEEN_SESSION_KEY = "alerts_seen"
PAGE_SIZE = 50

# Caps by the part of the alert's subject after the owner's id: (label, counter kind, unit).
KEY_CAPS = {
    "monthly_spend": ("monthly spend cap", CounterKind.MONTH, "money"),
    "cost": ("cost limit", CounterKind.LIMIT, "money"),
    "tokens": ("token limit", CounterKind.LIMIT, "tokens"),
}
TEAM_CAPS = {
    "spend": ("spend cap", CounterKind.LIMIT, "money"),
    "tokens": ("token limit", CounterKind.LIMIT, "tokens"),
}
_PERIOD_WORD = {
    LimitPeriod.DAILY: "daily",
    LimitPeriod.WEEKLY: "weekly",
    LimitPeriod.MONTHLY: "monthly",
    LimitPeriod.YEARLY: "yearly",
    LimitPeriod.NEVER: "lifetime",
}


class AlertSettingsRefused(Exception):
    pass


class WebhookFailed(Exception):
    """The receiver did not answer 2xx (or could not be reached); Celery retries."""


# Settings ---------------------------------------------------------------------------------------

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


def _audit_value(value):
    return str(value) if isinstance(value, Decimal) else value


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
    by the console; the secret itself is never written to the audit log."""
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
    changes = {}
    for field, value in new.items():
        before = getattr(current, field)
        if before != value:
            changes[field] = {"before": _audit_value(before), "after": _audit_value(value)}
            setattr(current, field, value)
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


# Evaluation -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    org_id: uuid.UUID
    kind: str
    subject: str
    threshold: str
    period_start: datetime
    message: str


def evaluate(*, now: datetime, org: Org | None = None) -> list[int]:
    """Raises every alert due at `now`, for every org or for one, and hands the new ones to
    delivery once they are committed. Returns the ids of the alerts it raised."""
    with transaction.atomic():
        org_settings = _settings_by_org(org)
        candidates = [
            *_wallet_alerts(now, org, org_settings),
            *_key_cap_alerts(now, org, org_settings),
            *_team_cap_alerts(now, org, org_settings),
            *_expiring_key_alerts(now, org, org_settings),
        ]
        raised = _insert(candidates, now)
        if raised:
            email = [pk for pk, org_id in raised if _setting(org_settings, org_id).email]
            webhook = [pk for pk, org_id in raised if _setting(org_settings, org_id).webhook_url]
            # After the commit: a worker must find the rows, and a rolled-back evaluation must
            # send nothing.
            transaction.on_commit(lambda: _dispatch(email, webhook))
    return [pk for pk, _ in raised]


@functools.cache
def _defaults() -> AlertSettings:
    """What an org that never saved its alert settings gets: the model's defaults."""
    return AlertSettings()


def _settings_by_org(org: Org | None) -> dict:
    rows = AlertSettings.objects.all() if org is None else AlertSettings.objects.filter(org=org)
    return {row.org_id: row for row in rows}


def _setting(org_settings: dict, org_id) -> AlertSettings:
    return org_settings.get(org_id) or _defaults()


def _scoped(queryset, org: Org | None):
    return queryset if org is None else queryset.filter(org=org)


def _current_period(now: datetime) -> Q:
    # An ended period counts as zero (docs/contract.md section 2): nothing to alert about.
    return Q(period_end__isnull=True) | Q(period_end__gt=now)


def _thresholds(setting: AlertSettings) -> list[int]:
    return [t for t, on in ((100, setting.cap_at_100), (80, setting.cap_at_80)) if on]


def _crossed(used: int, limit: int, thresholds: list[int]) -> int | None:
    """The highest threshold (in percent) that `used` has reached, exactly, in integers."""
    if limit <= 0:
        return None
    for threshold in thresholds:
        if used * 100 >= limit * threshold:
            return threshold
    return None


def _local(moment: datetime, tz: str) -> str:
    return f"{moment.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M} {tz}"


def _period_sentence(period_end: datetime | None, tz: str) -> str:
    if period_end is None:
        return "This limit never resets."
    return f"The period ends {_local(period_end, tz)}."


def _amounts(unit: str, used: int, limit: int) -> str:
    if unit == "money":
        return f"{money.display(micros_to_money(used))} of {money.display(micros_to_money(limit))}"
    return f"{used:,} of {limit:,} tokens"


# The loose SQL pre-filter lets through every counter at 79% or more of a cap (SQLite compares
# decimals as floats); the exact test is `_crossed`, in integers.
_NEAR = 790_000  # micro-units per unit of a cap, at 79%


def _key_cap_alerts(now: datetime, org: Org | None, org_settings: dict) -> list[Candidate]:
    rows = (
        _scoped(Counter.objects.filter(key__isnull=False), org)
        .filter(_current_period(now))
        .filter(key__status=KeyStatus.ACTIVE)
        .filter(Q(key__expires_at__isnull=True) | Q(key__expires_at__gt=now))
        .alias(tokens_percent=F("tokens") * 100)
        .filter(
            Q(kind=CounterKind.MONTH, spend_micros__gte=F("key__monthly_spend_cap") * _NEAR)
            | Q(kind=CounterKind.LIMIT, spend_micros__gte=F("key__cost_limit") * _NEAR)
            | Q(kind=CounterKind.LIMIT, tokens_percent__gte=F("key__token_limit") * 79)
        )
        .values_list(
            "org_id",
            "org__timezone",
            "key_id",
            "key__name",
            "key__display_prefix",
            "key__last4",
            "key__monthly_spend_cap",
            "key__cost_limit",
            "key__token_limit",
            "key__limit_period",
            "kind",
            "spend_micros",
            "tokens",
            "period_start",
            "period_end",
        )
    )
    candidates = []
    for (
        org_id,
        tz,
        key_id,
        name,
        prefix,
        last4,
        monthly_cap,
        cost_limit,
        token_limit,
        limit_period,
        kind,
        spend,
        tokens,
        period_start,
        period_end,
    ) in rows:
        thresholds = _thresholds(_setting(org_settings, org_id))
        if kind == CounterKind.MONTH:
            caps = [("monthly_spend", monthly_cap, spend)]
        else:
            caps = [("cost", cost_limit, spend), ("tokens", token_limit, tokens)]
        for cap, limit_value, used in caps:
            if limit_value is None:
                continue
            label, _, unit = KEY_CAPS[cap]
            if cap != "monthly_spend":
                label = f"{_PERIOD_WORD.get(limit_period, '')} {label}".strip()
            candidate = _cap_candidate(
                org_id=org_id,
                kind=AlertKind.KEY_CAP,
                subject=f"{key_id}/{cap}",
                who=f"Key “{name}” ({prefix}…{last4})",
                label=label,
                unit=unit,
                used=used,
                limit_value=limit_value,
                thresholds=thresholds,
                period_start=period_start,
                period_end=period_end,
                tz=tz,
            )
            if candidate is not None:
                candidates.append(candidate)
    return candidates


def _cap_candidate(
    *,
    org_id,
    kind: str,
    subject: str,
    who: str,
    label: str,
    unit: str,
    used: int,
    limit_value,
    thresholds,
    period_start,
    period_end,
    tz,
) -> "Candidate | None":
    """The alert for the highest threshold this use has crossed, if any."""
    limit = money_to_micros(limit_value) if unit == "money" else int(limit_value)
    threshold = _crossed(used, limit, thresholds)
    if threshold is None:
        return None
    return Candidate(
        org_id=org_id,
        kind=kind,
        subject=subject,
        threshold=str(threshold),
        period_start=period_start,
        message=(
            f"{who} passed {threshold}% of its {label}: "
            f"{_amounts(unit, used, limit)} used ({used * 100 // limit}%). "
            f"{_period_sentence(period_end, tz)}"
        ),
    )


def _team_cap_alerts(now: datetime, org: Org | None, org_settings: dict) -> list[Candidate]:
    rows = (
        _scoped(Counter.objects.filter(team__isnull=False, kind=CounterKind.LIMIT), org)
        .filter(_current_period(now))
        .alias(tokens_percent=F("tokens") * 100)
        .filter(
            Q(spend_micros__gte=F("team__spend_cap") * _NEAR)
            | Q(tokens_percent__gte=F("team__token_limit") * 79)
        )
        .values_list(
            "org_id",
            "org__timezone",
            "team_id",
            "team__name",
            "team__spend_cap",
            "team__token_limit",
            "team__limit_period",
            "spend_micros",
            "tokens",
            "period_start",
            "period_end",
        )
    )
    candidates = []
    for (
        org_id,
        tz,
        team_id,
        name,
        spend_cap,
        token_limit,
        limit_period,
        spend,
        tokens,
        period_start,
        period_end,
    ) in rows:
        thresholds = _thresholds(_setting(org_settings, org_id))
        for cap, limit_value, used in (
            ("spend", spend_cap, spend),
            ("tokens", token_limit, tokens),
        ):
            if limit_value is None:
                continue
            label, _, unit = TEAM_CAPS[cap]
            label = f"{_PERIOD_WORD.get(limit_period, '')} {label}".strip()
            candidate = _cap_candidate(
                org_id=org_id,
                kind=AlertKind.TEAM_CAP,
                subject=f"{team_id}/{cap}",
                who=f"Team “{name}”",
                label=label,
                unit=unit,
                used=used,
                limit_value=limit_value,
                thresholds=thresholds,
                period_start=period_start,
                period_end=period_end,
                tz=tz,
            )
            if candidate is not None:
                candidates.append(candidate)
    return candidates


def _wallet_alerts(now: datetime, org: Org | None, org_settings: dict) -> list[Candidate]:
    amounts = {
        org_id: setting.wallet_below
        for org_id, setting in org_settings.items()
        if setting.wallet_below is not None
    }
    if not amounts:
        return []
    # An org without a wallet row has nothing in it.
    rows = Org.objects.filter(pk__in=list(amounts)).values_list(
        "id", "name", "timezone", "wallet__balance_micros"
    )
    candidates = []
    for org_id, org_name, tz, stored_balance in rows:
        balance = stored_balance or 0
        below = money.to_money(amounts[org_id])
        if balance >= money_to_micros(below):
            continue
        candidates.append(
            Candidate(
                org_id=org_id,
                kind=AlertKind.WALLET_LOW,
                subject=str(org_id),
                threshold=f"{below:f}",
                period_start=period_bounds(LimitPeriod.MONTHLY, now, tz)[0],
                message=(
                    f"The wallet of {org_name} is down to {money.display(micros_to_money(balance))}, "
                    f"below your alert amount of {money.display(below)}. "
                    "Keys stop working when it cannot cover a request."
                ),
            )
        )
    return candidates


def _expiring_key_alerts(now: datetime, org: Org | None, org_settings: dict) -> list[Candidate]:
    rows = (
        _scoped(Key.objects.filter(status=KeyStatus.ACTIVE), org)
        .filter(expires_at__gt=now, expires_at__lte=now + EXPIRY_WARNING)
        .values_list(
            "org_id", "org__timezone", "id", "name", "display_prefix", "last4", "expires_at"
        )
    )
    candidates = []
    for org_id, tz, key_id, name, prefix, last4, expires_at in rows:
        if not _setting(org_settings, org_id).key_expiring:
            continue
        day = expires_at.astimezone(ZoneInfo(tz)).date()
        days = (expires_at - now).days
        when = "within a day" if days == 0 else f"in {days} day{'s' if days > 1 else ''}"
        candidates.append(
            Candidate(
                org_id=org_id,
                kind=AlertKind.KEY_EXPIRING,
                subject=str(key_id),
                threshold=day.isoformat(),
                period_start=period_bounds(LimitPeriod.DAILY, expires_at, tz)[0],
                message=(
                    f"Key “{name}” ({prefix}…{last4}) expires {when}, at {_local(expires_at, tz)}. "
                    "Requests with it fail from then on; change its expiry or replace it."
                ),
            )
        )
    return candidates


def _insert(candidates: list[Candidate], now: datetime) -> list[tuple[int, uuid.UUID]]:
    """Inserts the alerts not raised before; returns (id, org id) of those it inserted."""
    unique = {(c.org_id, c.kind, c.subject, c.threshold, c.period_start): c for c in candidates}
    rows = list(unique.values())
    raised = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            params = []
            for c in chunk:
                params += [
                    db_id(c.org_id),
                    c.kind,
                    c.subject,
                    c.threshold,
                    db_time(c.period_start),
                    c.message[:300],
                    db_time(now),
                    0,
                    "",
                ]
            cursor.execute(
                "INSERT INTO billing_alert (org_id, kind, subject, threshold, period_start,"  # noqa: S608 (placeholders only)
                " message, created_at, webhook_attempts, webhook_last_error) VALUES "
                + ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
                + " ON CONFLICT (org_id, kind, subject, threshold, period_start) DO NOTHING"
                " RETURNING id, org_id",
                params,
            )
            raised += [(pk, as_uuid(org_id)) for pk, org_id in cursor.fetchall()]
    return raised


# Sent once the raised alerts are committed; billing.tasks queues their delivery (the domain
# never imports its task module: the tasks import the domain).
alerts_raised = Signal()


def _dispatch(email_ids: list[int], webhook_ids: list[int]) -> None:
    alerts_raised.send(sender=evaluate, email_ids=email_ids, webhook_ids=webhook_ids)


# Delivery ---------------------------------------------------------------------------------------


def _owner_id(alert: Alert) -> uuid.UUID | None:
    try:
        return uuid.UUID(alert.subject.split("/")[0])
    except ValueError:
        return None


def _cap_label(alert: Alert) -> str:
    caps = TEAM_CAPS if alert.kind == AlertKind.TEAM_CAP else KEY_CAPS
    cap = alert.subject.partition("/")[2]
    return caps.get(cap, ("cap",))[0]


def titles(alerts: list[Alert]) -> dict[int, str]:
    """A one-line title per alert, naming its key or team (two queries at most)."""
    key_ids = {
        _owner_id(a) for a in alerts if a.kind in (AlertKind.KEY_CAP, AlertKind.KEY_EXPIRING)
    }
    team_ids = {_owner_id(a) for a in alerts if a.kind == AlertKind.TEAM_CAP}
    key_names = (
        dict(Key.objects.filter(pk__in=key_ids).values_list("id", "name")) if key_ids else {}
    )
    team_names = (
        dict(Team.objects.filter(pk__in=team_ids).values_list("id", "name")) if team_ids else {}
    )
    result = {}
    for a in alerts:
        if a.kind == AlertKind.WALLET_LOW:
            result[a.pk] = f"Wallet below {money.display(Decimal(a.threshold))}"
        elif a.kind == AlertKind.KEY_EXPIRING:
            result[a.pk] = f"Key {key_names.get(_owner_id(a), '?')} expires on {a.threshold}"
        elif a.kind == AlertKind.TEAM_CAP:
            result[a.pk] = (
                f"Team {team_names.get(_owner_id(a), '?')} passed {a.threshold}% of its "
                f"{_cap_label(a)}"
            )
        else:
            result[a.pk] = (
                f"Key {key_names.get(_owner_id(a), '?')} passed {a.threshold}% of its "
                f"{_cap_label(a)}"
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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect is not a delivery: a POST must not turn into a GET somewhere else.
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def post_webhook(alert_id: int, *, now: datetime) -> bool:
    """One delivery attempt of an alert to its org's webhook. Returns whether it was delivered
    now; raises WebhookFailed (which Celery retries) when the receiver could not take it."""
    alert = Alert.objects.select_related("org").filter(pk=alert_id).first()
    if alert is None or alert.webhook_delivered_at is not None:
        return False
    setting = AlertSettings.objects.filter(org_id=alert.org_id).first()
    if setting is None or not setting.webhook_url or not setting.webhook_secret:
        return False
    refused = webhook_guard.refusal(setting.webhook_url)
    if refused:
        # Checked again at delivery: the name may resolve elsewhere than when it was saved.
        Alert.objects.filter(pk=alert.pk).update(
            webhook_attempts=F("webhook_attempts") + 1, webhook_last_error=refused[:300]
        )
        logger.warning("alert %s: webhook refused: %s", alert.pk, refused)
        return False
    body = json.dumps(webhook_payload(alert), separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310 (the URL form field allows http and https only)
        setting.webhook_url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "GatewayConsole-Alerts/1",
            "X-Console-Timestamp": timestamp,
            "X-Console-Signature": signature(setting.webhook_secret, timestamp, body),
        },
    )
    error = ""
    try:
        with _opener.open(request, timeout=django_settings.ALERT_WEBHOOK_TIMEOUT) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        error = f"HTTP {exc.code} from the receiver"
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        error = f"Could not reach the receiver: {reason}"
    else:
        if not 200 <= status < 300:
            error = f"HTTP {status} from the receiver"
    if not error:
        Alert.objects.filter(pk=alert.pk).update(
            webhook_attempts=F("webhook_attempts") + 1,
            webhook_delivered_at=now,
            webhook_last_error="",
        )
        return True
    Alert.objects.filter(pk=alert.pk).update(
        webhook_attempts=F("webhook_attempts") + 1, webhook_last_error=error[:300]
    )
    logger.warning("alert %s: webhook delivery failed: %s", alert.pk, error)
    raise WebhookFailed(error)


# Reads for the pages ----------------------------------------------------------------------------


def watching(setting: AlertSettings) -> list[str]:
    """What the settings watch, in words."""
    result = []
    if setting.wallet_below is not None:
        result.append(f"wallet below {money.display(setting.wallet_below)}")
    caps = [f"{t}%" for t, on in ((80, setting.cap_at_80), (100, setting.cap_at_100)) if on]
    if caps:
        result.append(f"caps at {' and '.join(caps)}")
    if setting.key_expiring:
        result.append("keys expiring within 7 days")
    return result


@dataclass(frozen=True)
class AlertRow:
    alert: Alert
    threshold_label: str
    link: str | None
    # "deleted" (red) for a cap reached or a low wallet, "expired" (amber) for a warning.
    badge: str


@dataclass(frozen=True)
class AlertPage:
    rows: list[AlertRow]
    older_than: int | None


def _threshold_label(alert: Alert) -> str:
    if alert.kind == AlertKind.WALLET_LOW:
        return f"below {money.display(Decimal(alert.threshold))}"
    if alert.kind == AlertKind.KEY_EXPIRING:
        return f"expires {alert.threshold}"
    return f"{alert.threshold}% of {_cap_label(alert)}"


def _link(alert: Alert) -> str | None:
    owner = _owner_id(alert)
    if owner is None or alert.kind == AlertKind.WALLET_LOW:
        return None
    if alert.kind == AlertKind.TEAM_CAP:
        return reverse("team-detail", args=[owner])
    return reverse("keys:detail", args=[owner])


def alerts_of(membership: Membership, *, before: int | None = None) -> AlertPage:
    """The org's alerts, newest first, a page at a time (keyset on the id). One query."""
    queryset = Alert.objects.filter(org_id=membership.org_id).order_by("-id")
    if before is not None:
        queryset = queryset.filter(id__lt=before)
    alerts = list(queryset[: PAGE_SIZE + 1])
    rows = [
        AlertRow(
            a,
            _threshold_label(a),
            _link(a),
            "deleted" if a.threshold == "100" or a.kind == AlertKind.WALLET_LOW else "expired",
        )
        for a in alerts[:PAGE_SIZE]
    ]
    older = alerts[PAGE_SIZE - 1].pk if len(alerts) > PAGE_SIZE else None
    return AlertPage(rows, older)


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
