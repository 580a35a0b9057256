"""Reads of limits for the pages, already computed the way authorize sees them."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import (
    BigIntegerField,
    Case,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from billing import money
from billing.limits import forecast, ratelimit
from billing.limits.models import Counter, CounterKind
from billing.limits.periods import period_bounds
from billing.money import micros_to_money, money_to_micros
from gateway_console.models import Team


@dataclass(frozen=True)
class LimitUse:
    label: str
    limit: str
    used: str | None
    percent: int | None
    period_end: datetime | None
    # A spend cap's forecast at the last week's pace (billing.limits.forecast), when known.
    paced: bool = False
    runs_out: datetime | None = None
    # What the figures measure, after them ("over any rolling 60 seconds").
    note: str = ""

    @property
    def runs_out_before_reset(self) -> bool:
        return forecast.before(self.runs_out, self.period_end)


def current_use(
    counter: Counter | None, period: str, tz: str, now: datetime
) -> tuple[int, int, datetime | None]:
    """(spend, tokens, period end) of the running period; an ended period counts as zero, as at
    authorize (docs/contract.md section 2)."""
    if counter is not None and (counter.period_end is None or counter.period_end > now):
        return counter.spend_micros, counter.tokens, counter.period_end
    return 0, 0, period_bounds(period, now, tz)[1]


def spend_row(
    label: str, cap: Decimal, spend: int, period_end, *, week: int | None = None
) -> LimitUse:
    """A spend cap against its use; with `week` (the last week's spend), its forecast."""
    cap_micros = money_to_micros(cap)
    return LimitUse(
        label,
        money.display(cap),
        money.display(micros_to_money(spend)),
        min(100, spend * 100 // cap_micros),
        period_end,
        paced=week is not None,
        runs_out=forecast.runs_out(cap_micros - spend, week, timezone.now())
        if week is not None
        else None,
    )


def tokens_row(label: str, limit: int, tokens: int, period_end) -> LimitUse:
    return LimitUse(label, f"{limit:,}", f"{tokens:,}", min(100, tokens * 100 // limit), period_end)


def rate_rows(owner, use: tuple[int, int] | None = None) -> list[LimitUse]:
    """A key's or team's rate limits. With `use` (tokens in the last 60 s, requests in flight
    now: billing.limits.ratelimit.flow_use), each against its use."""
    rows = []
    if owner.rpm_limit is not None:
        rows.append(
            LimitUse(
                "Requests per minute",
                f"{owner.rpm_limit:,} per minute",
                None,
                None,
                None,
                note="over any rolling 60 seconds",
            )
        )
    tokens, flying = use if use is not None else (None, None)
    for limit, label, unit, note, now_used in (
        (
            owner.tpm_limit,
            "Tokens per minute",
            "per minute",
            "in the last 60 seconds",
            tokens,
        ),
        (owner.max_in_flight, "Requests in flight", "at once", "now", flying),
    ):
        if limit is not None:
            used = None if now_used is None else max(0, now_used)
            rows.append(
                LimitUse(
                    label,
                    f"{limit:,} {unit}",
                    None if used is None else f"{used:,}",
                    None if used is None else min(100, used * 100 // limit),
                    None,
                    note=note if used is not None else "",
                )
            )
    return rows


def _team_rows(
    team: Team, spend: int, tokens: int, end, week: int | None = None, rates=None
) -> list[LimitUse]:
    rows = []
    if team.spend_cap is not None:
        rows.append(spend_row("Spend", team.spend_cap, spend, end, week=week))
    if team.token_limit is not None:
        rows.append(tokens_row("Tokens", team.token_limit, tokens, end))
    return rows + rate_rows(team, rates)


def team_limits_now(team: Team) -> list[LimitUse]:
    counter = Counter.objects.filter(team=team, kind=CounterKind.LIMIT).first()
    bucket = ratelimit.team_bucket(team.pk)
    rates = ratelimit.flow_use([bucket])[bucket] if team.tpm_limit or team.max_in_flight else None
    return _team_rows(
        team,
        *current_use(counter, team.limit_period, team.org.timezone, timezone.now()),
        rates=rates,
    )


# The billing pages ---------------------------------------------------------------------------


def current_counter(kind: str, owner: str) -> QuerySet[Counter]:
    """The counter of the row's key or team whose period is still running."""
    now = timezone.now()
    return Counter.objects.filter(**{owner: OuterRef("pk")}, kind=kind).filter(
        Q(period_end__isnull=True) | Q(period_end__gt=now)
    )


def used_ppm(used, cap_field: str, cap_units):
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


def capped_teams(org, week: dict | None = None) -> list[tuple[Team, list[LimitUse]]]:
    """Every team with a limit and its use this period, in one query; with `week` (each team's
    spend of the last week, by id), its spend cap's forecast."""
    limit = current_counter(CounterKind.LIMIT, "team")
    teams = (
        Team.objects.filter(org=org)
        .filter(
            Q(spend_cap__isnull=False)
            | Q(token_limit__isnull=False)
            | Q(rpm_limit__isnull=False)
            | Q(tpm_limit__isnull=False)
            | Q(max_in_flight__isnull=False)
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
                None if week is None else week.get(team.pk, 0),
            ),
        )
        for team in teams
    ]
