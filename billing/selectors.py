"""Reads of money and limits for the pages, already computed the way authorize sees them."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import (
    BigIntegerField,
    Case,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Greatest
from django.utils import timezone

from billing import money
from billing.models import Counter, CounterKind, ModelPrice, WalletEntry
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
    authorize (docs/contract.md section 2)."""
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


def _rpm(limit: int | None) -> list[LimitUse]:
    return (
        []
        if limit is None
        else [LimitUse("Requests per minute", f"{limit:,} per minute", None, None, None)]
    )


def _key_rows(key: Key, month: tuple, limit: tuple) -> list[LimitUse]:
    """A key's limits against its use; `month` and `limit` are (spend, tokens, period end) of
    its two counters' running periods. The one place both the key page and the caps overview
    describe a key's limits."""
    rows = []
    if key.monthly_spend_cap is not None:
        rows.append(_spend("Monthly spend", key.monthly_spend_cap, month[0], month[2]))
    period = key.get_limit_period_display().lower()
    if key.cost_limit is not None:
        rows.append(_spend(f"Cost ({period})", key.cost_limit, limit[0], limit[2]))
    if key.token_limit is not None:
        rows.append(_tokens(f"Tokens ({period})", key.token_limit, limit[1], limit[2]))
    return rows + _rpm(key.rpm_limit)


def _team_rows(team: Team, spend: int, tokens: int, end) -> list[LimitUse]:
    rows = []
    if team.spend_cap is not None:
        rows.append(_spend("Spend", team.spend_cap, spend, end))
    if team.token_limit is not None:
        rows.append(_tokens("Tokens", team.token_limit, tokens, end))
    return rows + _rpm(team.rpm_limit)


def key_limits_now(key: Key) -> list[LimitUse]:
    now = timezone.now()
    counters = {c.kind: c for c in Counter.objects.filter(key=key)}
    tz = key.org.timezone
    return _key_rows(
        key,
        _current(counters.get(CounterKind.MONTH), LimitPeriod.MONTHLY, tz, now),
        _current(counters.get(CounterKind.LIMIT), key.limit_period, tz, now),
    )


def team_limits_now(team: Team) -> list[LimitUse]:
    counter = Counter.objects.filter(team=team, kind=CounterKind.LIMIT).first()
    return _team_rows(
        team, *_current(counter, team.limit_period, team.org.timezone, timezone.now())
    )


# The billing pages ---------------------------------------------------------------------------


def _current_counter(kind: str, owner: str) -> QuerySet[Counter]:
    """The counter of the row's key or team whose period is still running."""
    now = timezone.now()
    return Counter.objects.filter(**{owner: OuterRef("pk")}, kind=kind).filter(
        Q(period_end__isnull=True) | Q(period_end__gt=now)
    )


def _used_ppm(used, cap_field: str, cap_units):
    """How much of a cap is used, in parts per million: integer arithmetic, so that PostgreSQL
    and SQLite sort alike (SQLite divides integers as integers)."""
    return Case(
        When(
            **{f"{cap_field}__isnull": False},
            then=ExpressionWrapper(used * 1_000_000 / cap_units, output_field=BigIntegerField()),
        ),
        default=Value(0),
        output_field=BigIntegerField(),
    )


CAP_SORTS = {"-used": "Most used first", "name": "Name", "period_end": "Period ends soonest"}


def capped_keys(org, *, sort: str = "-used") -> QuerySet[Key]:
    """Every key of the org with a cap, with its use in the current period, ready to sort by how
    much of its tightest cap it has used."""
    month = _current_counter(CounterKind.MONTH, "key")
    limit = _current_counter(CounterKind.LIMIT, "key")
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
                _used_ppm(
                    F("month_spend"),
                    "monthly_spend_cap",
                    Cast(F("monthly_spend_cap") * 1_000_000, BigIntegerField()),
                ),
                _used_ppm(
                    F("limit_spend"),
                    "cost_limit",
                    Cast(F("cost_limit") * 1_000_000, BigIntegerField()),
                ),
                _used_ppm(F("limit_tokens"), "token_limit", F("token_limit")),
            ),
        )
    )
    order = {
        "-used": ["-used_ratio", "name", "id"],
        "name": ["name", "id"],
        "period_end": [F("limit_end").asc(nulls_last=True), "name", "id"],
    }.get(sort)
    return keys.order_by(*(order or ["-used_ratio", "name", "id"]))


def capped_teams(org) -> list[tuple[Team, list[LimitUse]]]:
    """Every team with a limit and its use this period, in one query."""
    limit = _current_counter(CounterKind.LIMIT, "team")
    teams = (
        Team.objects.filter(org=org)
        .filter(
            Q(spend_cap__isnull=False) | Q(token_limit__isnull=False) | Q(rpm_limit__isnull=False)
        )
        .annotate(
            limit_spend=Coalesce(Subquery(limit.values("spend_micros")[:1]), 0),
            limit_tokens=Coalesce(Subquery(limit.values("tokens")[:1]), 0),
            limit_end=Subquery(limit.values("period_end")[:1]),
        )
        .order_by("name")
    )
    now = timezone.now()
    return [
        (
            team,
            _team_rows(
                team,
                team.limit_spend,
                team.limit_tokens,
                team.limit_end or period_bounds(team.limit_period, now, org.timezone)[1],
            ),
        )
        for team in teams
    ]


def key_cap_rows(key: Key) -> list[LimitUse]:
    """The limits of a key from capped_keys' annotations (no further query)."""
    now = timezone.now()
    month_end = key.month_end or period_bounds(LimitPeriod.MONTHLY, now, key.org_timezone)[1]
    limit_end = key.limit_end or period_bounds(key.limit_period, now, key.org_timezone)[1]
    return _key_rows(
        key, (key.month_spend, 0, month_end), (key.limit_spend, key.limit_tokens, limit_end)
    )


def ledger_of(org, *, kind: str = "", before_id: int | None = None, page_size: int = 50):
    """The org's wallet entries, newest first, a keyset page at a time."""
    entries = WalletEntry.objects.filter(org=org)
    if kind:
        entries = entries.filter(kind=kind)
    if before_id is not None:
        entries = entries.filter(id__lt=before_id)
    rows = list(entries.order_by("-id")[: page_size + 1])
    return rows[:page_size], (rows[page_size - 1].id if len(rows) > page_size else None)


def prices_for(org) -> list[ModelPrice]:
    """The models the org's plan may call (every priced model when the plan names none)."""
    plan = org.plan
    if plan is not None and plan.models.exists():
        return list(plan.models.order_by("model"))
    return list(ModelPrice.objects.order_by("model"))
