"""The gateway's two endpoints in the console's OpenAPI document (docs/contract.md sections 2 and
3). authorize and usage are plain Django views, kept off django-ninja's request handling for
speed; this module describes them from the same models and the one table of denial codes
(`DENIALS`), and `AdminAPI.get_openapi_schema` adds them to the document."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from gateway_console.api_schemas import ErrorOut


class Denial(BaseModel):
    status: int
    code: str
    when: str


# authorize's answers other than 200, in the order its checks run (the first that fails
# answers). tests/gateway/test_openapi_gateway.py holds the code to this table.
DENIALS: list[Denial] = [
    Denial(
        status=403,
        code="gateway_unauthorized",
        when="The gateway's own X-Gateway-Token is missing or wrong.",
    ),
    Denial(
        status=401,
        code="invalid_api_key",
        when="No key, a malformed key, a bad checksum (no database query), an unknown or a deleted key.",
    ),
    Denial(
        status=403,
        code="ip_not_allowed",
        when="The key has an IP allowlist and the gateway's client address (X-Forwarded-For, GATEWAY_PROXY_COUNT) is not in it, or cannot be told. The answer names no allowed range.",
    ),
    Denial(status=401, code="api_key_disabled", when="The key is disabled."),
    Denial(status=401, code="api_key_expired", when="The key is past its expiration."),
    Denial(
        status=403,
        code="usage_reports_required",
        when="The key or its team has a limit of tokens per minute or of requests in flight, and the gateway does not say (X-Gateway-Reports-Usage) that it reports usage: those limits are kept from authorize to the usage event.",
    ),
    Denial(
        status=403,
        code="model_not_allowed",
        when="The model is outside the key's scope or the org's plan, or has no price.",
    ),
    Denial(
        status=403,
        code="model_required",
        when="The console cannot tell the model, and the key's scope or the plan's model list needs it, or the key has budgets per model, or (for a gateway that reports usage) a key or team cap, tokens per minute or requests in flight need it to hold the request's cost and tokens.",
    ),
    Denial(
        status=402,
        code="billing_shortfall",
        when="The org's wallet is at or below zero, or cannot cover the request's hold.",
    ),
    Denial(
        status=402,
        code="api_key_quota_exceeded",
        when="The key's monthly spend cap or cost limit for this period is reached (or this request's hold would pass it); `reset_at` says when it restarts.",
    ),
    Denial(
        status=402,
        code="model_budget_exceeded",
        when="The key's budget for the model asked for is reached this period (or this request's hold would pass it); with `reset_at`.",
    ),
    Denial(
        status=402,
        code="team_quota_exceeded",
        when="The team's spend cap for this period is reached (or this request's hold would pass it); with `reset_at`.",
    ),
    Denial(
        status=429,
        code="token_limit_exceeded",
        when="The key's or team's token limit for this period is reached; with `reset_at`.",
    ),
    Denial(
        status=429,
        code="rate_limit_exceeded",
        when="The key's or team's requests in the last 60 s are at the limit; with `reset_at` and `Retry-After`.",
    ),
    Denial(
        status=429,
        code="token_rate_limit_exceeded",
        when="The key's or team's tokens in the last 60 s (reported, plus the worst case of the requests still running) are at its tokens per minute; with `reset_at` and `Retry-After`.",
    ),
    Denial(
        status=429,
        code="in_flight_limit_exceeded",
        when="The key's or team's requests between authorize and their usage event are at its limit; with `reset_at` and `Retry-After: 1`.",
    ),
    Denial(
        status=503,
        code="console_unavailable",
        when="The console cannot reach its database; never an allow. With `Retry-After`.",
    ),
]


class AuthorizedKey(BaseModel):
    id: str
    name: str
    team: str | None
    user_id: str | None


class AuthorizedPlan(BaseModel):
    name: str
    price_multiplier: str = Field(description='A decimal string, e.g. `"1.20"`.')


class SpendLimit(BaseModel):
    limit: str
    used: str
    period_end: datetime | None


class TokenLimit(BaseModel):
    limit: int
    used: int
    period_end: datetime | None


class RateLimit(BaseModel):
    limit: int
    remaining: int
    reset_at: datetime | None


class AuthorizedLimits(BaseModel):
    spend: SpendLimit | None
    tokens: TokenLimit | None
    rpm: RateLimit | None


class Authorized(BaseModel):
    allowed: Literal[True]
    request_id: str = Field(
        description="The console's id of this request (`req_` + 32 hex digits), also in "
        "X-Gateway-Request-Id: the one id its hold and usage event go by."
    )
    key: AuthorizedKey
    org: str
    profile: str | None = Field(description="The routing profile of a profile key.")
    plan: AuthorizedPlan
    model: str | None = Field(description="The model the console checked; null: not known.")
    limits: AuthorizedLimits


class UsageEvent(BaseModel):
    request_id: str = Field(
        pattern=r"^[A-Za-z0-9._:-]{1,100}$",
        description="The id authorize gave the request (X-Gateway-Request-Id): it settles that "
        "request's hold. Usage is idempotent by it.",
    )
    key_id: str = Field(description="The key's id, as authorize answered it (X-Key-Id).")
    model: str = Field(description="A priced model: the one authorize checked.")
    input_tokens: int = Field(ge=0, le=10**10)
    output_tokens: int = Field(ge=0, le=10**10)
    status_code: int = Field(
        ge=100, le=599, description="The provider's answer (499: client left)."
    )
    latency_ms: int | None = Field(default=None, ge=0, le=86_400_000)
    occurred_at: datetime = Field(description="With its time zone; at most 5 minutes ahead.")


class UsageBatch(BaseModel):
    events: list[UsageEvent] = Field(min_length=1, max_length=1000)


class UsageEventError(BaseModel):
    code: Literal["invalid_usage_event"]
    field: str = Field(description="The event's field at fault.")
    message: str


class UsageOutcome(BaseModel):
    index: int | None = Field(default=None, description="Batches: the event's place in it.")
    request_id: str | None
    status: Literal["recorded", "duplicate", "rejected"]
    cost: str | None = Field(default=None, description="USD, to the micro-unit, when recorded.")
    error: UsageEventError | None = Field(default=None, description="Why it was rejected.")


class UsageBatchResult(BaseModel):
    recorded: int
    duplicates: int
    rejected: int
    results: list[UsageOutcome]


_MODELS = (ErrorOut, Authorized, UsageEvent, UsageBatch, UsageOutcome, UsageBatchResult)
_REF = "#/components/schemas/{model}"


def _ref(model: type[BaseModel]) -> dict:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str, headers: dict | None = None) -> dict:
    answer = {"description": description, "content": {"application/json": {"schema": _ref(model)}}}
    if headers:
        answer["headers"] = headers
    return answer


def _denials(status: int) -> str:
    return " ".join(f"`{d.code}`: {d.when}" for d in DENIALS if d.status == status)


def _header(name: str, description: str) -> dict:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": description,
    }


_ALLOWED_HEADERS = {
    name: {"description": text, "schema": {"type": "string"}}
    for name, text in (
        ("X-Gateway-Request-Id", "The console's id of this request."),
        ("X-Gateway-Model", "The model checked; empty when not known."),
        ("X-Key-Id", "The key's id."),
        ("X-Team-Id", "The key's team; empty: none."),
        ("X-User-Id", "The key's user ID; may be empty."),
        ("X-Gateway-Profile", "A profile key's routing profile; may be empty."),
        ("X-RateLimit-Limit", "Requests per minute of the tightest window; empty: none."),
        ("X-RateLimit-Remaining", "Requests left in it."),
        ("X-RateLimit-Reset", "When it frees a slot."),
    )
}

_AUTHORIZE = {
    "operationId": "gateway_authorize",
    "tags": ["gateway"],
    "summary": "May this request pass? (the gateway, per client request)",
    "description": (
        "Called by a forward-auth gateway (Traefik ForwardAuth, Caddy forward_auth, Envoy "
        "ext_authz) with the client's headers and, where the gateway forwards it, the body. "
        "Any HTTP method is accepted: gateways send the client's own, often GET. The key is "
        "read from `Authorization: Bearer`, `X-Api-Key`, `x-goog-api-key` or `?key=` (here, or "
        "in X-Forwarded-Uri, X-Original-URI or X-Envoy-Original-Path), first match wins. The "
        "model: the body's `model`, else X-Gateway-Model, else a Gemini path "
        "`…/models/<model>:generateContent`. With `X-Gateway-Reports-Usage: true` and a known "
        "model the request's worst-case cost is held until its usage event (or HOLD_TTL). A "
        "client's X-Request-Id and token counts are never read."
    ),
    "security": [{"GatewayToken": []}],
    "parameters": [
        _header("Authorization", "`Bearer <key>` (OpenAI SDKs)."),
        _header("X-Api-Key", "The key (Anthropic SDKs)."),
        _header("x-goog-api-key", "The key (Gemini clients)."),
        {
            "name": "key",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "The key (Gemini clients); better in X-Forwarded-Uri, off the request line.",
        },
        _header(
            "X-Forwarded-Uri",
            "The client's URI: its query's `key=` and a Gemini path's model are read.",
        ),
        _header(
            "X-Gateway-Model",
            "The model, when the gateway's configuration names it and the body does not.",
        ),
        _header(
            "X-Gateway-Reports-Usage",
            "`true` when this gateway posts a usage event for every allowed request: then the cost is held.",
        ),
    ],
    "requestBody": {
        "required": False,
        "description": "The client's own body, as the gateway forwards it (at most GATEWAY_MAX_BODY_BYTES are read): `model`, `max_tokens` and the prompt's size are read from it.",
        "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": True}}
        },
    },
    "responses": {
        "200": _json(
            Authorized,
            "Allowed. The same facts as headers, for the gateway to pass upstream.",
            _ALLOWED_HEADERS,
        ),
        **{
            str(status): _json(ErrorOut, _denials(status))
            for status in sorted({d.status for d in DENIALS})
        },
    },
}

_USAGE = {
    "operationId": "gateway_usage",
    "tags": ["gateway"],
    "summary": "Record what requests used (the gateway, after the provider answered)",
    "description": (
        'One event, or `{"events": [...]}` of up to 1,000, recorded in one transaction. Cost '
        "= the model's price per million tokens × the plan's multiplier, exact to a "
        "micro-dollar. Idempotent by (org, request_id): a repeat is answered as a duplicate and "
        "counts nothing, so a gateway may retry freely. Each event settles its request's hold."
    ),
    "security": [{"GatewayToken": []}],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"oneOf": [_ref(UsageEvent), _ref(UsageBatch)]}}
        },
    },
    "responses": {
        "201": _json(UsageOutcome, "One event, recorded (with its cost)."),
        "200": {
            "description": "One event that was a duplicate, or a batch with at least one good event (each bad one is listed with its field and reason).",
            "content": {
                "application/json": {
                    "schema": {"oneOf": [_ref(UsageOutcome), _ref(UsageBatchResult)]}
                }
            },
        },
        "400": _json(ErrorOut, "`invalid_json`: the body is not JSON."),
        "403": _json(ErrorOut, "`gateway_unauthorized`: the gateway's token is missing or wrong."),
        "413": _json(ErrorOut, "`batch_too_large`: the body is too large."),
        "422": {
            "description": "`invalid_usage_event` (one event, with its `field`) or `batch_too_large`; a batch whose every event was refused answers its results.",
            "content": {
                "application/json": {"schema": {"oneOf": [_ref(ErrorOut), _ref(UsageBatchResult)]}}
            },
        },
        "503": _json(
            ErrorOut, "`console_unavailable`: nothing was recorded; retry the same events."
        ),
    },
}


def add_gateway_paths(schema: dict) -> dict:
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for model in _MODELS:
        definition = model.model_json_schema(ref_template=_REF)
        for name, nested in definition.pop("$defs", {}).items():
            schemas.setdefault(name, nested)
        schemas[model.__name__] = definition
    components.setdefault("securitySchemes", {})["GatewayToken"] = {
        "type": "apiKey",
        "in": "header",
        "name": "X-Gateway-Token",
        "description": "One of the console's GATEWAY_TOKENS: the gateway's, never a client's.",
    }
    schema["paths"]["/api/v1/gateway/authorize"] = {"post": _AUTHORIZE}
    schema["paths"]["/api/v1/gateway/usage"] = {"post": _USAGE}
    return schema
