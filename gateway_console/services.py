"""Changes to organisations and memberships. (A team's changes, which reach its limits and
counters, are billing's: billing.teams.)"""

from django.db import transaction
from django.utils.text import slugify

from gateway_console import recording, signals
from gateway_console.actors import Actor
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
    signals.org_created.send(sender=create_org, org=org)
    recording.record(
        org=org,
        actor=actor,
        action="org.created",
        target=org,
        data={"name": org.name, "slug": org.slug, "owner": owner.email},
    )
    return org, owner


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
    recording.record(
        org=org,
        actor=actor,
        action="member.added",
        target=membership,
        data={"email": email, "role": role, "teams": sorted(t.name for t in teams)},
    )
    return membership
