"""The admin API's audit log (docs/contract.md section 4): the org's events, newest first, by cursor."""

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from audit import selectors
from audit.models import ActorType, AuditEvent
from gateway_console import admin_tokens, paging
from gateway_console.api_schemas import READ, UtcDatetime, errors
from gateway_console.contract import ContractError

router = Router(tags=["audit"])


class AuditEventOut(Schema):
    id: int
    seq: int = Field(description="The event's position in the org's hash chain, from 1.")
    occurred_at: datetime
    actor_type: ActorType
    actor_id: str
    actor_label: str
    actor_role: str
    action: str = Field(description="`<noun>.<past-tense verb>`, e.g. `key.rotated`.")
    description: str = Field(description="The action in words.")
    target_type: str
    target_id: str
    target_label: str
    changes: dict[str, Any] = Field(description="Field: `{before, after}`.")
    data: dict[str, Any]
    ip_address: str | None
    user_agent: str
    request_id: str
    prev_hash: str
    hash: str


class AuditEventPageOut(Schema):
    data: list[AuditEventOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for older events; null: end.")


def event_out(event: AuditEvent) -> dict:
    return {
        "id": event.pk,
        "seq": event.seq,
        "occurred_at": event.occurred_at,
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "actor_role": event.actor_role,
        "action": event.action,
        "description": event.display,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_label": event.target_label,
        "changes": event.changes,
        "data": event.data,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


@router.get(
    "/audit-events",
    response={200: AuditEventPageOut, **errors(*READ, 400)},
    summary="The audit log",
    description="The org's events, newest first. Filters combine.",
)
def list_audit_events(
    request: HttpRequest,
    actor: str = Query(
        "", max_length=200, description="An email (exact), or the start of an actor's label."
    ),
    action: str = Query("", max_length=64, description="An action code, or its start (`key.`)."),
    target: str = Query(
        "", max_length=200, description="A target's id, or the start of its label."
    ),
    since: UtcDatetime | None = Query(None, description="From this time, inclusive."),
    until: UtcDatetime | None = Query(None, description="Before this time."),
    from_day: date | None = Query(
        None, alias="from", description="From this day, in the org's time zone (as the page)."
    ),
    to_day: date | None = Query(
        None, alias="to", description="To this day, included, in the org's time zone."
    ),
    cursor: str = Query("", max_length=18, description="`next_cursor` of the page before."),
    limit: int = Query(50, ge=1, le=200),
):
    if cursor and paging.decode(cursor, selectors.EVENT_ORDER) is None:
        raise ContractError(
            "invalid_cursor", 400, "This cursor is not one this API gave out; start without one."
        )
    membership = admin_tokens.as_membership(request.auth)
    # The page's day filters and the API's instants combine: the later start, the earlier end.
    day_since, day_until = selectors.day_range(membership.org.timezone, from_day, to_day)
    since = max(filter(None, (since, day_since)), default=None)
    until = min(filter(None, (until, day_until)), default=None)
    page = selectors.events_visible_to(
        membership,
        actor=actor.strip(),
        action=action.strip(),
        target=target.strip(),
        since=since,
        until=until,
        after=cursor,
        page_size=limit,
    )
    return {
        "data": [event_out(event) for event in page.rows],
        "next_cursor": page.next_cursor,
    }
