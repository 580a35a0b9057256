"""The admin API's members (docs/contract.md section 4): the org's people, read through the
console's scoped selectors."""

from datetime import datetime
from uuid import UUID

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from gateway_console import admin_tokens, selectors
from gateway_console.api_schemas import READ, errors
from gateway_console.models import Role

members_router = Router(tags=["members"])


def _membership(request: HttpRequest):
    return admin_tokens.as_membership(request.auth)


# Members


class MemberOut(Schema):
    email: str
    name: str
    role: Role
    teams: list[UUID] = Field(description="The teams a member belongs to.")
    joined_at: datetime


class MemberPageOut(Schema):
    data: list[MemberOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: end.")


@members_router.get(
    "/members",
    response={200: MemberPageOut, **errors(*READ)},
    summary="List the org's members",
    description="By email, 100 a page.",
)
def list_members(
    request: HttpRequest,
    cursor: str = Query("", max_length=254, description="`next_cursor` of the page before."),
):
    page = selectors.members_page(_membership(request), after=cursor)
    return {
        "data": [
            {
                "email": m.user.email,
                "name": m.user.name,
                "role": m.role,
                "teams": [team.pk for team in m.teams.all()],
                "joined_at": m.created_at,
            }
            for m in page.rows
        ],
        "next_cursor": page.next_cursor,
    }
