"""Raising alerts: one query per kind of alert for every org at once (or one org), then one
`INSERT ... ON CONFLICT DO NOTHING RETURNING` per thousand (see billing.alerts)."""

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import F, Q
from django.dispatch import Signal

from billing import money
from billing.alerts.common import (
    _PERIOD_WORD,
    BILLING_FORECAST_SOURCES,
    EXPIRY_WARNING,
    INSERT_CHUNK,
    KEY_ALERT_SOURCES,
    KEY_FORECAST_SOURCES,
    TEAM_CAPS,
)
from billing.alerts.models import AlertKind, AlertSettings
from billing.dbvalues import as_uuid, db_id, db_time
from billing.limits.models import Counter, CounterKind
from billing.limits.periods import LimitPeriod, period_bounds
from billing.money import micros_to_money, money_to_micros
from gateway_console.models import AdminToken, Org


@dataclass(frozen=True)
class Candidate:
    org_id: uuid.UUID
    kind: str
    subject: str
    threshold: str
    period_start: datetime
    message: str


def evaluate(*, now: datetime, org: Org | None = None, forecasts: bool = False) -> list[int]:
    """Raises every alert due at `now`, for every org or for one, and hands the new ones to
    delivery once they are committed. Returns the ids of the alerts it raised. With
    `forecasts`, the `runs_out` alerts instead (hourly: they read a week of rollups)."""
    with transaction.atomic():
        org_settings = _settings_by_org(org)
        chosen = (
            [*BILLING_FORECAST_SOURCES, *KEY_FORECAST_SOURCES]
            if forecasts
            else [*BILLING_SOURCES, *KEY_ALERT_SOURCES]
        )
        sources = sorted(chosen, key=lambda item: item[0])
        candidates = [c for _, source in sources for c in source(now, org, org_settings)]
        raised = _insert(candidates, now)
        if raised:
            email = [pk for pk, org_id in raised if setting_of(org_settings, org_id).email]
            webhook = [pk for pk, org_id in raised if setting_of(org_settings, org_id).webhook_url]
            # After the commit: a worker must find the rows, and a rolled-back evaluation must
            # send nothing.
            transaction.on_commit(lambda: _dispatch(email, webhook))
    return [pk for pk, _ in raised]


def raise_now(candidate: Candidate, *, now: datetime) -> int | None:
    """Raises one alert at once, apart from the periodic evaluation (a canary key was used),
    and hands it to delivery after the commit: by email to the org's owners and admins
    whatever the org's alert settings say (it is about a stolen key), and to its webhook if it
    has one. Returns its id; None when it was raised before."""
    with transaction.atomic():
        raised = _insert([candidate], now)
        if not raised:
            return None
        ((pk, org_id),) = raised
        setting = setting_of(_settings_by_org_id(org_id), org_id)
        webhook = [pk] if setting.webhook_url else []
        transaction.on_commit(lambda: _dispatch([pk], webhook))
    return pk


def _settings_by_org_id(org_id) -> dict:
    return {row.org_id: row for row in AlertSettings.objects.filter(org_id=org_id)}


@functools.cache
def _defaults() -> AlertSettings:
    """What an org that never saved its alert settings gets: the model's defaults."""
    return AlertSettings()


def _settings_by_org(org: Org | None) -> dict:
    rows = AlertSettings.objects.all() if org is None else AlertSettings.objects.filter(org=org)
    return {row.org_id: row for row in rows}


def setting_of(org_settings: dict, org_id) -> AlertSettings:
    return org_settings.get(org_id) or _defaults()


def scoped(queryset, org: Org | None):
    return queryset if org is None else queryset.filter(org=org)


def current_period(now: datetime) -> Q:
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


def local_time(moment: datetime, tz: str) -> str:
    return f"{moment.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M} {tz}"


def _period_sentence(period_end: datetime | None, tz: str) -> str:
    if period_end is None:
        return "This limit never resets."
    return f"The period ends {local_time(period_end, tz)}."


def _amounts(unit: str, used: int, limit: int) -> str:
    if unit == "money":
        return f"{money.display(micros_to_money(used))} of {money.display(micros_to_money(limit))}"
    return f"{used:,} of {limit:,} tokens"


# The loose SQL pre-filter lets through every counter at 79% or more of a cap (SQLite compares
# decimals as floats); the exact test is `_crossed`, in integers.
NEAR = 790_000  # micro-units per unit of a cap, at 79%


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


@dataclass(frozen=True)
class CapUse:
    """One cap of one counter in its running period: what a cap alert is about."""

    org_id: uuid.UUID
    tz: str
    subject: str  # "<owner id>/<cap>"
    who: str  # "Key “billing” (sk-gw-…x7Kp)", "Team “Search”"
    label: str
    unit: str  # "money" or "tokens"
    used: int
    limit_value: object  # a Decimal cap or an integer token limit; None: no such cap
    period_start: datetime
    period_end: datetime | None


def cap_alerts(uses, kind: str, org_settings: dict) -> list["Candidate"]:
    """The one loop of cap alerts, for keys and teams alike: for each cap in use, the alert of
    the highest threshold it has crossed, if any."""
    candidates = []
    for use in uses:
        if use.limit_value is None:
            continue
        candidate = _cap_candidate(
            org_id=use.org_id,
            kind=kind,
            subject=use.subject,
            who=use.who,
            label=use.label,
            unit=use.unit,
            used=use.used,
            limit_value=use.limit_value,
            thresholds=_thresholds(setting_of(org_settings, use.org_id)),
            period_start=use.period_start,
            period_end=use.period_end,
            tz=use.tz,
        )
        if candidate is not None:
            candidates.append(candidate)
    return candidates


def period_label(label: str, limit_period: str) -> str:
    return f"{_PERIOD_WORD.get(limit_period, '')} {label}".strip()


def _team_cap_alerts(now: datetime, org: Org | None, org_settings: dict) -> list[Candidate]:
    rows = (
        scoped(Counter.objects.filter(team__isnull=False, kind=CounterKind.LIMIT), org)
        .filter(current_period(now))
        .alias(tokens_percent=F("tokens") * 100)
        .filter(
            Q(spend_micros__gte=F("team__spend_cap") * NEAR)
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
    uses = [
        CapUse(
            org_id,
            tz,
            f"{team_id}/{cap}",
            f"Team “{name}”",
            period_label(TEAM_CAPS[cap].label, limit_period),
            TEAM_CAPS[cap].unit,
            used,
            limit_value,
            start,
            end,
        )
        for org_id, tz, team_id, name, spend_cap, token_limit, limit_period, spend, tokens, start, end in rows
        for cap, limit_value, used in (("spend", spend_cap, spend), ("tokens", token_limit, tokens))
    ]
    return cap_alerts(uses, AlertKind.TEAM_CAP, org_settings)


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


def expires_when(expires_at: datetime, now: datetime) -> str:
    days = (expires_at - now).days
    return "within a day" if days == 0 else f"in {days} day{'s' if days > 1 else ''}"


def _admin_token_expiry_alerts(
    now: datetime, org: Org | None, org_settings: dict
) -> list[Candidate]:
    """A live admin token that expires within EXPIRY_WARNING: once per token (its expiry is
    fixed at creation; the subject and the expiry day make the alert unique). Named by its name
    and preview; the console never has its plaintext. Follows the `key_expiring` setting."""
    rows = (
        scoped(AdminToken.objects.filter(revoked_at__isnull=True), org)
        .filter(expires_at__gt=now, expires_at__lte=now + EXPIRY_WARNING)
        .values_list(
            "org_id", "org__timezone", "id", "name", "display_prefix", "last4", "expires_at"
        )
    )
    candidates = []
    for org_id, tz, token_id, name, prefix, last4, expires_at in rows:
        if not setting_of(org_settings, org_id).key_expiring:
            continue
        candidates.append(
            Candidate(
                org_id=org_id,
                kind=AlertKind.ADMIN_TOKEN_EXPIRING,
                subject=str(token_id),
                threshold=expires_at.astimezone(ZoneInfo(tz)).date().isoformat(),
                period_start=period_bounds(LimitPeriod.DAILY, expires_at, tz)[0],
                message=(
                    f"Admin token “{name}” ({prefix}…{last4}) expires "
                    f"{expires_when(expires_at, now)}, at {local_time(expires_at, tz)}. The "
                    "admin API refuses it from then on; create a new token and move its "
                    "scripts to it."
                ),
            )
        )
    return candidates


# Billing's own sources of alerts, in the order evaluate runs them with the keys' (keys.apps).
# Admin tokens are tenancy's, which billing may read: their source is billing's own.
BILLING_SOURCES: list[tuple[int, Callable]] = [
    (10, _wallet_alerts),
    (30, _team_cap_alerts),
    (50, _admin_token_expiry_alerts),
]


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


# Sent once the raised alerts are committed; billing.alerts.tasks queues their delivery (the domain
# never imports its task module: the tasks import the domain).
alerts_raised = Signal()


def _dispatch(email_ids: list[int], webhook_ids: list[int]) -> None:
    alerts_raised.send(sender=evaluate, email_ids=email_ids, webhook_ids=webhook_ids)
