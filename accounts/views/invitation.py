"""Accepting an invitation from its emailed link: a new person sets a name and a password (the
account is created and signed in); a person who has an account signs in as it, then joins."""

from django.contrib import auth, messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts import invitations, sign_in_events
from accounts.forms import NewAccountForm
from accounts.members import MemberActionRefused
from accounts.people import person_actor
from gateway_console.middleware import SESSION_ORG_KEY
from gateway_console.models import User

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _refused(request: HttpRequest, reason: str) -> HttpResponse:
    return render(request, "accounts/invitation_refused.html", {"reason": reason}, status=410)


@require_http_methods(["GET", "POST"])
def accept_invitation(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = invitations.invitation_for_token(token)
    except invitations.InvitationRefused as refused:
        return _refused(request, str(refused))
    existing = User.objects.filter(email__iexact=invitation.email).first()
    if existing is not None:
        return _join_as_existing(request, invitation, existing)
    if request.user.is_authenticated:
        return _refused(
            request,
            f"This invitation is for {invitation.email}, who has no account yet; you are "
            f"signed in as {request.user.email}. Sign out, then open the link again.",
        )
    form = NewAccountForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        try:
            membership = invitations.accept_as_new_person(
                invitation=invitation,
                name=form.cleaned_data["name"],
                password=form.cleaned_data["password1"],
                actor_for=lambda user: person_actor(user, request=request),
            )
        except (invitations.InvitationRefused, MemberActionRefused) as refused:
            return _refused(request, str(refused))
        auth.login(request, membership.user, backend=MODEL_BACKEND)
        sign_in_events.record_sign_in(request, membership.user)
        return _welcome(request, membership)
    return render(
        request, "accounts/invitation_accept.html", {"invitation": invitation, "form": form}
    )


def _join_as_existing(request: HttpRequest, invitation, user: User) -> HttpResponse:
    if not request.user.is_authenticated:
        messages.info(
            request,
            f"Sign in as {invitation.email} to join {invitation.org.name}.",
        )
        return redirect_to_login(request.get_full_path())
    if request.method == "POST":
        try:
            membership = invitations.accept(
                invitation=invitation,
                user=request.user,
                actor=person_actor(request.user, request=request),
            )
        except (invitations.InvitationRefused, MemberActionRefused) as refused:
            return _refused(request, str(refused))
        return _welcome(request, membership)
    return render(
        request,
        "accounts/invitation_accept.html",
        {"invitation": invitation, "existing": user, "wrong_person": request.user.pk != user.pk},
    )


def _welcome(request: HttpRequest, membership) -> HttpResponse:
    request.session[SESSION_ORG_KEY] = str(membership.org_id)
    messages.success(
        request,
        f"Welcome to {membership.org.name}: you are {membership.get_role_display().lower()}.",
    )
    return redirect("home")
