"""Changes to organisations, teams and memberships."""

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

import audit
from audit import Actor
from billing import resets
from billing.models import CounterKind, Wallet
from billing.money import to_money
from billing.periods import LimitPeriod
from gateway_console.models import Membership, Org, Role, Team, User


class OrgActionRefused(Exception):
    def __init__(self, message: str, *, code: str = "org_action_refused"):
        super().__init__(message)
        self.code = code


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


@dataclass(frozen=True)
class TeamLimits:
    """Limits shared by all of a team's keys; None: none."""

    spend_cap: Decimal | None
    token_limit: int | None
    limit_period: str
    rpm_limit: int | None

    @classmethod
    def of(cls, team: Team) -> "TeamLimits":
        return cls(team.spend_cap, team.token_limit, team.limit_period, team.rpm_limit)


def _diff_value(value):
    return str(value) if isinstance(value, Decimal) else value


def _name_taken(name: str) -> OrgActionRefused:
    return OrgActionRefused(f"There is already a team called {name}.", code="team_name_taken")


@transaction.atomic
def create_team(*, org: Org, actor: Actor, name: str, limits: TeamLimits | None = None) -> Team:
    name = name.strip()
    if Team.objects.filter(org=org, name__iexact=name).exists():
        raise _name_taken(name)
    given = limits is not None
    limits = limits or TeamLimits(None, None, LimitPeriod.MONTHLY, None)
    spend_cap = to_money(limits.spend_cap) if limits.spend_cap is not None else None
    team = Team.objects.create(
        org=org,
        name=name,
        spend_cap=spend_cap,
        token_limit=limits.token_limit,
        limit_period=limits.limit_period,
        rpm_limit=limits.rpm_limit,
    )
    data = {"name": name}
    if given:
        chosen = {**limits.__dict__, "spend_cap": spend_cap}
        data.update({k: _diff_value(v) for k, v in chosen.items() if v is not None})
    audit.record(org=org, actor=actor, action="team.created", target=team, data=data)
    return team


@transaction.atomic
def update_team(
    *, team: Team, actor: Actor, name: str | None = None, limits: TeamLimits | None = None
) -> Team:
    """Renames the team and/or sets its limits: one `team.updated` event with every change."""
    team = Team.objects.select_for_update().select_related("org").get(pk=team.pk)
    new: dict = {}
    if name is not None:
        name = name.strip()
        if not name:
            raise OrgActionRefused("A team needs a name.")
        clash = Team.objects.filter(org=team.org, name__iexact=name).exclude(pk=team.pk)
        if clash.exists():
            raise _name_taken(name)
        new["name"] = name
    if limits is not None:
        new.update(
            spend_cap=to_money(limits.spend_cap) if limits.spend_cap is not None else None,
            token_limit=limits.token_limit,
            limit_period=limits.limit_period,
            rpm_limit=limits.rpm_limit,
        )
    changes = {}
    for field, value in new.items():
        before = getattr(team, field)
        if before != value:
            changes[field] = {"before": _diff_value(before), "after": _diff_value(value)}
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
def delete_team(*, team: Team, actor: Actor) -> None:
    """Deletes a team that holds no key (deleted keys aside: they leave the team). Its
    members stay in the org; its usage history stays, without the team."""
    team = Team.objects.select_for_update().select_related("org").get(pk=team.pk)
    keys = team.keys.exclude(status="deleted").count()
    if keys:
        raise OrgActionRefused(
            f"The team {team.name} still has {keys} key{'s' if keys != 1 else ''}. Move them to "
            "another team or delete them first.",
            code="team_has_keys",
        )
    audit.record(
        org=team.org,
        actor=actor,
        action="team.deleted",
        target=team,
        data={"name": team.name, "members": team.memberships.count()},
    )
    team.delete()


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
