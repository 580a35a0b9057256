"""The team pages: the list, a new team, a team with its limits against their use, and the
limits' form (billing's, since a team's limits and counters are)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from audit import Actor
from billing.limits import selectors, services
from billing.limits.forms import TeamForm, TeamLimitsForm
from gateway_console import selectors as tenancy
from gateway_console.paging import cursors, pager_links
from gateway_console.roles import membership_required, role_required
from gateway_console.services import OrgActionRefused


@membership_required
def team_list(request: HttpRequest) -> HttpResponse:
    page = tenancy.teams_page(request.membership, **cursors(request.GET))
    return render(request, "orgs/teams.html", {"teams": page.rows, "pager": pager_links(page)})


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
        except OrgActionRefused as refused:
            form.add_error("name", str(refused))
        else:
            messages.success(request, f"Created the team {team.name}.")
            return redirect("teams")
    return render(request, "orgs/team_new.html", {"form": form})


@membership_required
def team_detail(request: HttpRequest, team_id) -> HttpResponse:
    team = tenancy.team_for(request.membership, team_id)
    return render(
        request,
        "orgs/team_detail.html",
        {"team": team, "usage": selectors.team_limits_now(team)},
    )


@role_required("admin")
@require_http_methods(["GET", "POST"])
def team_edit(request: HttpRequest, team_id) -> HttpResponse:
    team = tenancy.team_for(request.membership, team_id)
    initial = {
        "spend_cap": team.spend_cap,
        "token_limit": team.token_limit,
        "limit_period": team.limit_period,
        "rpm_limit": team.rpm_limit,
    }
    form = TeamLimitsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.update_team(
            team=team,
            actor=Actor.from_request(request),
            limits=services.TeamLimits(**form.cleaned_data),
        )
        messages.success(request, f"Saved the limits of {team.name}.")
        return redirect("team-detail", team_id=team.pk)
    return render(request, "orgs/team_edit.html", {"team": team, "form": form})
