import uuid

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from audit import Actor
from gateway_console import selectors, services
from gateway_console.forms import SignInForm, TeamForm
from gateway_console.middleware import SESSION_ORG_KEY
from gateway_console.models import Membership
from gateway_console.roles import membership_required, role_required


class SignInView(auth_views.LoginView):
    template_name = "accounts/sign_in.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True


def home(request: HttpRequest) -> HttpResponse:
    return redirect("keys:list" if request.user.is_authenticated else "sign-in")


def no_org(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("sign-in")
    if request.membership is not None:
        return redirect("keys:list")
    return render(request, "orgs/no_org.html")


@require_POST
@membership_required
def switch_org(request: HttpRequest) -> HttpResponse:
    try:
        org_id = uuid.UUID(request.POST.get("org", ""))
    except ValueError:
        org_id = None  # a malformed id matches no membership, like an org one is not in
    membership = (
        Membership.objects.filter(user=request.user, org_id=org_id).select_related("org").first()
    )
    if membership is None:
        messages.error(request, "You are not a member of that organisation.")
    else:
        request.session[SESSION_ORG_KEY] = str(membership.org_id)
        messages.success(request, f"Switched to {membership.org.name}.")
    # Back to the same section, not the same object: that object belongs to the other org.
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    section = target.strip("/").split("/")[0]
    return redirect(f"/{section}/" if section else "/")


@membership_required
def team_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "orgs/teams.html", {"teams": selectors.teams_with_counts(request.membership)}
    )


@role_required("admin")
@require_http_methods(["GET", "POST"])
def team_new(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = services.create_team(
                org=request.membership.org,
                actor=Actor.from_request(request),
                name=form.cleaned_data["name"],
            )
        except services.OrgActionRefused as refused:
            form.add_error("name", str(refused))
        else:
            messages.success(request, f"Created the team {team.name}.")
            return redirect("teams")
    return render(request, "orgs/team_new.html", {"form": form})


@role_required("reader")
def member_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "orgs/members.html", {"memberships": selectors.members_of(request.membership)}
    )
