from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from billing import money
from billing.models import Counter, CounterKind
from billing.periods import period_bounds
from billing.pricing import micros_to_money, money_to_micros
from gateway_console.models import Membership, Team


def teams_with_counts(membership: Membership) -> QuerySet[Team]:
    teams = Team.objects.filter(org=membership.org)
    if not membership.sees_whole_org:
        teams = teams.filter(memberships=membership)
    return teams.annotate(
        key_count=Count("keys", filter=~Q(keys__status="deleted"), distinct=True),
        member_count=Count("memberships", distinct=True),
    ).order_by("name")


def members_of(membership: Membership) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(org=membership.org)
        .select_related("user")
        .prefetch_related("teams")
        .order_by("role", "user__email")
    )


def memberships_of(user) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("org").order_by("org__name")


@dataclass(frozen=True)
class LimitUse:
    label: str
    limit: str
    used: str
    percent: int | None
    period_end: datetime | None


def team_usage_now(team: Team) -> list[LimitUse]:
    """Each of the team's limits against its use in the current period (an ended period counts
    as zero, as at authorize)."""
    counter = Counter.objects.filter(team=team, kind=CounterKind.LIMIT).first()
    now = timezone.now()
    current = counter is not None and (counter.period_end is None or counter.period_end > now)
    spend = counter.spend_micros if current else 0
    tokens = counter.tokens if current else 0
    period_end = (
        counter.period_end
        if current
        else period_bounds(team.limit_period, now, team.org.timezone)[1]
    )
    rows = []
    if team.spend_cap is not None:
        cap = money_to_micros(team.spend_cap)
        rows.append(
            LimitUse(
                "Spend",
                money.display(team.spend_cap),
                money.display(micros_to_money(spend)),
                min(100, spend * 100 // cap) if cap else None,
                period_end,
            )
        )
    if team.token_limit is not None:
        rows.append(
            LimitUse(
                "Tokens",
                f"{team.token_limit:,}",
                f"{tokens:,}",
                min(100, tokens * 100 // team.token_limit),
                period_end,
            )
        )
    if team.rpm_limit is not None:
        rows.append(LimitUse("Requests per minute", f"{team.rpm_limit:,}", "—", None, None))
    return rows
