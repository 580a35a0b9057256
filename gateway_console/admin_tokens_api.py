"""The admin API's admin tokens (docs/contract.md section 4): list them and read one, with their
expiry, last use and creator. A token cannot make tokens: one that could would outlive its own
expiry. Tokens are made on the console's page, by a person after a step-up."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from gateway_console import admin_tokens, paging
from gateway_console.api_schemas import READ, errors
from gateway_console.contract import ContractError
from gateway_console.models import AdminToken

admin_tokens_router = Router(tags=["admin tokens"])


class AdminTokenOut(Schema):
    id: UUID
    name: str
    preview: str = Field(description="Display prefix … last 4 characters: `sk-admin-4fQz9A…x7Kp`.")
    read_only: bool = Field(description="A read-only token may read everything, change nothing.")
    status: Literal["active", "expired", "revoked"]
    created_at: datetime
    created_by: str | None = Field(
        description="The email of the person who created it; null: made by the "
        "create_admin_token command, or that person's account was removed."
    )
    expires_at: datetime = Field(description="It is refused from then on, like a revoked token.")
    last_used_at: datetime | None = Field(description="Precise to a minute; null: never used.")
    revoked_at: datetime | None


class AdminTokenPageOut(Schema):
    data: list[AdminTokenOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: end.")


def admin_token_out(token: AdminToken) -> dict:
    return {
        "id": token.pk,
        "name": token.name,
        "preview": token.preview,
        "read_only": token.read_only,
        "status": token.status,
        "created_at": token.created_at,
        "created_by": token.created_by.email if token.created_by else None,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
    }


@admin_tokens_router.get(
    "/admin-tokens",
    response={200: AdminTokenPageOut, **errors(*READ)},
    summary="List admin tokens",
    description="Active tokens first, newest first; then the revoked. 100 a page.",
)
def list_admin_tokens(
    request: HttpRequest,
    cursor: str = Query("", max_length=500, description="`next_cursor` of the page before."),
):
    # As every list of the API whose cursor can be malformed (keys, audit events): a cursor it
    # did not give out is refused, never taken silently for the first page.
    if cursor and paging.decode(cursor, admin_tokens.TOKEN_ORDER) is None:
        raise ContractError(
            "invalid_cursor", 400, "This cursor is not one this API gave out; start without one."
        )
    page = admin_tokens.admin_tokens_page(admin_tokens.membership_of(request), after=cursor)
    return {
        "data": [admin_token_out(token) for token in page.rows],
        "next_cursor": page.next_cursor,
    }


@admin_tokens_router.get(
    "/admin-tokens/{token_id}",
    response={200: AdminTokenOut, **errors(*READ, 404)},
    summary="One admin token",
)
def get_admin_token(request: HttpRequest, token_id: UUID):
    return admin_token_out(
        admin_tokens.admin_token_for(admin_tokens.membership_of(request), token_id)
    )
