"""Invitations: an owner or admin invites a person by email; the email holds a signed link that
works once, for INVITATION_DAYS, and only in its newest version (a resend makes a new one).
Accepting creates the account, or adds an existing one, with the invited role and teams.

Each change is one transaction with one audit event. The email is sent inside it: when it
cannot be sent, nothing is kept and the admin is told, rather than an invitation nobody got.
"""

from collections.abc import Callable, Iterable
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

import audit
from accounts.members import MemberActionRefused
from accounts.models import Invitation
from audit import Actor
from gateway_console.models import Membership, Org, Role, Team, User

SALT = "accounts.invitation"


class InvitationRefused(Exception):
    """The invitation cannot be made, sent or accepted; the message says why. `code` and
    `status` are the admin API's (docs/contract.md section 4)."""

    def __init__(self, message: str, *, code: str = "invitation_refused", status: int = 409):
        super().__init__(message)
        self.code = code
        self.status = status


def _lifetime() -> timedelta:
    return timedelta(days=settings.INVITATION_DAYS)


def link_token(invitation: Invitation) -> str:
    return signing.dumps({"i": str(invitation.pk), "v": invitation.link_version}, salt=SALT)


def accept_url(invitation: Invitation, base_url: str) -> str:
    return base_url.rstrip("/") + reverse("invitation", args=[link_token(invitation)])


def invitation_for_token(token: str) -> Invitation:
    """The open invitation a link names, or InvitationRefused saying why it no longer works."""
    try:
        payload = signing.loads(token, salt=SALT, max_age=_lifetime())
    except signing.SignatureExpired as expired:
        raise InvitationRefused(
            "This invitation has expired. Ask whoever invited you to send it again."
        ) from expired
    except signing.BadSignature as bad:
        raise InvitationRefused(
            "This invitation link is not valid. Check that it is complete."
        ) from bad
    invitation = (
        Invitation.objects.select_related("org", "invited_by").filter(pk=payload.get("i")).first()
    )
    if invitation is None or invitation.revoked_at is not None:
        raise InvitationRefused("This invitation was withdrawn.")
    if invitation.accepted_at is not None:
        raise InvitationRefused("This invitation was already used. Sign in to go on.")
    if invitation.link_version != payload.get("v"):
        raise InvitationRefused(
            "This invitation was sent again since: use the link in the newest email."
        )
    if invitation.is_expired:
        raise InvitationRefused(
            "This invitation has expired. Ask whoever invited you to send it again."
        )
    return invitation


def _send(invitation: Invitation, base_url: str) -> None:
    context = {
        "invitation": invitation,
        "url": accept_url(invitation, base_url),
        "days": settings.INVITATION_DAYS,
    }
    try:
        send_mail(
            subject=f"You are invited to {invitation.org.name} on Gateway Console",
            message=render_to_string("accounts/email/invitation.txt", context),
            from_email=None,
            recipient_list=[invitation.email],
        )
    except OSError as failed:  # SMTP refused or unreachable: smtplib's errors are OSErrors
        raise InvitationRefused(
            f"The invitation email could not be sent ({type(failed).__name__}). Nothing was "
            "saved; check the console's email settings and try again.",
            code="email_not_sent",
            status=503,
        ) from failed


def _check_can_invite(org: Org, email: str, role: str, acting_role: str) -> None:
    if role not in Role.values:
        raise InvitationRefused(
            f"{role!r} is not a role: owner, admin, member or auditor.",
            code="invalid_request",
            status=422,
        )
    if role == Role.OWNER and acting_role != Role.OWNER:
        raise InvitationRefused(
            "Only an owner may invite an owner.", code="owner_required", status=403
        )
    if Membership.objects.filter(org=org, user__email__iexact=email).exists():
        raise InvitationRefused(
            f"{email} is already a member of {org.name}.", code="already_member"
        )


@transaction.atomic
def invite(
    *,
    org: Org,
    email: str,
    role: str,
    teams: Iterable[Team] = (),
    actor: Actor,
    acting_role: str,
    base_url: str,
) -> Invitation:
    email = User.objects.normalize_email(email.strip()).lower()
    try:
        validate_email(email)
    except ValidationError:
        raise InvitationRefused(
            f"{email!r} is not an email address.", code="invalid_request", status=422
        ) from None
    _check_can_invite(org, email, role, acting_role)
    teams = list(teams)
    if any(team.org_id != org.pk for team in teams):
        raise InvitationRefused(
            "Choose teams of this organisation only.", code="invalid_request", status=422
        )
    now = timezone.now()
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                org=org,
                email=email,
                role=role,
                invited_by=actor.user,
                sent_at=now,
                expires_at=now + _lifetime(),
            )
    except IntegrityError as taken:
        raise InvitationRefused(
            f"{email} already has an open invitation: resend it instead.",
            code="already_invited",
        ) from taken
    invitation.teams.set(teams)
    audit.record(
        org=org,
        actor=actor,
        action="member.invited",
        target=invitation,
        data={"email": email, "role": role, "teams": sorted(team.name for team in teams)},
    )
    _send(invitation, base_url)
    return invitation


def check_may_handle(invitation: Invitation, acting_role: str) -> None:
    """Only an owner resends or withdraws an invitation to become an owner."""
    if invitation.role == Role.OWNER and acting_role != Role.OWNER:
        raise InvitationRefused(
            "Only an owner may resend or withdraw an invitation to become an owner.",
            code="owner_required",
            status=403,
        )


def _locked_open(invitation: Invitation) -> Invitation:
    invitation = Invitation.objects.select_for_update().select_related("org").get(pk=invitation.pk)
    if not invitation.is_open:
        raise InvitationRefused(f"The invitation to {invitation.email} is no longer open.")
    return invitation


@transaction.atomic
def resend(*, invitation: Invitation, actor: Actor, acting_role: str, base_url: str) -> Invitation:
    """A new link (the old ones stop working), valid for INVITATION_DAYS from now."""
    check_may_handle(invitation, acting_role)
    invitation = _locked_open(invitation)
    now = timezone.now()
    Invitation.objects.filter(pk=invitation.pk).update(
        link_version=F("link_version") + 1, sent_at=now, expires_at=now + _lifetime()
    )
    invitation.refresh_from_db()
    audit.record(
        org=invitation.org,
        actor=actor,
        action="invitation.resent",
        target=invitation,
        data={"email": invitation.email},
    )
    _send(invitation, base_url)
    return invitation


@transaction.atomic
def revoke(*, invitation: Invitation, actor: Actor, acting_role: str) -> Invitation:
    check_may_handle(invitation, acting_role)
    invitation = _locked_open(invitation)
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit.record(
        org=invitation.org,
        actor=actor,
        action="invitation.revoked",
        target=invitation,
        data={"email": invitation.email},
    )
    return invitation


@transaction.atomic
def accept(*, invitation: Invitation, user: User, actor: Actor) -> Membership:
    """Adds `user` (whose email is the invitation's) to the org with the invited role and
    teams, and closes the invitation."""
    invitation = _locked_open(invitation)
    if invitation.is_expired:
        raise InvitationRefused("This invitation has expired.")
    if user.email.lower() != invitation.email.lower():
        raise InvitationRefused(
            f"This invitation is for {invitation.email}; you are signed in as {user.email}. "
            "Sign out, then open the link again."
        )
    if Membership.objects.filter(org=invitation.org, user=user).exists():
        raise MemberActionRefused(f"You are already a member of {invitation.org.name}.")
    membership = Membership.objects.create(org=invitation.org, user=user, role=invitation.role)
    membership.teams.set(invitation.teams.all())
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit.record(
        org=invitation.org,
        actor=actor,
        action="member.joined",
        target=membership,
        data={"email": user.email, "role": membership.role, "invitation": str(invitation.pk)},
    )
    return membership


@transaction.atomic
def accept_as_new_person(
    *, invitation: Invitation, name: str, password: str, actor_for: Callable[[User], Actor]
) -> Membership:
    """Creates the invited person's account and accepts for it, in one transaction, with the
    invitation locked first: of two people accepting at once, one gets the account and the
    other a refusal, never an error."""
    invitation = _locked_open(invitation)
    if User.objects.filter(email__iexact=invitation.email).exists():
        raise InvitationRefused(
            f"An account for {invitation.email} exists now: sign in as it to accept."
        )
    user = User.objects.create_user(invitation.email, password, name=name.strip())
    return accept(invitation=invitation, user=user, actor=actor_for(user))


def open_invitations(org: Org):
    """The org's invitations that are not accepted or withdrawn (expired ones included, so
    that they can be sent again), newest first."""
    return (
        Invitation.objects.filter(org=org, accepted_at__isnull=True, revoked_at__isnull=True)
        .select_related("invited_by")
        .prefetch_related("teams")
        .order_by("-created_at")
    )
