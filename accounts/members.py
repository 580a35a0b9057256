"""Members, managed by owners and admins: change a role, choose teams, remove. Each change is
one transaction with exactly one audit event.

The rules, in one place:
- only an owner may make an owner, or change (role or teams) or remove one;
- the last owner can be neither demoted nor removed (the org's owners are locked while this
  is checked, so that two owners demoting each other at once cannot leave none);
- removal ends every session of the removed person at once (accounts.receivers, whichever way
  the membership goes).
"""

from collections.abc import Iterable

from django.db import transaction
from django.shortcuts import get_object_or_404
from user_sessions.models import Session

import audit
from audit import Actor
from gateway_console.models import Membership, Org, Role, Team, User


class MemberActionRefused(Exception):
    """The change breaks one of the rules above; the message says which. `code` is the admin
    API's error code for it (docs/contract.md section 4)."""

    code = "member_action_refused"
    status = 409


class OwnerRequired(MemberActionRefused):
    code = "owner_required"
    status = 403


class LastOwner(MemberActionRefused):
    code = "last_owner"
    status = 409


def _check_owner_rule(acting_role: str, membership: Membership, new_role: str | None) -> None:
    if acting_role == Role.OWNER:
        return
    if membership.role == Role.OWNER:
        raise OwnerRequired("Only an owner may change or remove an owner.")
    if new_role == Role.OWNER:
        raise OwnerRequired("Only an owner may make someone an owner.")


def _lock_org(membership: Membership) -> None:
    """Changes to an org's members run one at a time, the org's row locked first: two owners
    demoting each other at once cannot leave none, nor lock each other out (a deadlock)."""
    Org.objects.select_for_update().filter(pk=membership.org_id).exists()


def _check_not_last_owner(membership: Membership, what: str) -> None:
    owners = list(
        Membership.objects.select_for_update()
        .filter(org_id=membership.org_id, role=Role.OWNER)
        .values_list("pk", flat=True)
    )
    if owners == [membership.pk]:
        raise LastOwner(
            f"{membership.user.email} is the organisation's last owner and cannot be {what}. "
            "Make someone else an owner first."
        )


@transaction.atomic
def change_role(*, membership: Membership, role: str, actor: Actor, acting_role: str) -> bool:
    """Returns False when the member already has the role (nothing is written)."""
    if role not in Role.values:
        raise MemberActionRefused(f"{role!r} is not a role: owner, admin, member or auditor.")
    _lock_org(membership)
    membership = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
    if membership.role == role:
        return False
    _check_owner_rule(acting_role, membership, role)
    if membership.role == Role.OWNER:
        _check_not_last_owner(membership, "demoted")
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit.record(
        org=membership.org,
        actor=actor,
        action="member.role_changed",
        target=membership,
        changes=audit.diff({"role": before}, {"role": role}),
        data={"email": membership.user.email},
    )
    return True


@transaction.atomic
def set_teams(
    *, membership: Membership, teams: Iterable[Team], actor: Actor, acting_role: str
) -> bool:
    """Sets the member's teams (of their org only). Returns False when nothing changed."""
    teams = list(teams)
    if any(team.org_id != membership.org_id for team in teams):
        raise MemberActionRefused("A member can only join teams of their own organisation.")
    _lock_org(membership)
    membership = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
    _check_owner_rule(acting_role, membership, None)
    before = sorted(team.name for team in membership.teams.all())
    after = sorted(team.name for team in teams)
    if before == after:
        return False
    membership.teams.set(teams)
    audit.record(
        org=membership.org,
        actor=actor,
        action="member.teams_changed",
        target=membership,
        changes=audit.diff({"teams": before}, {"teams": after}),
        data={"email": membership.user.email},
    )
    return True


def end_sessions(user: User, *, keep: str | None = None) -> int:
    """Ends every session of `user` (but `keep`, a session key): their next request is
    anonymous. Returns how many ended."""
    sessions = Session.objects.filter(user=user)
    if keep:
        sessions = sessions.exclude(session_key=keep)
    deleted, _ = sessions.delete()
    return deleted


@transaction.atomic
def remove_member(*, membership: Membership, actor: Actor, acting_role: str) -> None:
    _lock_org(membership)
    membership = (
        Membership.objects.select_for_update().select_related("user", "org").get(pk=membership.pk)
    )
    _check_owner_rule(acting_role, membership, None)
    if membership.role == Role.OWNER:
        _check_not_last_owner(membership, "removed")
    audit.record(
        org=membership.org,
        actor=actor,
        action="member.removed",
        target=membership,
        data={"email": membership.user.email, "role": membership.role},
    )
    membership.delete()  # which ends every session of the person (accounts.receivers)


@transaction.atomic
def set_two_factor_required(*, org: Org, require: bool, actor: Actor) -> bool:
    """The org's "require two-factor for owners and admins". False when it already was so."""
    org = Org.objects.select_for_update().get(pk=org.pk)
    if org.require_two_factor == require:
        return False
    before = org.require_two_factor
    org.require_two_factor = require
    org.save(update_fields=["require_two_factor"])
    audit.record(
        org=org,
        actor=actor,
        action="org.security_changed",
        target=org,
        changes=audit.diff({"require_two_factor": before}, {"require_two_factor": require}),
    )
    return True


def membership_in_org(org: Org, membership_id) -> Membership:
    """A member of `org` by id, or Http404: never one of another org."""
    return get_object_or_404(
        Membership.objects.select_related("user", "org"), org=org, pk=membership_id
    )
