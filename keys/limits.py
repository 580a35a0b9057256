"""A key's limits against their use this period: the key page, and the caps overview of every
capped key (billing keeps the counters; this reads them for keys)."""

import uuid
from datetime import datetime

from django.db.models import BigIntegerField, F, Q, QuerySet, Subquery
from django.db.models.functions import Cast, Coalesce, Greatest
from django.utils import timezone

from billing.ledger.models import Wallet
from billing.limits import forecast, ratelimit
from billing.limits.models import Counter, CounterKind, ModelCounter
from billing.limits.periods import LimitPeriod, period_bounds
from billing.limits.selectors import (
    LimitUse,
    current_counter,
    current_use,
    rate_rows,
    spend_row,
    tokens_row,
    used_ppm,
)
from billing.money import display, micros_to_money
from billing.usage import rollups
from gateway_console.paging import Column, Page, keyset_page
from keys.models import Key


def key_rows(
    key: Key, month: tuple, limit: tuple, week: int | None = None, rates=None
) -> list[LimitUse]:
    """A key's limits against its use; `month` and `limit` are (spend, tokens, period end) of
    its two counters' running periods. The one place both the key page and the caps overview
    describe a key's limits."""
    rows, now = [], timezone.now()
    period = key.get_limit_period_display().lower()
    for cap, label, use in (
        ("monthly_spend_cap", "Monthly spend", month),
        ("cost_limit", f"Cost ({period})", limit),
    ):
        if getattr(key, cap) is not None:
            if key.increase_of(cap, now):
                label += " (raised for now)"
            rows.append(spend_row(label, key.effective_cap(cap, now), use[0], use[2], week=week))
    if key.token_limit is not None:
        rows.append(tokens_row(f"Tokens ({period})", key.token_limit, limit[1], limit[2]))
    return rows + rate_rows(key, rates)


def key_limits_now(key: Key) -> list[LimitUse]:
    now = timezone.now()
    counters = {c.kind: c for c in Counter.objects.filter(key=key)}
    tz = key.org.timezone
    week = rollups.week_spend(key.org_id, by="key", ids=[key.pk], now=now).get(key.pk, 0)
    bucket = ratelimit.key_bucket(key.pk)
    rates = ratelimit.flow_use([bucket])[bucket] if key.tpm_limit or key.max_in_flight else None
    rows = key_rows(
        key,
        current_use(counters.get(CounterKind.MONTH), LimitPeriod.MONTHLY, tz, now),
        current_use(counters.get(CounterKind.LIMIT), key.limit_period, tz, now),
        week,
        rates,
    )
    return rows + _budget_rows(key, now) if key.model_budgets else rows


def _budget_rows(key: Key, now) -> list[LimitUse]:
    """Each per-model budget against the key's spend on that model this period."""
    used = {c.model: c for c in ModelCounter.objects.filter(key=key)}
    period, tz = key.get_limit_period_display().lower(), key.org.timezone
    return [
        spend_row(
            f"{model} ({period})",
            cap,
            *current_use(used.get(model), key.limit_period, tz, now)[::2],
        )
        for model, cap in key.budgets
    ]


CAP_SORTS = {"-used": "Most used first", "name": "Name", "period_end": "Period ends soonest"}


# The keyset order of each sort of the caps page.
CAP_ORDERS = {
    "-used": [
        Column("used_ratio", descending=True, kind=int),
        Column("name"),
        Column("id", kind=uuid.UUID),
    ],
    "name": [Column("name"), Column("id", kind=uuid.UUID)],
    "period_end": [
        Column("limit_end", nullable=True, kind=datetime),
        Column("name"),
        Column("id", kind=uuid.UUID),
    ],
}


def capped_keys_page(org, *, sort: str = "-used", after: str = "", before: str = "") -> Page[Key]:
    """The org's keys with a cap, a keyset page of 50 at a time, in the order of `sort`."""
    order = CAP_ORDERS.get(sort) or CAP_ORDERS["-used"]
    return keyset_page(_capped_keys(org), order, after=after, before=before, size=50)


def _capped_keys(org) -> QuerySet[Key]:
    """Every key of the org with a cap, with its use in the current period, and how much of its
    tightest cap it has used."""
    month = current_counter(CounterKind.MONTH, "key")
    limit = current_counter(CounterKind.LIMIT, "key")
    keys = (
        Key.objects.filter(org=org)
        .exclude(status="deleted")
        .filter(
            Q(monthly_spend_cap__isnull=False)
            | Q(cost_limit__isnull=False)
            | Q(token_limit__isnull=False)
        )
        .select_related("team")
        .annotate(
            month_spend=Coalesce(Subquery(month.values("spend_micros")[:1]), 0),
            month_end=Subquery(month.values("period_end")[:1]),
            limit_spend=Coalesce(Subquery(limit.values("spend_micros")[:1]), 0),
            limit_tokens=Coalesce(Subquery(limit.values("tokens")[:1]), 0),
            limit_end=Subquery(limit.values("period_end")[:1]),
            org_timezone=F("org__timezone"),
        )
        .annotate(
            used_ratio=Greatest(
                used_ppm(
                    F("month_spend"),
                    "monthly_spend_cap",
                    Cast(F("monthly_spend_cap") * 1_000_000, BigIntegerField()),
                ),
                used_ppm(
                    F("limit_spend"),
                    "cost_limit",
                    Cast(F("cost_limit") * 1_000_000, BigIntegerField()),
                ),
                used_ppm(F("limit_tokens"), "token_limit", F("token_limit")),
            ),
        )
    )
    return keys


def key_cap_rows(key: Key, week: int | None = None) -> list[LimitUse]:
    """The limits of a key from capped_keys' annotations (no further query); with `week`, the
    last week's spend, its spend caps' forecasts."""
    now = timezone.now()
    month_end = key.month_end or period_bounds(LimitPeriod.MONTHLY, now, key.org_timezone)[1]
    limit_end = key.limit_end or period_bounds(key.limit_period, now, key.org_timezone)[1]
    return key_rows(
        key, (key.month_spend, 0, month_end), (key.limit_spend, key.limit_tokens, limit_end), week
    )


def wallet_forecast(org, now) -> dict:
    """The org's wallet (balance less holds) and when it runs out at the last week's pace."""
    wallet = Wallet.objects.filter(org=org).values("balance_micros", "held_micros").first()
    left = (wallet["balance_micros"] - wallet["held_micros"]) if wallet else 0
    week = rollups.week_spend(org.pk, by=None, now=now)[None]
    return {
        "left": display(micros_to_money(left)),
        "runs_out": forecast.runs_out(left, week, now),
        "paced": week > 0,
    }
