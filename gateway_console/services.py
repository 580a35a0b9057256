"""Changes to organisations, teams and memberships."""

from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

import audit
from audit import Actor
from billing import resets
from billing.models import CounterKind, Wallet
from billing.money import to_money
from gateway_console.models import Membership, Org, Role, Team, User


class OrgActionRefused(Exception):
    pass


def _free_slug(name: str) -> str:
    base = slugify(name)[:50] or "org"
    slug, n = base, 2
    while Org.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def create_org(
    *, name: str, owner_email: str, owner_password: str | None, actor: Actor, timezone: str = "UTC"
) -> tuple[Org, User]:
    """The org and its owner; an existing user keeps their password and gains the org."""
    name = name.strip()
    if not name:
        raise OrgActionRefused("An organisation needs a name.")
    email = owner_email.strip().lower()
    org = Org.objects.create(name=name, slug=_free_slug(name), timezone=timezone)
    owner = User.objects.filter(email=email).first()
    if owner is None:
        if not owner_password:
            raise OrgActionRefused("A new owner needs a password.")
        owner = User.objects.create_user(email, owner_password)
    Membership.objects.create(org=org, user=owner, role=Role.OWNER)
    Wallet.objects.create(org=org)
    audit.record(
        org=org,
        actor=actor,
        action="org.created",
        target=org,
        data={"name": org.name, "slug": org.slug, "owner": owner.email},
    )
    return org, owner


@transaction.atomic
def create_team(*, org: Org, actor: Actor, name: str) -> Team:
    name = name.strip()
    if Team.objects.filter(org=org, name__iexact=name).exists():
        raise OrgActionRefused(f"There is already a team called {name}.")
    team = Team.objects.create(org=org, name=name)
    audit.record(org=org, actor=actor, action="team.created", target=team, data={"name": name})
    return team


TEAM_LIMIT_FIELDS = ("spend_cap", "token_limit", "limit_period", "rpm_limit")


@transaction.atomic
def update_team_limits(
    *,
    team: Team,
    actor: Actor,
    spend_cap: Decimal | None,
    token_limit: int | None,
    limit_period: str,
    rpm_limit: int | None,
) -> Team:
    team = Team.objects.select_for_update().get(pk=team.pk)
    new = {
        "spend_cap": to_money(spend_cap) if spend_cap is not None else None,
        "token_limit": token_limit,
        "limit_period": limit_period,
        "rpm_limit": rpm_limit,
    }
    changes = {}
    for field, value in new.items():
        before = getattr(team, field)
        if before != value:
            changes[field] = {
                "before": str(before) if isinstance(before, Decimal) else before,
                "after": str(value) if isinstance(value, Decimal) else value,
            }
            setattr(team, field, value)
    if not changes:
        return team
    team.save(update_fields=list(changes))
    if "limit_period" in changes:
        # A new reset period starts now; the running one closes into the history.
        resets.restart_period_now(
            owner="team_id",
            owner_id=team.pk,
            kind=CounterKind.LIMIT,
            period=team.limit_period,
            tz=team.org.timezone,
            now=timezone.now(),
        )
    audit.record(org=team.org, actor=actor, action="team.updated", target=team, changes=changes)
    return team


@transaction.atomic
def add_member(
    *,
    org: Org,
    actor: Actor,
    email: str,
    role: str,
    teams: list[Team] = (),
    password: str | None = None,
) -> Membership:
    email = email.strip().lower()
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email, password)
    if Membership.objects.filter(org=org, user=user).exists():
        raise OrgActionRefused(f"{email} is already a member of {org.name}.")
    membership = Membership.objects.create(org=org, user=user, role=role)
    membership.teams.set([t for t in teams if t.org_id == org.pk])
    audit.record(
        org=org,
        actor=actor,
        action="member.added",
        target=membership,
        data={"email": email, "role": role, "teams": sorted(t.name for t in teams)},
    )
    return membership
