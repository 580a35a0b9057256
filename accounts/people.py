"""What happens to a person (a sign-in, a password, a second factor) is written in the audit
log of each org they belong to, so that each org's auditors see it."""

from django.db import transaction

import audit
from audit import Actor
from gateway_console.models import Membership, User


def record_in_each_org(user: User, *, actor: Actor, action: str, data: dict | None = None) -> int:
    """One event in each of the person's orgs, in the caller's transaction (or one of its own).
    Returns how many were written."""
    memberships = list(Membership.objects.filter(user=user).select_related("org"))
    with transaction.atomic():
        for membership in memberships:
            audit.record(
                org=membership.org, actor=actor, action=action, target=membership, data=data
            )
    return len(memberships)


def person_actor(user: User, *, request=None) -> Actor:
    """The person as the actor of what happens to them, before they are signed in (a failed
    sign-in, an accepted invitation) or after."""
    if request is None:
        return Actor(type="user", id=str(user.pk), label=user.email, user=user)
    return Actor.from_request(request, user=user)
