"""Reads of money and limits for the pages, already computed the way authorize sees them."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from billing import money
from billing.models import Counter, CounterKind
from billing.periods import LimitPeriod, period_bounds
from billing.pricing import micros_to_money, money_to_micros
from gateway_console.models import Team
from keys.models import Key


@dataclass(frozen=True)
class LimitUse:
    label: str
    limit: str
    used: str | None
    percent: int | None
    period_end: datetime | None


def _current(
    counter: Counter | None, period: str, tz: str, now: datetime
) -> tuple[int, int, datetime | None]:
    """(spend, tokens, period end) of the running period; an ended period counts as zero, as at
    authorize (CONTRACT.md section 2)."""
    if counter is not None and (counter.period_end is None or counter.period_end > now):
        return counter.spend_micros, counter.tokens, counter.period_end
    return 0, 0, period_bounds(period, now, tz)[1]


def _spend(label: str, cap: Decimal, spend: int, period_end) -> LimitUse:
    cap_micros = money_to_micros(cap)
    return LimitUse(
        label,
        money.display(cap),
        money.display(micros_to_money(spend)),
        min(100, spend * 100 // cap_micros),
        period_end,
    )


def _tokens(label: str, limit: int, tokens: int, period_end) -> LimitUse:
    return LimitUse(label, f"{limit:,}", f"{tokens:,}", min(100, tokens * 100 // limit), period_end)


def key_limits_now(key: Key) -> list[LimitUse]:
    now = timezone.now()
    counters = {c.kind: c for c in Counter.objects.filter(key=key)}
    tz = key.org.timezone
    rows = []
    if key.monthly_spend_cap is not None:
        spend, _, end = _current(counters.get(CounterKind.MONTH), LimitPeriod.MONTHLY, tz, now)
        rows.append(_spend("Monthly spend", key.monthly_spend_cap, spend, end))
    spend, tokens, end = _current(counters.get(CounterKind.LIMIT), key.limit_period, tz, now)
    if key.cost_limit is not None:
        rows.append(
            _spend(f"Cost ({key.get_limit_period_display().lower()})", key.cost_limit, spend, end)
        )
    if key.token_limit is not None:
        rows.append(
            _tokens(
                f"Tokens ({key.get_limit_period_display().lower()})", key.token_limit, tokens, end
            )
        )
    if key.rpm_limit is not None:
        rows.append(
            LimitUse("Requests per minute", f"{key.rpm_limit:,} per minute", None, None, None)
        )
    return rows


def team_limits_now(team: Team) -> list[LimitUse]:
    now = timezone.now()
    counter = Counter.objects.filter(team=team, kind=CounterKind.LIMIT).first()
    spend, tokens, end = _current(counter, team.limit_period, team.org.timezone, now)
    rows = []
    if team.spend_cap is not None:
        rows.append(_spend("Spend", team.spend_cap, spend, end))
    if team.token_limit is not None:
        rows.append(_tokens("Tokens", team.token_limit, tokens, end))
    if team.rpm_limit is not None:
        rows.append(
            LimitUse("Requests per minute", f"{team.rpm_limit:,} per minute", None, None, None)
        )
    return rows
