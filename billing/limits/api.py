"""The admin API's teams (docs/contract.md section 4).

As for keys: reads through the console's scoped selectors, changes through its services (one
audit event each, naming the token), input checked by the console's own forms."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.responses import Status
from pydantic import ConfigDict

from billing.limits import services
from billing.limits.forms import TeamForm, TeamLimitsForm
from billing.money import money_text
from gateway_console import admin_tokens, selectors
from gateway_console.api_schemas import READ, WRITE, errors, form_refused
from gateway_console.contract import ContractError
from gateway_console.limits import LimitPeriod
from gateway_console.models import Team
from gateway_console.services import OrgActionRefused

router = Router(tags=["teams"])

_LIMITS = TeamLimitsForm.base_fields
TeamName = Annotated[str, Field(min_length=1, max_length=TeamForm.base_fields["name"].max_length)]
SpendCap = Annotated[
    Decimal,
    Field(
        ge=_LIMITS["spend_cap"].min_value,
        le=_LIMITS["spend_cap"].max_value,
        max_digits=_LIMITS["spend_cap"].max_digits,
        decimal_places=_LIMITS["spend_cap"].decimal_places,
        description='USD; a decimal string such as `"500.00"` is best.',
    ),
]
TokenLimit = Annotated[
    int, Field(ge=_LIMITS["token_limit"].min_value, le=_LIMITS["token_limit"].max_value)
]
RpmLimit = Annotated[
    int, Field(ge=_LIMITS["rpm_limit"].min_value, le=_LIMITS["rpm_limit"].max_value)
]
TpmLimit = Annotated[
    int, Field(ge=_LIMITS["tpm_limit"].min_value, le=_LIMITS["tpm_limit"].max_value)
]
MaxInFlight = Annotated[
    int, Field(ge=_LIMITS["max_in_flight"].min_value, le=_LIMITS["max_in_flight"].max_value)
]
_NEEDS_REPORTS = (
    "Needs a gateway that reports usage: through one that does not, authorize refuses the "
    "team's keys with 403 `usage_reports_required`."
)


# Teams


class TeamLimitsOut(Schema):
    spend_cap: str | None = Field(description="USD for all the team's keys per period; null: none.")
    token_limit: int | None
    limit_period: LimitPeriod = Field(description="When the team's counters restart.")
    rpm_limit: int | None = Field(description="Requests per minute of all its keys together.")
    tpm_limit: int | None = Field(
        description=f"Tokens per minute of all its keys together. {_NEEDS_REPORTS}"
    )
    max_in_flight: int | None = Field(
        description=f"Requests at once of all its keys together. {_NEEDS_REPORTS}"
    )


class TeamOut(Schema):
    id: UUID
    name: str
    limits: TeamLimitsOut
    keys: int = Field(description="Keys in the team, deleted ones aside.")
    members: int
    created_at: datetime


class TeamPageOut(Schema):
    data: list[TeamOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: end.")


class TeamLimitsIn(Schema):
    model_config = ConfigDict(extra="forbid")

    spend_cap: SpendCap | None = None
    token_limit: TokenLimit | None = None
    limit_period: LimitPeriod = LimitPeriod.MONTHLY
    rpm_limit: RpmLimit | None = None
    tpm_limit: TpmLimit | None = None
    max_in_flight: MaxInFlight | None = None


class TeamIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: TeamName
    limits: TeamLimitsIn | None = Field(default=None, description="Default: no limits.")


# PATCH: what is left out stays as it is.
class TeamLimitsPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    spend_cap: SpendCap | None = None
    token_limit: TokenLimit | None = None
    limit_period: LimitPeriod = None  # type: ignore[assignment]
    rpm_limit: RpmLimit | None = None
    tpm_limit: TpmLimit | None = None
    max_in_flight: MaxInFlight | None = None


class TeamPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: TeamName = None  # type: ignore[assignment]
    limits: TeamLimitsPatch = None  # type: ignore[assignment]


def team_out(team: Team) -> dict:
    return {
        "id": team.pk,
        "name": team.name,
        "limits": {
            "spend_cap": money_text(team.spend_cap),
            "token_limit": team.token_limit,
            "limit_period": team.limit_period,
            "rpm_limit": team.rpm_limit,
            "tpm_limit": team.tpm_limit,
            "max_in_flight": team.max_in_flight,
        },
        "keys": team.key_count,
        "members": team.member_count,
        "created_at": team.created_at,
    }


def _limits(values: dict) -> services.TeamLimits:
    """The console's own form decides what a limit may be."""
    form = TeamLimitsForm(
        {field: "" if value is None else str(value) for field, value in values.items()}
    )
    if not form.is_valid():
        raise form_refused(form, nested=_LIMITS)
    return services.TeamLimits(**form.cleaned_data)


def _name(value: str) -> str:
    """The console's own form decides what a name may be (a blank one is none)."""
    form = TeamForm({"name": value})
    if not form.is_valid():
        raise form_refused(form)
    return form.cleaned_data["name"]


def _refused(refused: OrgActionRefused) -> ContractError:
    return ContractError(refused.code, 409, str(refused))


@router.get(
    "/teams",
    response={200: TeamPageOut, **errors(*READ)},
    summary="List teams",
    description="By name, 100 a page.",
)
def list_teams(
    request: HttpRequest,
    cursor: str = Query("", max_length=200, description="`next_cursor` of the page before."),
):
    page = selectors.teams_page(admin_tokens.membership_of(request), after=cursor)
    return {"data": [team_out(team) for team in page.rows], "next_cursor": page.next_cursor}


@router.post(
    "/teams",
    response={201: TeamOut, **errors(*WRITE, 409)},
    summary="Create a team",
    description="A name another team of the org has (whatever the case) is refused with 409 "
    "`team_name_taken`.",
)
def create_team(request: HttpRequest, payload: TeamIn):
    membership = admin_tokens.membership_of(request)
    actor = admin_tokens.actor_for(request.auth, request)
    name = _name(payload.name)
    limits = _limits(payload.limits.model_dump()) if payload.limits else None
    try:
        team = services.create_team(org=membership.org, actor=actor, name=name, limits=limits)
    except OrgActionRefused as refused:
        raise _refused(refused) from None
    return Status(201, team_out(selectors.team_for(membership, team.pk)))


@router.get("/teams/{team_id}", response={200: TeamOut, **errors(*READ, 404)}, summary="One team")
def get_team(request: HttpRequest, team_id: UUID):
    return team_out(selectors.team_for(admin_tokens.membership_of(request), team_id))


@router.patch(
    "/teams/{team_id}",
    response={200: TeamOut, **errors(*WRITE, 404, 409)},
    summary="Rename a team or change its limits",
    description="Fields left out stay as they are; a limit set to null is removed. One audit "
    "event names every change. A new `limit_period` starts a new period now. A name another "
    "team of the org has (whatever the case) is refused with 409 `team_name_taken`.",
)
def update_team(request: HttpRequest, team_id: UUID, payload: TeamPatch):
    membership = admin_tokens.membership_of(request)
    team = selectors.team_for(membership, team_id)
    given = payload.model_dump(exclude_unset=True)
    name = _name(given["name"]) if given.get("name") is not None else None
    limits = None
    if "limits" in given:
        current = services.TeamLimits.of(team).__dict__
        limits = _limits({**current, **(given["limits"] or {})})
    try:
        services.update_team(
            team=team,
            actor=admin_tokens.actor_for(request.auth, request),
            name=name,
            limits=limits,
        )
    except OrgActionRefused as refused:
        raise _refused(refused) from None
    return team_out(selectors.team_for(membership, team_id))


@router.delete(
    "/teams/{team_id}",
    response={204: None, **errors(*WRITE, 404, 409)},
    summary="Delete a team",
    description="Refused (409 `team_has_keys`, naming how many) while keys are in it: active, "
    "disabled or expired ones; deleted keys leave the team. One audit event. Its members stay "
    "in the org, leaving only the team; its usage history stays, without the team.",
)
def delete_team(request: HttpRequest, response: HttpResponse, team_id: UUID):
    team = selectors.team_for(admin_tokens.membership_of(request), team_id)
    try:
        services.delete_team(team=team, actor=admin_tokens.actor_for(request.auth, request))
    except OrgActionRefused as refused:
        raise _refused(refused) from None
    return Status(204, None)
