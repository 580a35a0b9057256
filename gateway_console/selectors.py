from django.db.models import Count, Q, QuerySet
from django.http import Http404

from gateway_console.models import Membership, Team
from gateway_console.paging import Column, Page, keyset_page


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


TEAM_ORDER = [Column("name")]  # names are unique in an org


def teams_page(
    membership: Membership, *, after: str = "", before: str = "", size: int = 100
) -> Page[Team]:
    """The teams it may see, by name, a keyset page at a time."""
    return keyset_page(
        teams_with_counts(membership), TEAM_ORDER, after=after, before=before, size=size
    )


TEAM_MEMBERS_ORDER = [Column("user__email")]  # one membership per person in an org


def team_members_page(
    team: Team, *, after: str = "", before: str = "", size: int = 50
) -> Page[Membership]:
    """The team's members (of any role) with their user, by email, a keyset page at a time."""
    members = Membership.objects.filter(teams=team).select_related("user")
    return keyset_page(members, TEAM_MEMBERS_ORDER, after=after, before=before, size=size)


MEMBERS_BY_EMAIL = [Column("user__email")]
MEMBERS_BY_ROLE = [Column("role"), Column("user__email")]


def members_page(
    membership: Membership,
    *,
    order: list[Column] = MEMBERS_BY_EMAIL,
    after: str = "",
    before: str = "",
    size: int = 100,
) -> Page[Membership]:
    """The org's members, a keyset page at a time: by email (the API), or by role and then
    email (the members page)."""
    members = (
        Membership.objects.filter(org=membership.org)
        .select_related("user")
        .prefetch_related("teams")
    )
    return keyset_page(members, order, after=after, before=before, size=size)


def memberships_of(user) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("org").order_by("org__name")


def membership_in(user, org_id) -> Membership | None:
    """This user's membership of that org, or None (also for a malformed or unknown org)."""
    if org_id is None:
        return None
    return Membership.objects.filter(user=user, org_id=org_id).select_related("org").first()
