"""The limits' services: changes to teams reach the team's limits and counters, so they are
billing's. One audit event for each change, in its transaction."""

from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

import audit
from audit import Actor
from billing.limits import resets
from billing.limits.models import CounterKind
from billing.money import to_money
from gateway_console.limits import LimitPeriod
from gateway_console.models import Org, Team
from gateway_console.services import OrgActionRefused


@dataclass(frozen=True)
class TeamLimits:
    """Limits shared by all of a team's keys; None: none."""

    spend_cap: Decimal | None
    token_limit: int | None
    limit_period: str
    rpm_limit: int | None
    tpm_limit: int | None = None
    max_in_flight: int | None = None

    @classmethod
    def of(cls, team: Team) -> "TeamLimits":
        return cls(
            team.spend_cap,
            team.token_limit,
            team.limit_period,
            team.rpm_limit,
            team.tpm_limit,
            team.max_in_flight,
        )


def _name_taken(name: str) -> OrgActionRefused:
    return OrgActionRefused(f"There is already a team called {name}.", code="team_name_taken")


def _free_name(org: Org, name: str, *, team: Team | None = None) -> str:
    """The name, stripped, if no other team of the org has it (whatever the case)."""
    name = name.strip()
    if not name:
        raise OrgActionRefused("A team needs a name.")
    others = Team.objects.filter(org=org, name__iexact=name)
    if team is not None:
        others = others.exclude(pk=team.pk)
    if others.exists():
        raise _name_taken(name)
    return name


def _saved(team: Team, **save) -> None:
    """Saves the team; a name another transaction took meanwhile (the database's unique
    constraint) is refused as the check before would have, never a 500."""
    try:
        with transaction.atomic():
            team.save(**save)
    except IntegrityError:
        raise _name_taken(team.name) from None


@transaction.atomic
def create_team(*, org: Org, actor: Actor, name: str, limits: TeamLimits | None = None) -> Team:
    name = _free_name(org, name)
    given = limits is not None
    limits = limits or TeamLimits(None, None, LimitPeriod.MONTHLY, None)
    spend_cap = to_money(limits.spend_cap) if limits.spend_cap is not None else None
    team = Team(
        org=org,
        name=name,
        spend_cap=spend_cap,
        token_limit=limits.token_limit,
        limit_period=limits.limit_period,
        rpm_limit=limits.rpm_limit,
        tpm_limit=limits.tpm_limit,
        max_in_flight=limits.max_in_flight,
    )
    _saved(team, force_insert=True)
    data = {"name": name}
    if given:
        chosen = {**limits.__dict__, "spend_cap": spend_cap}
        data.update({k: audit.recorded(v) for k, v in chosen.items() if v is not None})
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
        new["name"] = _free_name(team.org, name, team=team)
    if limits is not None:
        new.update(
            spend_cap=to_money(limits.spend_cap) if limits.spend_cap is not None else None,
            token_limit=limits.token_limit,
            limit_period=limits.limit_period,
            rpm_limit=limits.rpm_limit,
            tpm_limit=limits.tpm_limit,
            max_in_flight=limits.max_in_flight,
        )
    changes = audit.diff({field: getattr(team, field) for field in new}, new)
    if not changes:
        return team
    for field in changes:
        setattr(team, field, new[field])
    _saved(team, update_fields=list(changes))
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


def keys_in_the_way(keys: int) -> OrgActionRefused:
    """Why a team that still has `keys` keys (deleted ones aside) cannot be deleted; also
    what its deletion's confirmation page says."""
    return OrgActionRefused(
        f"This team still has {keys} key{'s' if keys != 1 else ''}; move or delete "
        f"{'them' if keys != 1 else 'it'} first.",
        code="team_has_keys",
    )


@transaction.atomic
def delete_team(*, team: Team, actor: Actor) -> None:
    """Deletes a team that holds no key: active, disabled or expired keys refuse it; deleted
    keys leave the team (their `team` becomes NULL; their events still name it). Its members
    stay in the org and only leave the team; its usage history stays, without the team.

    The team's row lock also holds off a key being created in or moved to the team meanwhile
    (the key's foreign key waits for it)."""
    team = Team.objects.select_for_update().select_related("org").get(pk=team.pk)
    keys = team.keys.exclude(status="deleted").count()
    if keys:
        raise keys_in_the_way(keys)
    audit.record(
        org=team.org,
        actor=actor,
        action="team.deleted",
        target=team,
        data={"name": team.name, "members": team.memberships.count()},
    )
    team.delete()
