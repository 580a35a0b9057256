"""The admin API's keys and request log (docs/contract.md section 4).

Reads go through the same scoped selectors as the console's pages, changes through the same
services, so every change writes exactly one audit event, naming the admin token. Input is
validated by the console's own KeyForm: the API cannot accept a key the console would refuse.
"""

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from ninja.responses import Status
from pydantic import ConfigDict, StringConstraints

from audit import Actor
from billing.limits.periods import LimitPeriod
from billing.money import micros_to_money, to_money
from billing.usage.models import UsageEvent
from billing.usage.selectors import usage_event_for
from gateway_console import admin_tokens, paging
from gateway_console.api_schemas import READ, WRITE, UtcDatetime, errors
from gateway_console.contract import ContractError
from gateway_console.models import Membership
from keys import selectors, services
from keys.forms import MODEL_NAME, BatchForm, KeyForm
from keys.models import Key, KeyStatus, KeyType
from keys.services import AlreadyShown, KeyActionRefused, KeySettings

router = Router(tags=["keys"])
requests_router = Router(tags=["requests"])

# Constraints documented in the OpenAPI document are read off KeyForm's fields, which stay
# the authority: the form validates every key the API creates or changes.
_FIELDS = KeyForm.base_fields
LIMIT_FIELDS = ("monthly_spend_cap", "cost_limit", "token_limit", "limit_period", "rpm_limit")

ModelName = Annotated[str, StringConstraints(pattern=MODEL_NAME.pattern)]


def _money_type(field: str):
    rules = _FIELDS[field]
    return Annotated[
        Decimal,
        Field(
            ge=rules.min_value,
            le=rules.max_value,
            max_digits=rules.max_digits,
            decimal_places=rules.decimal_places,
            description='An amount in USD; a decimal string such as `"100.00"` is best.',
        ),
    ]


MonthlySpendCap = _money_type("monthly_spend_cap")
CostLimit = _money_type("cost_limit")
TokenLimit = Annotated[
    int, Field(ge=_FIELDS["token_limit"].min_value, le=_FIELDS["token_limit"].max_value)
]
RpmLimit = Annotated[
    int, Field(ge=_FIELDS["rpm_limit"].min_value, le=_FIELDS["rpm_limit"].max_value)
]
Name = Annotated[str, Field(min_length=1, max_length=_FIELDS["name"].max_length)]
UserId = Annotated[str, Field(max_length=_FIELDS["user_id"].max_length)]
Profile = Annotated[str, Field(max_length=_FIELDS["profile"].max_length)]

MONEY_DESCRIPTION = 'USD as a decimal string, to the micro-unit (`"100.000000"`); null: none.'


# Output


class LimitsOut(Schema):
    monthly_spend_cap: str | None = Field(description=MONEY_DESCRIPTION)
    cost_limit: str | None = Field(description=MONEY_DESCRIPTION)
    token_limit: int | None
    limit_period: LimitPeriod = Field(description="When cost and token counters restart.")
    rpm_limit: int | None = Field(description="Requests per minute; null: no limit.")


class KeyOut(Schema):
    id: UUID
    name: str
    preview: str = Field(description="Display prefix … last 4 characters: `sk-gw-4fQz9A…x7Kp`.")
    team: UUID | None = Field(description="The team's id; null: no team.")
    user_id: str = Field(description="Your own identifier of the key's holder.")
    status: KeyStatus
    type: KeyType
    profile: str | None = Field(description="The routing profile of a profile key.")
    model_scope: list[str] = Field(description="Models the key may call; empty: all of the plan.")
    limits: LimitsOut
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None = Field(description="Precise to a minute.")


class KeyWithSecretOut(KeyOut):
    key: str = Field(description="The key itself. Shown only in this response: store it now.")


class RotatedKeyOut(KeyWithSecretOut):
    old_key_valid_until: datetime | None = Field(
        description="When the old key stops working; null: it already has."
    )


class KeyPageOut(Schema):
    data: list[KeyOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: end.")


class KeyListOut(Schema):
    data: list[KeyOut]


def _money_string(value: Decimal | None) -> str | None:
    return None if value is None else str(to_money(value))


def key_out(key: Key) -> dict:
    return {
        "id": key.pk,
        "name": key.name,
        "preview": key.preview,
        "team": key.team_id,
        "user_id": key.user_id,
        "status": key.effective_status,
        "type": key.type,
        "profile": key.profile or None,
        "model_scope": list(key.model_scope),
        "limits": {
            "monthly_spend_cap": _money_string(key.monthly_spend_cap),
            "cost_limit": _money_string(key.cost_limit),
            "token_limit": key.token_limit,
            "limit_period": key.limit_period,
            "rpm_limit": key.rpm_limit,
        },
        "expires_at": key.expires_at,
        "created_at": key.created_at,
        "updated_at": key.updated_at,
        "last_used_at": key.last_used_at,
    }


# Input


class LimitsIn(Schema):
    model_config = ConfigDict(extra="forbid")

    monthly_spend_cap: MonthlySpendCap | None = None
    cost_limit: CostLimit | None = None
    token_limit: TokenLimit | None = None
    limit_period: LimitPeriod = LimitPeriod.MONTHLY
    rpm_limit: RpmLimit | None = None


class KeyIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: Name
    team: UUID | None = Field(default=None, description="A team of the org, by id.")
    user_id: UserId = ""
    type: KeyType = KeyType.STANDARD
    profile: Profile | None = Field(default=None, description="Required for `profile` keys.")
    model_scope: list[ModelName] = Field(default_factory=list)
    limits: LimitsIn = Field(default_factory=LimitsIn)
    expires_at: UtcDatetime | None = Field(default=None, description="With its UTC offset.")


# PATCH: a field that is left out stays as it is. Fields that cannot be null default to None
# without allowing it (pydantic does not validate defaults), so an explicit null is refused.


class LimitsPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    monthly_spend_cap: MonthlySpendCap | None = None
    cost_limit: CostLimit | None = None
    token_limit: TokenLimit | None = None
    limit_period: LimitPeriod = None  # type: ignore[assignment]
    rpm_limit: RpmLimit | None = None


class KeyPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: Name = None  # type: ignore[assignment]
    team: UUID | None = None
    user_id: UserId = None  # type: ignore[assignment]
    type: KeyType = None  # type: ignore[assignment]
    profile: Profile | None = None
    model_scope: list[ModelName] = None  # type: ignore[assignment]
    limits: LimitsPatch = None  # type: ignore[assignment]
    expires_at: UtcDatetime | None = None


class RotateIn(Schema):
    model_config = ConfigDict(extra="forbid")

    grace_hours: int = Field(
        default=0,
        ge=0,
        le=settings.ROTATION_GRACE_MAX_HOURS,
        description="Hours the old key keeps working; 0: it stops at once.",
    )


class BatchIn(Schema):
    model_config = ConfigDict(extra="forbid")

    action: Literal["disable", "enable", "delete", "move"]
    keys: list[UUID] = Field(min_length=1, max_length=1000)
    team: UUID | None = Field(
        default=None, description="For `move`: the team to move the keys to; null: no team."
    )


class KeyApiForm(KeyForm):
    """KeyForm's rules, for JSON. Only the expiry differs: the browser sends a wall-clock time
    meant in the org's time zone, JSON a time with its own UTC offset."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].error_messages["invalid_choice"] = (
            "No such team in this organisation; give a team's id, or null for no team."
        )

    def clean_expires_at(self) -> datetime | None:
        value = self.cleaned_data.get("expires_at")
        if value is None:
            return None
        try:
            value = value.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("This time is out of range.") from None
        unchanged = self.key is not None and self.key.expires_at == value
        if not unchanged and value <= timezone.now():
            raise forms.ValidationError("Choose a time in the future.")
        return value


def _flat(payload: KeyIn | KeyPatch, *, only_given: bool) -> dict:
    values = payload.model_dump(exclude_unset=only_given)
    values.update(values.pop("limits", None) or {})
    return values


def _current(key: Key) -> dict:
    return {
        "name": key.name,
        "team": key.team_id,
        "user_id": key.user_id,
        "type": key.type,
        "profile": key.profile,
        "model_scope": list(key.model_scope),
        "monthly_spend_cap": key.monthly_spend_cap,
        "cost_limit": key.cost_limit,
        "token_limit": key.token_limit,
        "limit_period": key.limit_period,
        "rpm_limit": key.rpm_limit,
        "expires_at": key.expires_at,
    }


def _form_data(values: dict) -> dict:
    data = {}
    for field, value in values.items():
        if field == "model_scope":
            data[field] = "\n".join(value)
        elif field == "expires_at":
            data[field] = value or ""
        else:
            data[field] = "" if value is None else str(value)
    return data


def _validated(membership: Membership, values: dict, key: Key | None = None) -> KeySettings:
    form = KeyApiForm(_form_data(values), org=membership.org, key=key)
    if not form.is_valid():
        field, messages = next(iter(form.errors.items()))
        param = None if field == "__all__" else field
        if param in LIMIT_FIELDS:
            param = f"limits.{param}"
        raise ContractError(
            "invalid_request",
            422,
            f"{param}: {messages[0]}" if param else messages[0],
            extra={"param": param},
        )
    return form.key_settings()


# Helpers


def _membership(request: HttpRequest) -> Membership:
    return admin_tokens.as_membership(request.auth)


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


def _no_store(response: HttpResponse) -> None:
    # The plaintext lives only in this response (docs/contract.md section 1): keep it out of caches.
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"


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
        _membership(request),
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
    membership = _membership(request)
    key_settings = _validated(membership, _flat(payload, only_given=False))
    try:
        key, plaintext = services.create_key(
            org=membership.org,
            actor=_actor(request),
            settings_=key_settings,
            nonce=_nonce(request),
        )
    except AlreadyShown as shown:
        raise _already_shown(shown) from None
    except KeyActionRefused as refused:
        raise _refused(refused) from None
    _no_store(response)
    return Status(201, {**key_out(key), "key": plaintext})


# Before /keys/{key_id}, so that "batch" is not taken for a key's id.
@router.post(
    "/keys/batch",
    response={200: KeyListOut, **errors(*WRITE, 404, 409)},
    summary="Disable, enable, delete or move several keys",
    description="All of the keys or none; one audit event names them all.",
)
def change_keys(request: HttpRequest, payload: BatchIn):
    membership = _membership(request)
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
        field, messages = next(iter(form.errors.items()))
        raise ContractError(
            "invalid_request", 422, f"{field}: {messages[0]}", extra={"param": field}
        )
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
    return key_out(selectors.key_for(_membership(request), key_id))


@router.patch(
    "/keys/{key_id}",
    response={200: KeyOut, **errors(*WRITE, 404, 409)},
    summary="Change a key's settings",
    description="Fields left out stay as they are; within `limits` too.",
)
def update_key(request: HttpRequest, key_id: UUID, payload: KeyPatch):
    membership = _membership(request)
    key = selectors.key_for(membership, key_id)
    if key.is_deleted:
        raise ContractError("key_action_refused", 409, "A deleted key cannot be changed.")
    values = {**_current(key), **_flat(payload, only_given=True)}
    key_settings = _validated(membership, values, key=key)
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
    key = selectors.key_for(_membership(request), key_id)
    try:
        key, plaintext = services.rotate_key(
            key=key,
            actor=_actor(request),
            grace_hours=payload.grace_hours if payload else 0,
            nonce=_nonce(request),
        )
    except AlreadyShown as shown:
        raise _already_shown(shown) from None
    except KeyActionRefused as refused:
        raise _refused(refused) from None
    _no_store(response)
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
    key = selectors.key_for(_membership(request), key_id)
    try:
        key = service(key=key, actor=_actor(request))
    except KeyActionRefused as refused:
        raise _refused(refused) from None
    return key_out(key)


# Usage


class UsageBucketOut(Schema):
    start: datetime = Field(description="The bucket's start, in the org's time zone.")
    model: str | None = Field(description="With `by_model`: the model; else null.")
    requests: int
    input_tokens: int
    output_tokens: int
    cost: str = Field(description="USD as a decimal string, to the micro-unit.")


class UsageOut(Schema):
    key: UUID
    granularity: Literal["hour", "day"]
    from_: datetime = Field(alias="from")
    to: datetime
    timezone: str = Field(description="The org's time zone, in which buckets are aligned.")
    data: list[UsageBucketOut] = Field(
        description="Oldest first; buckets without requests left out."
    )


DEFAULT_SPAN = {"hour": timedelta(hours=24), "day": timedelta(days=30)}


@router.get(
    "/keys/{key_id}/usage",
    response={200: UsageOut, **errors(*READ, 404)},
    by_alias=True,
    summary="A key's usage over time",
    description="Requests, tokens and cost per hour or per day, optionally per model. "
    "Default span: the last 24 hours (hour) or 30 days (day).",
)
def key_usage(
    request: HttpRequest,
    key_id: UUID,
    from_: UtcDatetime | None = Query(None, alias="from", description="Start, inclusive."),
    to: UtcDatetime | None = Query(None, description="End, exclusive. Default: now."),
    granularity: Literal["hour", "day"] = Query("day"),
    by_model: bool = Query(False),
):
    key = selectors.key_for(_membership(request), key_id)
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

RequestId = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00]+$")]


class RequestOut(Schema):
    request_id: str
    key: UUID
    key_name: str
    key_preview: str
    key_status: KeyStatus
    team: UUID | None
    model: str
    input_tokens: int
    output_tokens: int
    cost: str = Field(description="USD as a decimal string, to the micro-unit.")
    status_code: int
    latency_ms: int | None
    occurred_at: datetime
    received_at: datetime


def request_out(event: UsageEvent) -> dict:
    return {
        "request_id": event.request_id,
        "key": event.key_id,
        "key_name": event.key.name,
        "key_preview": event.key.preview,
        "key_status": event.key.effective_status,
        "team": event.team_id,
        "model": event.model,
        "input_tokens": event.input_tokens,
        "output_tokens": event.output_tokens,
        "cost": str(micros_to_money(event.cost_micros)),
        "status_code": event.status_code,
        "latency_ms": event.latency_ms,
        "occurred_at": event.occurred_at,
        "received_at": event.received_at,
    }


@requests_router.get(
    "/requests/{request_id}",
    response={200: RequestOut, **errors(*READ, 404)},
    summary="One request, by the gateway's request id",
    description="Also for requests of keys that have since been deleted.",
)
def get_request(request: HttpRequest, request_id: RequestId):
    return request_out(usage_event_for(_membership(request), request_id))
