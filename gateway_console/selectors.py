from django.db.models import Count, Q, QuerySet
from django.http import Http404

from gateway_console.models import Membership, Team


def teams_visible_to(membership: Membership) -> QuerySet[Team]:
    """The org's teams this membership may see (a member: their own), by name."""
    teams = Team.objects.filter(org=membership.org)
    if not membership.sees_whole_org:
        teams = teams.filter(memberships=membership)
    return teams.order_by("name")


def teams_with_counts(membership: Membership) -> QuerySet[Team]:
    return (
        teams_visible_to(membership)
        .select_related("org")
        .annotate(
            key_count=Count("keys", filter=~Q(keys__status="deleted"), distinct=True),
            member_count=Count("memberships", distinct=True),
        )
        .order_by("name")
    )


def team_for(membership: Membership, team_id) -> Team:
    """The team if this membership may see it (a member: their own teams); 404 otherwise,
    also for another org's team."""
    team = teams_with_counts(membership).filter(pk=team_id).first()
    if team is None:
        raise Http404("No such team.")
    return team


def teams_page(membership: Membership, *, after: str = "", size: int = 100) -> tuple[list, str]:
    """The teams it may see, by name, a keyset page at a time; the cursor is the page's last
    name ("" at the end). Names are unique in an org."""
    rows = list(teams_with_counts(membership).filter(name__gt=after)[: size + 1])
    return rows[:size], (rows[size - 1].name if len(rows) > size else "")


def members_of(membership: Membership) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(org=membership.org)
        .select_related("user")
        .prefetch_related("teams")
        .order_by("role", "user__email")
    )


def members_page(membership: Membership, *, after: str = "", size: int = 100):
    """The org's members by email, a keyset page at a time; the cursor is the page's last
    email ("" at the end)."""
    rows = list(
        Membership.objects.filter(org=membership.org, user__email__gt=after)
        .select_related("user")
        .prefetch_related("teams")
        .order_by("user__email")[: size + 1]
    )
    return rows[:size], (rows[size - 1].user.email if len(rows) > size else "")


def memberships_of(user) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("org").order_by("org__name")
