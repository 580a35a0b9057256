from django.db.models import Count, Q, QuerySet

from gateway_console.models import Membership, Team


def teams_with_counts(membership: Membership) -> QuerySet[Team]:
    teams = Team.objects.filter(org=membership.org).select_related("org")
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
