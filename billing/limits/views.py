"""The team pages: the list, a new team, a team with its limits against their use and its
members, its settings' form (name and limits) and its deletion (billing's, since a team's
limits and counters are)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from audit import Actor
from billing.limits import selectors, services
from billing.limits.forms import TeamForm, TeamSettingsForm
from gateway_console import selectors as tenancy
from gateway_console.paging import cursors, pager_links, render_list
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
    """The team's limits against their use and its members (a keyset page at a time; htmx
    swaps the members' table alone), for whoever may see the team."""
    team = tenancy.team_for(request.membership, team_id)
    members = tenancy.team_members_page(team, **cursors(request.GET))
    return render_list(
        request,
        template="orgs/team_detail.html",
        part="orgs/_team_members.html",
        target="team-members",
        context={
            "team": team,
            "usage": selectors.team_limits_now(team),
            "members": members.rows,
            "pager": pager_links(members, target="team-members"),
        },
    )


@role_required("admin")
@require_http_methods(["GET", "POST"])
def team_edit(request: HttpRequest, team_id) -> HttpResponse:
    """The team's name and limits; the form's submit is the confirmation, as for a key's
    settings. One `team.updated` event names every change."""
    team = tenancy.team_for(request.membership, team_id)
    initial = {"name": team.name, **services.TeamLimits.of(team).__dict__}
    form = TeamSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        limits = {field: form.cleaned_data[field] for field in TeamSettingsForm.base_fields}
        name = limits.pop("name")
        try:
            team = services.update_team(
                team=team,
                actor=Actor.from_request(request),
                name=name,
                limits=services.TeamLimits(**limits),
            )
        except OrgActionRefused as refused:
            form.add_error("name", str(refused))
        else:
            messages.success(request, f"Saved the settings of {team.name}.")
            return redirect("team-detail", team_id=team.pk)
    return render(request, "orgs/team_edit.html", {"team": team, "form": form})


# The members a deletion's confirmation names; a larger team says how many more.
MEMBERS_NAMED = 50


@role_required("admin")
@require_http_methods(["GET", "POST"])
def team_delete(request: HttpRequest, team_id) -> HttpResponse:
    """GET: a confirmation that says what will happen (the members who leave the team), or
    that the team's keys stand in the way. POST: delete it, or say why not."""
    team = tenancy.team_for(request.membership, team_id)
    if request.method == "POST":
        try:
            services.delete_team(team=team, actor=Actor.from_request(request))
        except OrgActionRefused as refused:
            messages.error(request, str(refused))
            return redirect("team-detail", team_id=team.pk)
        messages.success(request, f"Deleted the team {team.name}.")
        return redirect("teams")
    members = tenancy.team_members_page(team, size=MEMBERS_NAMED).rows
    return render(
        request,
        "orgs/team_confirm_delete.html",
        {
            "team": team,
            "refused": services.keys_in_the_way(team.key_count) if team.key_count else None,
            "members": members,
            "more": team.member_count - len(members),
        },
    )
