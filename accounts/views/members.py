"""The members pages: everyone who sees the whole org reads them; owners and admins invite,
change roles and teams, and remove, each on a page that says what will happen (the
confirmation) and with a fresh step-up for roles and removals."""

from django.contrib import auth, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from accounts import invitations, members
from accounts.forms import InviteForm, RoleForm, SecurityForm, TeamsForm
from accounts.models import Invitation
from gateway_console import selectors, step_up
from gateway_console.actors import Actor
from gateway_console.models import Role
from gateway_console.paging import cursors, pager_links
from gateway_console.roles import role_required

REFUSED = (members.MemberActionRefused, invitations.InvitationRefused)


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/")


@role_required("reader")
def member_list(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    page = selectors.members_page(
        membership, order=selectors.MEMBERS_BY_ROLE, **cursors(request.GET)
    )
    return render(
        request,
        "orgs/members.html",
        {
            "memberships": page.rows,
            "pager": pager_links(page),
            "invitations": invitations.open_invitations(membership.org),
            "can_change": membership.can_change,
            "is_owner": membership.role == Role.OWNER,
        },
    )


@role_required("admin")
@require_http_methods(["GET", "POST"])
def invite(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    form = InviteForm(request.POST or None, org=membership.org, acting_role=membership.role)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = invitations.invite(
                org=membership.org,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                teams=form.cleaned_data["teams"],
                actor=Actor.from_request(request),
                acting_role=membership.role,
                base_url=_base_url(request),
            )
        except REFUSED as refused:
            form.add_error("email", str(refused))
        else:
            messages.success(
                request,
                f"Invited {invitation.email} as {invitation.get_role_display().lower()}: the "
                "link in their email works once, for 7 days.",
            )
            return redirect("members")
    return render(request, "accounts/invite.html", {"form": form})


def _invitation(request: HttpRequest, invitation_id) -> Invitation:
    return get_object_or_404(Invitation, org=request.membership.org, pk=invitation_id)


@role_required("admin")
@require_http_methods(["GET", "POST"])
def invitation_action(request: HttpRequest, invitation_id, action: str) -> HttpResponse:
    """GET: what resending or withdrawing does. POST: do it."""
    invitation = _invitation(request, invitation_id)
    if request.method == "POST":
        actor = Actor.from_request(request)
        try:
            if action == "resend":
                invitations.resend(
                    invitation=invitation,
                    actor=actor,
                    acting_role=request.membership.role,
                    base_url=_base_url(request),
                )
                messages.success(request, f"Sent the invitation to {invitation.email} again.")
            else:
                invitations.revoke(
                    invitation=invitation, actor=actor, acting_role=request.membership.role
                )
                messages.success(request, f"Withdrew the invitation to {invitation.email}.")
        except REFUSED as refused:
            messages.error(request, str(refused))
        return redirect("members")
    return render(
        request, "accounts/invitation_confirm.html", {"invitation": invitation, "action": action}
    )


@role_required("admin")
@step_up.required
@require_http_methods(["GET", "POST"])
def member_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    acting = request.membership
    member = members.membership_in_org(acting.org, membership_id)
    data = request.POST if request.method == "POST" else step_up.resumed(request)
    form = RoleForm(data, acting_role=acting.role, initial={"role": member.role})
    if request.method == "POST" and form.is_valid():
        try:
            changed = members.change_role(
                membership=member,
                role=form.cleaned_data["role"],
                actor=Actor.from_request(request),
                acting_role=acting.role,
            )
        except members.MemberActionRefused as refused:
            form.add_error("role", str(refused))
        else:
            member.refresh_from_db()
            if changed:
                messages.success(
                    request, f"{member.user.email} is now {member.get_role_display().lower()}."
                )
            return redirect("members")
    return render(request, "accounts/member_role.html", {"member": member, "form": form})


@role_required("admin")
@require_http_methods(["GET", "POST"])
def member_teams(request: HttpRequest, membership_id: int) -> HttpResponse:
    acting = request.membership
    member = members.membership_in_org(acting.org, membership_id)
    form = TeamsForm(
        request.POST or None, org=acting.org, initial={"teams": list(member.teams.all())}
    )
    if request.method == "POST" and form.is_valid():
        try:
            members.set_teams(
                membership=member,
                teams=form.cleaned_data["teams"],
                actor=Actor.from_request(request),
                acting_role=acting.role,
            )
        except members.MemberActionRefused as refused:
            form.add_error("teams", str(refused))
        else:
            messages.success(request, f"Saved the teams of {member.user.email}.")
            return redirect("members")
    return render(request, "accounts/member_teams.html", {"member": member, "form": form})


@role_required("admin")
@step_up.required
@require_http_methods(["GET", "POST"])
def member_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    acting = request.membership
    member = members.membership_in_org(acting.org, membership_id)
    if request.method == "POST":
        try:
            members.remove_member(
                membership=member, actor=Actor.from_request(request), acting_role=acting.role
            )
        except members.MemberActionRefused as refused:
            messages.error(request, str(refused))
        else:
            messages.success(request, f"Removed {member.user.email}; their sessions have ended.")
            if member.user_id == request.user.pk:
                # Their own sessions ended with the removal, this one too.
                auth.logout(request)
                return redirect("sign-in")
        return redirect("members")
    return render(request, "accounts/member_remove.html", {"member": member})


@role_required("owner")
@step_up.required(when=lambda request: request.method == "POST")
@require_http_methods(["GET", "POST"])
def security(request: HttpRequest) -> HttpResponse:
    org = request.membership.org
    data = request.POST if request.method == "POST" else step_up.resumed(request)
    form = SecurityForm(data, initial={"require_two_factor": org.require_two_factor})
    if request.method == "POST" and form.is_valid():
        require = form.cleaned_data["require_two_factor"]
        if members.set_two_factor_required(
            org=org, require=require, actor=Actor.from_request(request)
        ):
            messages.success(
                request,
                "Owners and admins now need two-factor."
                if require
                else "Two-factor is now up to each owner and admin.",
            )
        return redirect("members")
    return render(request, "accounts/security.html", {"form": form, "org": org})
