"""The admin API's members and invitations (docs/contract.md section 4): the same services as
the members page, each change one audit event. A token acts as an admin: it may invite,
change and remove members and admins, never owners (only an owner makes or changes an owner,
and a token is nobody's owner)."""

from datetime import datetime
from uuid import UUID

from django.db import transaction
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from accounts import invitations, members
from accounts.models import Invitation
from gateway_console import admin_tokens, selectors
from gateway_console.api_schemas import READ, WRITE, errors
from gateway_console.contract import ContractError
from gateway_console.models import Membership, Role, Team

router = Router(tags=["members"])


def _refused(refused: Exception) -> ContractError:
    return ContractError(refused.code, refused.status, str(refused))


def _teams(request: HttpRequest, team_ids: list[UUID]) -> list[Team]:
    teams = list(Team.objects.filter(org=request.auth.org, pk__in=team_ids))
    if len(teams) != len(set(team_ids)):
        raise ContractError(
            "invalid_request",
            422,
            "teams: one of these teams is not a team of this organisation.",
            extra={"param": "teams"},
        )
    return teams


# Members


class MemberOut(Schema):
    id: int = Field(description="The membership's id, for changing or removing it.")
    email: str
    name: str
    role: Role
    teams: list[UUID] = Field(description="The teams a member belongs to.")
    joined_at: datetime


class MemberPageOut(Schema):
    data: list[MemberOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: end.")


def _member_out(membership: Membership) -> dict:
    return {
        "id": membership.pk,
        "email": membership.user.email,
        "name": membership.user.name,
        "role": membership.role,
        "teams": [team.pk for team in membership.teams.all()],
        "joined_at": membership.created_at,
    }


@router.get(
    "/members",
    response={200: MemberPageOut, **errors(*READ)},
    summary="List the org's members",
    description="By email, 100 a page.",
)
def list_members(
    request: HttpRequest,
    cursor: str = Query("", max_length=254, description="`next_cursor` of the page before."),
):
    page = selectors.members_page(admin_tokens.membership_of(request), after=cursor)
    return {"data": [_member_out(m) for m in page.rows], "next_cursor": page.next_cursor}


class MemberChange(Schema):
    role: Role | None = Field(default=None, description="The new role; not `owner` (403).")
    teams: list[UUID] | None = Field(default=None, description="The member's teams, all of them.")


@router.patch(
    "/members/{member_id}",
    response={200: MemberOut, **errors(*WRITE, 404, 409)},
    summary="Change a member's role or teams",
    description="Each change given is one audit event. `owner_required` (403): the member is "
    "an owner, or the new role is; `last_owner` (409) cannot happen to a token, which never "
    "changes owners.",
)
def change_member(request: HttpRequest, member_id: int, payload: MemberChange):
    membership = members.membership_in_org(request.auth.org, member_id)
    actor = admin_tokens.actor_for(request.auth, request)
    teams = _teams(request, payload.teams) if payload.teams is not None else None
    try:
        with transaction.atomic():  # both changes, or neither
            if payload.role is not None:
                members.change_role(
                    membership=membership, role=payload.role, actor=actor, acting_role=Role.ADMIN
                )
            if teams is not None:
                members.set_teams(
                    membership=membership, teams=teams, actor=actor, acting_role=Role.ADMIN
                )
    except members.MemberActionRefused as refused:
        raise _refused(refused) from None
    return _member_out(members.membership_in_org(request.auth.org, member_id))


@router.delete(
    "/members/{member_id}",
    response={204: None, **errors(*WRITE, 404, 409)},
    summary="Remove a member",
    description="Ends every session of the person at once. Owners cannot be removed with a "
    "token (`owner_required`).",
)
def remove_member(request: HttpRequest, member_id: int):
    membership = members.membership_in_org(request.auth.org, member_id)
    try:
        members.remove_member(
            membership=membership,
            actor=admin_tokens.actor_for(request.auth, request),
            acting_role=Role.ADMIN,
        )
    except members.MemberActionRefused as refused:
        raise _refused(refused) from None
    return Status(204, None)


# Invitations


class InvitationOut(Schema):
    id: UUID
    email: str
    role: Role
    teams: list[UUID]
    status: str = Field(description="`pending` or `expired` (open invitations only).")
    sent_at: datetime
    expires_at: datetime


class InvitationIn(Schema):
    email: str = Field(max_length=254, description="Where the invitation goes.")
    role: Role = Role.MEMBER
    teams: list[UUID] = Field(default_factory=list)


def _invitation_out(invitation: Invitation) -> dict:
    return {
        "id": invitation.pk,
        "email": invitation.email,
        "role": invitation.role,
        "teams": [team.pk for team in invitation.teams.all()],
        "status": invitation.status,
        "sent_at": invitation.sent_at,
        "expires_at": invitation.expires_at,
    }


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/")


@router.get(
    "/invitations",
    response={200: list[InvitationOut], **errors(*READ)},
    summary="List the open invitations",
    description="Not yet accepted or withdrawn, newest first; expired ones included.",
)
def list_invitations(request: HttpRequest):
    return [_invitation_out(i) for i in invitations.open_invitations(request.auth.org)]


@router.post(
    "/invitations",
    response={201: InvitationOut, **errors(*WRITE, 409, 503)},
    summary="Invite a person by email",
    description="Emails a link that works once, for 7 days. `already_member` or "
    "`already_invited` (409); `owner_required` (403) for the role `owner`; `email_not_sent` "
    "(503): nothing was kept.",
)
def create_invitation(request: HttpRequest, payload: InvitationIn):
    try:
        invitation = invitations.invite(
            org=request.auth.org,
            email=payload.email,
            role=payload.role,
            teams=_teams(request, payload.teams),
            actor=admin_tokens.actor_for(request.auth, request),
            acting_role=Role.ADMIN,
            base_url=_base_url(request),
        )
    except invitations.InvitationRefused as refused:
        raise _refused(refused) from None
    return Status(201, _invitation_out(invitation))


def _invitation(request: HttpRequest, invitation_id: UUID) -> Invitation:
    return get_object_or_404(Invitation, org=request.auth.org, pk=invitation_id)


@router.post(
    "/invitations/{invitation_id}/resend",
    response={200: InvitationOut, **errors(*WRITE, 404, 409, 503)},
    summary="Send an invitation again",
    description="A new link, valid for 7 days from now; the old link stops working.",
)
def resend_invitation(request: HttpRequest, invitation_id: UUID):
    try:
        invitation = invitations.resend(
            invitation=_invitation(request, invitation_id),
            actor=admin_tokens.actor_for(request.auth, request),
            acting_role=Role.ADMIN,
            base_url=_base_url(request),
        )
    except invitations.InvitationRefused as refused:
        raise _refused(refused) from None
    return _invitation_out(invitation)


@router.delete(
    "/invitations/{invitation_id}",
    response={204: None, **errors(*WRITE, 404, 409)},
    summary="Withdraw an invitation",
    description="Its link stops working at once.",
)
def revoke_invitation(request: HttpRequest, invitation_id: UUID):
    try:
        invitations.revoke(
            invitation=_invitation(request, invitation_id),
            actor=admin_tokens.actor_for(request.auth, request),
            acting_role=Role.ADMIN,
        )
    except invitations.InvitationRefused as refused:
        raise _refused(refused) from None
    return Status(204, None)
