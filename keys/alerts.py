"""The alerts about keys: a key's caps at 80% or 100% of their period, and a key about to
expire. Billing raises and delivers them (billing.alerts); these are the keys' sources, which
keys.apps registers, since billing may not import keys."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import F, Q
from django.urls import reverse

from billing.alerts import EXPIRY_WARNING, KEY_CAPS, Candidate
from billing.alerts.evaluation import (
    NEAR,
    CapUse,
    cap_alerts,
    current_period,
    local_time,
    period_label,
    scoped,
    setting_of,
)
from billing.alerts.forecasts import runs_out_message
from billing.alerts.models import AlertKind
from billing.limits import forecast
from billing.limits.models import Counter, CounterKind
from billing.limits.periods import LimitPeriod, period_bounds
from billing.money import money_to_micros
from billing.usage.rollups import week_spend
from gateway_console.models import Org
from keys.models import IncreasableCap, Key, KeyStatus


def key_cap_alerts(now: datetime, org: Org | None, org_settings: dict) -> list[Candidate]:
    rows = (
        scoped(Counter.objects.filter(key__isnull=False), org)
        .filter(current_period(now))
        .filter(key__status=KeyStatus.ACTIVE)
        .filter(Q(key__expires_at__isnull=True) | Q(key__expires_at__gt=now))
        .alias(tokens_percent=F("tokens") * 100)
        .filter(
            Q(kind=CounterKind.MONTH, spend_micros__gte=F("key__monthly_spend_cap") * NEAR)
            | Q(kind=CounterKind.LIMIT, spend_micros__gte=F("key__cost_limit") * NEAR)
            | Q(kind=CounterKind.LIMIT, tokens_percent__gte=F("key__token_limit") * 79)
        )
        .values(
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
    uses = []
    for row in rows:
        if row["kind"] == CounterKind.MONTH:
            caps = [("monthly_spend", row["key__monthly_spend_cap"], row["spend_micros"])]
        else:
            caps = [
                ("cost", row["key__cost_limit"], row["spend_micros"]),
                ("tokens", row["key__token_limit"], row["tokens"]),
            ]
        for cap, limit_value, used in caps:
            label, unit = KEY_CAPS[cap]
            uses.append(
                CapUse(
                    org_id=row["org_id"],
                    tz=row["org__timezone"],
                    subject=f"{row['key_id']}/{cap}",
                    who=f"Key “{row['key__name']}” ({row['key__display_prefix']}…{row['key__last4']})",
                    # The monthly spend cap is monthly by its name; the others follow the key's
                    # limit period.
                    label=label
                    if cap == "monthly_spend"
                    else period_label(label, row["key__limit_period"]),
                    unit=unit,
                    used=used,
                    limit_value=limit_value,
                    period_start=row["period_start"],
                    period_end=row["period_end"],
                )
            )
    return cap_alerts(uses, AlertKind.KEY_CAP, org_settings)


def expiring_key_alerts(now: datetime, org: Org | None, org_settings: dict) -> list[Candidate]:
    rows = (
        scoped(Key.objects.filter(status=KeyStatus.ACTIVE), org)
        .filter(expires_at__gt=now, expires_at__lte=now + EXPIRY_WARNING)
        .values_list(
            "org_id", "org__timezone", "id", "name", "display_prefix", "last4", "expires_at"
        )
    )
    candidates = []
    for org_id, tz, key_id, name, prefix, last4, expires_at in rows:
        if not setting_of(org_settings, org_id).key_expiring:
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
                    f"Key “{name}” ({prefix}…{last4}) expires {when}, at {local_time(expires_at, tz)}. "
                    "Requests with it fail from then on; change its expiry or replace it."
                ),
            )
        )
    return candidates


def key_names(ids: set) -> dict:
    """{key id: name}, for the alerts' email and webhook."""
    return dict(Key.objects.filter(pk__in=ids).values_list("id", "name"))


def key_runs_out_alerts(now: datetime, org: Org | None, org_settings: dict) -> list[Candidate]:
    """A key's monthly spend cap or cost limit that, at the last week's pace, is spent before
    its period resets (billing.alerts.forecasts has the teams' and the wallet's)."""
    rows = (
        scoped(Counter.objects.filter(key__isnull=False), org)
        .filter(current_period(now), key__status=KeyStatus.ACTIVE)
        .filter(
            Q(kind=CounterKind.MONTH, key__monthly_spend_cap__isnull=False)
            | Q(kind=CounterKind.LIMIT, key__cost_limit__isnull=False)
        )
        .select_related("key", "org")
    )
    week = week_spend(org.pk if org else None, by="key", now=now)  # every org's, at once
    candidates = []
    for counter in rows:
        if not setting_of(org_settings, counter.org_id).cap_at_80:
            continue
        cap = "monthly_spend_cap" if counter.kind == CounterKind.MONTH else "cost_limit"
        left = money_to_micros(counter.key.effective_cap(cap, now)) - counter.spend_micros
        when = forecast.runs_out(left, week.get(counter.key_id, 0), now)
        if left > 0 and forecast.before(when, counter.period_end):
            key = counter.key
            what = f"key “{key.name}” ({key.preview})'s {IncreasableCap(cap).label.lower()}"
            candidates.append(
                Candidate(
                    org_id=counter.org_id,
                    kind=AlertKind.RUNS_OUT,
                    subject=f"{key.pk}/{cap}",
                    threshold="before_reset",
                    period_start=counter.period_start,
                    message=runs_out_message(what, when, counter.period_end, counter.org.timezone),
                )
            )
    return candidates


def rotation_due_alerts(now: datetime, org: Org | None, org_settings: dict) -> list[Candidate]:
    """A key on a rotation schedule: 7 days before it is due, and when it is due, its admins
    are emailed the link that rotates it (after sign-in and a step-up, with the schedule's
    overlap); the mail holds no secret. Under the "expiring" setting."""
    keys = scoped(Key.objects.filter(rotate_every_days__isnull=False), org).filter(
        status=KeyStatus.ACTIVE
    )
    candidates = []
    for key in keys.select_related("org"):
        due = key.rotation_due_at
        if due > now + EXPIRY_WARNING or not setting_of(org_settings, key.org_id).key_expiring:
            continue
        link = f"{settings.CONSOLE_URL}{reverse('keys:rotate', args=[key.pk])}"
        link += f"?grace_hours={key.rotation_overlap_hours}"
        when = "is due" if due <= now else f"is due at {local_time(due, key.org.timezone)}"
        candidates.append(
            Candidate(
                org_id=key.org_id,
                kind=AlertKind.KEY_ROTATION_DUE,
                subject=str(key.pk),
                threshold="due" if due <= now else "soon",
                period_start=due,
                message=(
                    f"Key “{key.name}” ({key.preview}) {when} for its scheduled rotation (every"
                    f" {key.rotate_every_days} days). Rotate it here, after signing in: {link}"
                    f" (the old secret keeps working {key.rotation_overlap_hours} h). The new"
                    " secret is shown once, on that page; this email never holds it."
                ),
            )
        )
    return candidates
