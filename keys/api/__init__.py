"""The admin API's keys and request log (docs/contract.md section 4).

Reads go through the same scoped selectors as the console's pages, changes through the same
services, so every change writes exactly one audit event, naming the admin token. Input is
validated by the console's own KeyForm (keys.api.validation); the shapes are in keys.api.schemas.
"""

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Literal
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Query, Router
from ninja.responses import Status

from audit import Actor
from billing.money import micros_to_money
from billing.usage.selectors import usage_event_for
from gateway_console import admin_tokens, paging, show_once
from gateway_console.api_schemas import READ, WRITE, UtcDatetime, errors, form_refused
from gateway_console.contract import ContractError
from keys import selectors, services
from keys.api.schemas import (
    BatchIn,
    KeyIn,
    KeyListOut,
    KeyOut,
    KeyPageOut,
    KeyPatch,
    KeyWithSecretOut,
    RequestId,
    RequestOut,
    RotatedKeyOut,
    RotateIn,
    UsageOut,
    key_out,
    request_out,
)
from keys.api.validation import current, flat, validated
from keys.forms import BatchForm
from keys.models import Key, KeyStatus
from keys.services import AlreadyShown, KeyActionRefused

router = Router(tags=["keys"])
requests_router = Router(tags=["requests"])


# Helpers


def _actor(request: HttpRequest) -> Actor:
    return admin_tokens.actor_for(request.auth, request)


def _nonce(request: HttpRequest) -> str | None:
    """An `Idempotency-Key` header makes a retried create or rotate answer 409 instead of
    making another secret. Hashed with the org, so that orgs cannot collide."""
    given = request.headers.get("Idempotency-Key", "").strip()
    if not given:
        return None
    return hashlib.sha256(f"api:{request.auth.org_id}:{given}".encode()).hexdigest()


def _already_shown(shown: AlreadyShown) -> ContractError:
    return ContractError(
        "already_shown",
        409,
        f"This Idempotency-Key was already used, for key {shown.key.pk}; its secret was shown "
        "once and cannot be shown again. Rotate the key if the secret was lost.",
        extra={"key_id": str(shown.key.pk)},
    )


def _refused(refused: KeyActionRefused) -> ContractError:
    return ContractError("key_action_refused", 409, str(refused))


def _shown_once(response: HttpResponse, make: Callable[[], tuple[Key, str]]) -> tuple[Key, str]:
    """Runs a service that makes a key's secret. A repeated Idempotency-Key answers 409, and the
    plaintext lives only in this response (docs/contract.md section 1): no cache keeps it."""
    try:
        key, plaintext = make()
    except AlreadyShown as shown:
        raise _already_shown(shown) from None
    except KeyActionRefused as refused:
        raise _refused(refused) from None
    show_once.no_store(response)
    return key, plaintext


# Keys


@router.get("/keys", response={200: KeyPageOut, **errors(*READ, 400)}, summary="List keys")
def list_keys(
    request: HttpRequest,
    team: str = Query("", description="A team's id, or `none` for keys without a team."),
    status: KeyStatus | None = Query(None, description="Default: all but deleted keys."),
    search: str = Query("", max_length=200, description="Name, preview, prefix or user ID."),
    sort: Literal[tuple(selectors.SORTS)] = Query(selectors.DEFAULT_SORT),  # type: ignore[valid-type]
    cursor: str = Query("", max_length=500, description="`next_cursor` of the page before."),
    limit: int = Query(25, ge=1, le=100),
):
    if cursor and paging.decode(cursor, selectors.columns(sort)) is None:
        raise ContractError(
            "invalid_cursor", 400, "This cursor is not one this API gave out; start without one."
        )
    page = selectors.keys_visible_to(
        admin_tokens.membership_of(request),
        search=search,
        team=team,
        status=status or "",
        sort=sort,
        after=cursor,
        page_size=limit,
    )
    return {"data": [key_out(key) for key in page.rows], "next_cursor": page.next_cursor}


@router.post(
    "/keys",
    response={201: KeyWithSecretOut, **errors(*WRITE, 409)},
    summary="Create a key",
    description="Answers the key itself once, in `key`. Send an `Idempotency-Key` header to "
    "make a retry safe: a repeat answers 409 instead of creating a second key.",
)
def create_key(request: HttpRequest, response: HttpResponse, payload: KeyIn):
    membership = admin_tokens.membership_of(request)
    key_settings = validated(membership, flat(payload, only_given=False))
    key, plaintext = _shown_once(
        response,
        lambda: services.create_key(
            org=membership.org,
            actor=_actor(request),
            settings_=key_settings,
            nonce=_nonce(request),
        ),
    )
    return Status(201, {**key_out(key), "key": plaintext})


# Before /keys/{key_id}, so that "batch" is not taken for a key's id.
@router.post(
    "/keys/batch",
    response={200: KeyListOut, **errors(*WRITE, 404, 409)},
    summary="Disable, enable, delete or move several keys",
    description="All of the keys or none; one audit event names them all.",
)
def change_keys(request: HttpRequest, payload: BatchIn):
    membership = admin_tokens.membership_of(request)
    wanted = {str(key_id) for key_id in payload.keys}
    found = selectors.keys_by_ids(membership, sorted(wanted))
    missing = wanted - {str(key.pk) for key in found}
    if missing:
        raise ContractError("not_found", 404, f"No such key: {', '.join(sorted(missing))}.")
    if payload.action == "move" and "team" not in payload.model_fields_set:
        raise ContractError(
            "invalid_request",
            422,
            "team: Say which team to move the keys to (null: no team).",
            extra={"param": "team"},
        )
    if payload.action != "move" and payload.team is not None:
        raise ContractError(
            "invalid_request", 422, "team: Only `move` takes a team.", extra={"param": "team"}
        )
    form = BatchForm(
        {
            "action": payload.action,
            "keys": sorted(wanted),
            "team": str(payload.team) if payload.team else "",
        },
        visible_key_ids=sorted(wanted),
        org=membership.org,
    )
    form.fields["team"].error_messages["invalid_choice"] = "No such team in this organisation."
    if not form.is_valid():
        raise form_refused(form)
    try:
        changed = services.change_keys(
            org=membership.org,
            actor=_actor(request),
            key_ids=[key.pk for key in found],
            action=payload.action,
            team=form.cleaned_data["team"],
        )
    except KeyActionRefused as refused:
        raise _refused(refused) from None
    return {"data": [key_out(key) for key in changed]}


@router.get("/keys/{key_id}", response={200: KeyOut, **errors(*READ, 404)}, summary="One key")
def get_key(request: HttpRequest, key_id: UUID):
    return key_out(selectors.key_for(admin_tokens.membership_of(request), key_id))


@router.patch(
    "/keys/{key_id}",
    response={200: KeyOut, **errors(*WRITE, 404, 409)},
    summary="Change a key's settings",
    description="Fields left out stay as they are; within `limits` too.",
)
def update_key(request: HttpRequest, key_id: UUID, payload: KeyPatch):
    membership = admin_tokens.membership_of(request)
    key = selectors.key_for(membership, key_id)
    if key.is_deleted:
        raise ContractError("key_action_refused", 409, "A deleted key cannot be changed.")
    values = {**current(key), **flat(payload, only_given=True)}
    key_settings = validated(membership, values, key=key)
    try:
        key = services.update_key(key=key, actor=_actor(request), settings_=key_settings)
    except KeyActionRefused as refused:
        raise _refused(refused) from None
    return key_out(key)


@router.delete(
    "/keys/{key_id}",
    response={200: KeyOut, **errors(*WRITE, 404, 409)},
    summary="Delete a key",
    description="Permanent: the key answers like an unknown key; its usage history stays.",
)
def delete_key(request: HttpRequest, key_id: UUID):
    return _status_action(request, key_id, services.delete_key)


@router.post(
    "/keys/{key_id}/rotate",
    response={200: RotatedKeyOut, **errors(*WRITE, 404, 409)},
    summary="Rotate a key",
    description="A new secret with the same settings, answered once in `key`. The old secret "
    "stops working at once, or after `grace_hours`.",
)
def rotate_key(
    request: HttpRequest, response: HttpResponse, key_id: UUID, payload: RotateIn | None = None
):
    key = selectors.key_for(admin_tokens.membership_of(request), key_id)
    key, plaintext = _shown_once(
        response,
        lambda: services.rotate_key(
            key=key,
            actor=_actor(request),
            grace_hours=payload.grace_hours if payload else 0,
            nonce=_nonce(request),
        ),
    )
    return {**key_out(key), "key": plaintext, "old_key_valid_until": key.grace_until}


@router.post(
    "/keys/{key_id}/disable",
    response={200: KeyOut, **errors(*WRITE, 404, 409)},
    summary="Disable a key",
    description="Reversible; the key answers 401 `api_key_disabled` until it is enabled.",
)
def disable_key(request: HttpRequest, key_id: UUID):
    return _status_action(request, key_id, services.disable_key)


@router.post(
    "/keys/{key_id}/enable",
    response={200: KeyOut, **errors(*WRITE, 404, 409)},
    summary="Enable a key",
)
def enable_key(request: HttpRequest, key_id: UUID):
    return _status_action(request, key_id, services.enable_key)


def _status_action(request: HttpRequest, key_id: UUID, service) -> dict:
    key = selectors.key_for(admin_tokens.membership_of(request), key_id)
    try:
        key = service(key=key, actor=_actor(request))
    except KeyActionRefused as refused:
        raise _refused(refused) from None
    return key_out(key)


# Usage

DEFAULT_SPAN = {"hour": timedelta(hours=24), "day": timedelta(days=30)}
# The widest range of one call (docs/contract.md section 4): 744 hourly or 366 daily buckets
# per model, one bounded read of the rollups. A longer history is read in several calls.
MAX_SPAN = {"hour": timedelta(days=31), "day": timedelta(days=366)}


@router.get(
    "/keys/{key_id}/usage",
    response={200: UsageOut, **errors(*READ, 404)},
    by_alias=True,
    summary="A key's usage over time",
    description="Requests, tokens and cost per hour or per day, optionally per model. "
    "Default span: the last 24 hours (hour) or 30 days (day). At most 31 days by the hour and "
    "366 days by the day; a wider range is a 422 naming `from`.",
)
def key_usage(
    request: HttpRequest,
    key_id: UUID,
    from_: UtcDatetime | None = Query(None, alias="from", description="Start, inclusive."),
    to: UtcDatetime | None = Query(None, description="End, exclusive. Default: now."),
    granularity: Literal["hour", "day"] = Query("day"),
    by_model: bool = Query(False),
):
    key = selectors.key_for(admin_tokens.membership_of(request), key_id)
    until = to or timezone.now()
    try:
        since = from_ or until - DEFAULT_SPAN[granularity]
    except OverflowError:
        raise ContractError(
            "invalid_request", 422, "to: this time is out of range.", extra={"param": "to"}
        ) from None
    if since >= until:
        raise ContractError(
            "invalid_request", 422, "from: must be before `to`.", extra={"param": "from"}
        )
    if until - since > MAX_SPAN[granularity]:
        raise ContractError(
            "invalid_request",
            422,
            f"from: a range by the {granularity} spans at most {MAX_SPAN[granularity].days} "
            "days; ask for a longer one in several calls.",
            extra={"param": "from"},
        )
    buckets = selectors.usage_of_key(
        key, since=since, until=until, granularity=granularity, by_model=by_model
    )
    return {
        "key": key.pk,
        "granularity": granularity,
        "from": since,
        "to": until,
        "timezone": key.org.timezone,
        "data": [
            {
                "start": bucket.start,
                "model": bucket.model,
                "requests": bucket.requests,
                "input_tokens": bucket.input_tokens,
                "output_tokens": bucket.output_tokens,
                "cost": str(micros_to_money(bucket.cost_micros)),
            }
            for bucket in buckets
        ],
    }


# The request log


@requests_router.get(
    "/requests/{request_id}",
    response={200: RequestOut, **errors(*READ, 404)},
    summary="One request, by the gateway's request id",
    description="Also for requests of keys that have since been deleted.",
)
def get_request(request: HttpRequest, request_id: RequestId):
    return request_out(usage_event_for(admin_tokens.membership_of(request), request_id))
