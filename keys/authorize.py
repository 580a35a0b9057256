"""The gateway's hot path: may this request pass? (docs/contract.md section 2)

One indexed query reads the key with everything the checks need; no model instances, no audit.
Checks run in the contract's order and the first that fails answers. Nothing here is cached, so
a disabled, deleted or rotated key is refused from the very next request.
"""

import json
import logging
import re
import uuid
import weakref
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from billing.dbvalues import as_decimal, as_list, as_time, as_uuid, db_id, db_time
from billing.limits import holds, ratelimit
from billing.limits.holds import CounterUse
from billing.limits.periods import LimitPeriod, period_bounds
from billing.money import micros_to_money, money_to_micros
from billing.usage import traffic
from gateway_console import secret
from gateway_console.contract import ContractError, check_gateway_token

logger = logging.getLogger(__name__)

_ORIGINAL_URI_HEADERS = ("X-Forwarded-Uri", "X-Original-URI", "X-Envoy-Original-Path")
_GEMINI_MODEL = re.compile(r"/models/([A-Za-z0-9._@+-]{1,100}):[A-Za-z]+")
_MAX_TOKEN_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
REPORTS_USAGE_HEADER = "X-Gateway-Reports-Usage"
_TRUE = frozenset({"1", "true", "yes", "on"})


# One query: the key (by its current or grace hash), its org, plan, wallet, team, counters, and
# the price of the model asked for, with whether the plan allows it. Every join is one index
# lookup; on PostgreSQL the statement is prepared (see _execute_key_query), since planning
# nine joins costs several times more than running them.
_KEY_QUERY = """
SELECT k.id, k.org_id, k.team_id, k.name, k.user_id, k.type, k.profile, k.status, k.expires_at,
       k.model_scope, k.monthly_spend_cap, k.cost_limit, k.token_limit, k.limit_period,
       k.rpm_limit, k.last_used_at,
       o.timezone, p.id, p.name, p.price_multiplier,
       w.balance_micros, w.held_micros,
       t.spend_cap, t.token_limit, t.limit_period, t.rpm_limit,
       km.period_end, km.spend_micros, km.held_micros,
       kl.period_end, kl.spend_micros, kl.tokens, kl.held_micros,
       tl.period_end, tl.spend_micros, tl.tokens, tl.held_micros,
       mp.id, mp.input_per_million, mp.output_per_million, mp.max_output_tokens,
       CASE WHEN p.id IS NULL THEN 1
            WHEN NOT EXISTS (SELECT 1 FROM billing_plan_models pm WHERE pm.plan_id = p.id) THEN 1
            WHEN EXISTS (SELECT 1 FROM billing_plan_models pm
                         WHERE pm.plan_id = p.id AND pm.modelprice_id = mp.id) THEN 1
            ELSE 0 END
FROM keys_key k
JOIN gateway_console_org o ON o.id = k.org_id
LEFT JOIN billing_plan p ON p.id = o.plan_id
LEFT JOIN billing_wallet w ON w.org_id = k.org_id
LEFT JOIN gateway_console_team t ON t.id = k.team_id
LEFT JOIN billing_counter km ON km.key_id = k.id AND km.kind = 'month'
LEFT JOIN billing_counter kl ON kl.key_id = k.id AND kl.kind = 'limit'
LEFT JOIN billing_counter tl ON tl.team_id = k.team_id AND tl.kind = 'limit'
LEFT JOIN billing_modelprice mp ON mp.model = %(model)s
WHERE k.secret_hash = %(hash)s OR (k.grace_secret_hash = %(hash)s AND k.grace_until > %(now)s)
"""


@dataclass
class KeyRow:
    id: uuid.UUID
    org_id: uuid.UUID
    team_id: uuid.UUID | None
    name: str
    user_id: str
    type: str
    profile: str
    status: str
    expires_at: datetime | None
    model_scope: list
    monthly_spend_cap: Decimal | None
    cost_limit: Decimal | None
    token_limit: int | None
    limit_period: str
    rpm_limit: int | None
    last_used_at: datetime | None
    org_timezone: str
    plan_id: int | None
    plan_name: str | None
    multiplier: Decimal
    wallet_balance: int
    wallet_held: int
    team_spend_cap: Decimal | None
    team_token_limit: int | None
    team_limit_period: str | None
    team_rpm_limit: int | None
    key_month: CounterUse
    key_limit: CounterUse
    team_limit: CounterUse
    model_price_id: int | None
    input_per_million: Decimal | None
    output_per_million: Decimal | None
    max_output_tokens: int | None
    plan_allows_model: bool


# On PostgreSQL the key query runs as a prepared statement with a generic plan, prepared once
# per connection.
_PREPARED_NAME = "gc_authorize_key"
_prepared_on: "weakref.WeakSet" = weakref.WeakSet()


def _prepared_sql() -> str:
    body = _KEY_QUERY.replace("%(model)s", "$1").replace("%(hash)s", "$2").replace("%(now)s", "$3")
    return f"PREPARE {_PREPARED_NAME} (text, text, timestamptz) AS " + body.replace("%", "%%")


def _execute_key_query(cursor, key_hash: str, model: str | None, now: datetime) -> None:
    if connection.vendor != "postgresql" or not settings.DB_PREPARED_STATEMENTS:
        cursor.execute(_KEY_QUERY, {"model": model or "", "hash": key_hash, "now": db_time(now)})
        return
    raw = connection.connection
    if raw not in _prepared_on:
        # Only this statement is ever prepared (Django prepares none), so the session-wide
        # setting touches nothing else.
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        cursor.execute(_prepared_sql())
        _prepared_on.add(raw)
    cursor.execute(f"EXECUTE {_PREPARED_NAME} (%s, %s, %s)", [model or "", key_hash, now])


def _fetch(key_hash: str, model: str | None, now: datetime) -> KeyRow | None:
    with connection.cursor() as cursor:
        _execute_key_query(cursor, key_hash, model, now)
        rows = cursor.fetchall()
    if not rows:
        return None
    r = rows[0]
    return KeyRow(
        id=as_uuid(r[0]),
        org_id=as_uuid(r[1]),
        team_id=as_uuid(r[2]),
        name=r[3],
        user_id=r[4],
        type=r[5],
        profile=r[6],
        status=r[7],
        expires_at=as_time(r[8]),
        model_scope=as_list(r[9]),
        monthly_spend_cap=as_decimal(r[10]),
        cost_limit=as_decimal(r[11]),
        token_limit=r[12],
        limit_period=r[13],
        rpm_limit=r[14],
        last_used_at=as_time(r[15]),
        org_timezone=r[16],
        plan_id=r[17],
        plan_name=r[18],
        multiplier=as_decimal(r[19]) if r[19] is not None else Decimal(1),
        wallet_balance=r[20] or 0,
        wallet_held=r[21] or 0,
        team_spend_cap=as_decimal(r[22]),
        team_token_limit=r[23],
        team_limit_period=r[24],
        team_rpm_limit=r[25],
        key_month=CounterUse.of(r[26], r[27], 0, r[28], now),
        key_limit=CounterUse.of(r[29], r[30], r[31], r[32], now),
        team_limit=CounterUse.of(r[33], r[34], r[35], r[36], now),
        model_price_id=r[37],
        input_per_million=as_decimal(r[38]),
        output_per_million=as_decimal(r[39]),
        max_output_tokens=r[40],
        plan_allows_model=bool(r[41]),
    )


@dataclass
class GatewayRequest:
    """What authorize reads from the forwarded client request."""

    key: str | None
    model: str | None
    # The gateway's configuration says that it posts a usage event for every allowed request
    # (X-Gateway-Reports-Usage): only then is a hold placed, since a hold that nothing settles
    # would sit on the caps until HOLD_TTL.
    reports_usage: bool
    body: dict
    body_bytes: int


def _original_query(request: HttpRequest) -> dict[str, list[str]]:
    for header in _ORIGINAL_URI_HEADERS:
        value = request.headers.get(header)
        if value:
            return parse_qs(urlsplit(value).query)
    return {}


def _original_path(request: HttpRequest) -> str:
    for header in _ORIGINAL_URI_HEADERS:
        value = request.headers.get(header)
        if value:
            return urlsplit(value).path
    return ""


def _client_key(request: HttpRequest) -> str | None:
    # docs/contract.md section 2: first match wins, in the order clients send keys.
    authorization = request.headers.get("Authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    for header in ("X-Api-Key", "x-goog-api-key"):
        value = request.headers.get(header)
        if value:
            return value.strip()
    if "key" in request.GET:
        return request.GET["key"].strip()
    original = _original_query(request).get("key")
    return original[0].strip() if original else None


def _strings_length(value) -> int:
    """Bytes of every string in a JSON document: an upper bound of its prompt's tokens."""
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, dict):
        return sum(_strings_length(v) for k, v in value.items() if k != "model")
    if isinstance(value, list):
        return sum(_strings_length(v) for v in value)
    return 0


def _positive_int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    # isdigit() alone also accepts digits such as "²" that int() refuses.
    if isinstance(value, str) and value.isascii() and value.isdigit() and int(value) > 0:
        return int(value)
    return None


def _read_body(request: HttpRequest) -> tuple[bytes, int]:
    """The forwarded body, if it is no longer than GATEWAY_MAX_BODY_BYTES, and its length.
    A longer body is not read (its declared length still bounds the prompt)."""
    limit = settings.GATEWAY_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or -1)
    except ValueError:
        declared = -1
    if declared > limit:
        return b"", declared
    if declared >= 0:
        raw = request.read(limit + 1)
    elif request.META.get("wsgi.input_terminated"):
        # A chunked body (no Content-Length): the server marks its input as ending with the
        # body (gunicorn does), so reading to its end is safe.
        raw = request.META["wsgi.input"].read(limit + 1)
    else:
        return b"", 0
    if len(raw) > limit:
        return b"", len(raw)
    return raw, len(raw)


def read_gateway_request(request: HttpRequest) -> GatewayRequest:
    raw, body_bytes = _read_body(request)
    body: dict = {}
    if raw[:1] in (b"{", b" ", b"\n", b"\r", b"\t"):
        try:
            parsed = json.loads(raw)
            body = parsed if isinstance(parsed, dict) else {}
        except (ValueError, UnicodeDecodeError, RecursionError):
            body = {}
    model = body.get("model") if isinstance(body.get("model"), str) else None
    # The body is what the provider will act on, so it wins over a header; the header is for
    # gateways that name the model in their own configuration.
    model = model or request.headers.get("X-Gateway-Model") or None
    if not model:
        found = _GEMINI_MODEL.search(_original_path(request) or request.path)
        model = found.group(1) if found else None
    reports_usage = request.headers.get(REPORTS_USAGE_HEADER, "").strip().lower() in _TRUE
    return GatewayRequest(_client_key(request), model, reports_usage, body, body_bytes)


def hold_inputs(asked: GatewayRequest) -> tuple[int, int | None]:
    """The worst case of a request: input tokens bounded by the bytes of its prompt's text,
    and the output limit it asks for (None: the model's longest answer)."""
    body = asked.body
    input_tokens = _strings_length(body) if body else asked.body_bytes
    for field in _MAX_TOKEN_FIELDS:
        max_output = _positive_int(body.get(field))
        if max_output:
            return input_tokens, max_output
    config = body.get("generationConfig")
    if isinstance(config, dict):
        return input_tokens, _positive_int(config.get("maxOutputTokens"))
    return input_tokens, None


def new_request_id() -> str:
    """The console names every allowed request: holds and usage events use this id, never one
    that a client sent (docs/contract.md section 2)."""
    return f"req_{uuid.uuid4().hex}"


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def _invalid_key() -> ContractError:
    return ContractError(
        "invalid_api_key",
        401,
        "The API key is missing, malformed or not valid. Check that you send the whole key as "
        "'Authorization: Bearer <key>' or 'X-Api-Key: <key>'.",
    )


def _check_key(row: KeyRow | None, now: datetime) -> KeyRow:
    if row is None or row.status == "deleted":
        raise _invalid_key()
    if row.status == "disabled":
        raise ContractError(
            "api_key_disabled",
            401,
            "This API key is disabled. Ask an admin of your organisation to enable it.",
        )
    if row.expires_at is not None and row.expires_at <= now:
        raise ContractError(
            "api_key_expired",
            401,
            f"This API key expired at {_iso(row.expires_at)}. Ask an admin for a new key.",
        )
    return row


def _model_required(why: str) -> ContractError:
    return ContractError(
        "model_required",
        403,
        f"The console could not tell which model this request is for, and {why}. Name the "
        'model in the request body\'s "model" field, and call through a gateway that '
        "forwards the body to the console.",
    )


def _has_cap(row: KeyRow) -> bool:
    return any(
        limit is not None
        for limit in (
            row.monthly_spend_cap,
            row.cost_limit,
            row.token_limit,
            row.team_spend_cap,
            row.team_token_limit,
        )
    )


def _check_model(row: KeyRow, model: str | None, *, reports_usage: bool) -> None:
    if model is None:
        # Never allow what cannot be checked: a model scope (the key's or the plan's) needs
        # the model, and so does the hold that keeps a reported request within its caps.
        if row.model_scope:
            raise _model_required("this API key may only call certain models")
        if not row.plan_allows_model:
            raise _model_required("your organisation's plan covers only certain models")
        if reports_usage and _has_cap(row):
            raise _model_required(
                "this API key has spending or token caps, which need the model to reserve "
                "the request's cost"
            )
        return
    if row.model_scope and model not in row.model_scope:
        raise ContractError(
            "model_not_allowed",
            403,
            f"This API key may not call the model '{model}'. It may call: {', '.join(row.model_scope)}.",
        )
    if row.model_price_id is None:
        raise ContractError(
            "model_not_allowed",
            403,
            f"The model '{model}' is not available: it has no price in this console.",
        )
    if not row.plan_allows_model:
        raise ContractError(
            "model_not_allowed",
            403,
            f"The model '{model}' is not part of your organisation's plan ({row.plan_name}).",
        )


def _quota(code: str, message: str, reset_at: datetime | None) -> ContractError:
    return ContractError(code, 402, message, reset_at=reset_at)


def _check_money_and_tokens(row: KeyRow) -> None:
    if row.wallet_balance - row.wallet_held <= 0:
        raise ContractError(
            "billing_shortfall", 402, "Your organisation's wallet is empty. Top it up to continue."
        )
    for cap, usage, what in (
        (row.monthly_spend_cap, row.key_month, "monthly spend cap"),
        (row.cost_limit, row.key_limit, "cost limit"),
    ):
        if cap is not None and usage.spend_micros + usage.held_micros >= money_to_micros(cap):
            raise _quota(
                "api_key_quota_exceeded",
                f"This API key has reached its {what} of ${cap:.2f} for this period.",
                usage.period_end,
            )
    if row.team_spend_cap is not None and (
        row.team_limit.spend_micros + row.team_limit.held_micros
        >= money_to_micros(row.team_spend_cap)
    ):
        raise _quota(
            "team_quota_exceeded",
            f"Your team has reached its spend cap of ${row.team_spend_cap:.2f} for this period.",
            row.team_limit.period_end,
        )
    if row.token_limit is not None and row.key_limit.tokens >= row.token_limit:
        raise ContractError(
            "token_limit_exceeded",
            429,
            f"This API key has used its {row.token_limit} tokens for this period.",
            reset_at=row.key_limit.period_end,
        )
    if row.team_token_limit is not None and row.team_limit.tokens >= row.team_token_limit:
        raise ContractError(
            "token_limit_exceeded",
            429,
            f"Your team has used its {row.team_token_limit} tokens for this period.",
            reset_at=row.team_limit.period_end,
        )


def _rate_windows(row: KeyRow) -> list[tuple[str, int]]:
    windows = []
    if row.rpm_limit:
        windows.append((f"key:{row.id}", row.rpm_limit))
    if row.team_rpm_limit and row.team_id:
        windows.append((f"team:{row.team_id}", row.team_rpm_limit))
    return windows


def _touch_last_used(row: KeyRow, now: datetime) -> None:
    # At most one write per key per minute: skipped when the stored value is recent enough, and
    # conditional, so that concurrent requests cannot write twice.
    precision = timedelta(seconds=settings.LAST_USED_PRECISION)
    if row.last_used_at is not None and row.last_used_at > now - precision:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE keys_key SET last_used_at = %s WHERE id = %s AND (last_used_at IS NULL OR last_used_at <= %s)",
            [db_time(now), db_id(row.id), db_time(now - precision)],
        )


def _multiplier(value: Decimal) -> str:
    """`1.20`, and every digit of a finer multiplier (`1.125`)."""
    exact = value.normalize()
    return f"{value:.2f}" if -exact.as_tuple().exponent <= 2 else f"{exact:f}"


def _period_end(usage: CounterUse, period: str, row: KeyRow, now: datetime) -> datetime | None:
    if usage.exists and (usage.period_end is None or usage.period_end > now):
        return usage.period_end
    # No usage yet in this period (or the reset job has not run): the period it would be in.
    return period_bounds(period, now, row.org_timezone)[1]


def _allowed(
    row: KeyRow,
    model: str | None,
    request_id: str,
    decision: ratelimit.RateDecision,
    now: datetime,
) -> HttpResponse:
    spend_cap, spend_usage, spend_period = (
        (row.monthly_spend_cap, row.key_month, LimitPeriod.MONTHLY)
        if row.monthly_spend_cap is not None
        else (row.cost_limit, row.key_limit, row.limit_period)
    )
    body = {
        "allowed": True,
        "request_id": request_id,
        "key": {
            "id": str(row.id),
            "name": row.name,
            "team": str(row.team_id) if row.team_id else None,
            "user_id": row.user_id or None,
        },
        "org": str(row.org_id),
        "profile": row.profile or None,
        "plan": {
            "name": row.plan_name or "default",
            "price_multiplier": _multiplier(row.multiplier),
        },
        "model": model,
        "limits": {
            "spend": None
            if spend_cap is None
            else {
                "limit": f"{spend_cap:.2f}",
                "used": f"{micros_to_money(spend_usage.spend_micros):.2f}",
                "period_end": _iso(_period_end(spend_usage, spend_period, row, now)),
            },
            "tokens": None
            if row.token_limit is None
            else {
                "limit": row.token_limit,
                "used": row.key_limit.tokens,
                "period_end": _iso(_period_end(row.key_limit, row.limit_period, row, now)),
            },
            "rpm": None
            if decision.limit is None
            else {
                "limit": decision.limit,
                "remaining": decision.remaining,
                "reset_at": _iso(decision.reset_at),
            },
        },
    }
    response = HttpResponse(
        json.dumps(body, separators=(",", ":")), content_type="application/json"
    )
    # Every header is always present (empty when it does not apply): forward-auth proxies that
    # copy a fixed list of headers must not find one missing (Caddy 2.6 would pass on its
    # unreplaced placeholder).
    response["X-Gateway-Request-Id"] = request_id
    response["X-Gateway-Model"] = model or ""
    response["X-Key-Id"] = str(row.id)
    response["X-Team-Id"] = str(row.team_id) if row.team_id else ""
    response["X-User-Id"] = row.user_id
    response["X-Gateway-Profile"] = row.profile
    response["X-RateLimit-Limit"] = str(decision.limit) if decision.limit is not None else ""
    response["X-RateLimit-Remaining"] = (
        str(decision.remaining) if decision.limit is not None else ""
    )
    response["X-RateLimit-Reset"] = (
        (_iso(decision.reset_at) or "") if decision.limit is not None else ""
    )
    return response


def authorize(request: HttpRequest, *, now: datetime | None = None) -> HttpResponse:
    now = now or datetime.now(UTC)
    check_gateway_token(request)
    asked = read_gateway_request(request)
    # A malformed key or a bad checksum is refused before any database query.
    if not asked.key or not secret.is_well_formed(asked.key):
        raise _invalid_key()
    row = _fetch(secret.secret_hash(asked.key), asked.model, now)
    try:
        response = _decide(row, asked, now)
    except ContractError as refused:
        traffic.count_decision(row.org_id if row else None, refused.code)
        raise
    traffic.count_decision(row.org_id, traffic.ALLOWED if asked.model else traffic.ALLOWED_NO_MODEL)
    return response


def _hold_scope(row: KeyRow) -> holds.HoldScope:
    """What a hold needs of the key, in plain values: its price, and every counter it reserves
    on with that counter's cap (key month, key limit, team limit: the lock order)."""
    caps = [
        holds.Cap(
            "key_id",
            row.id,
            "month",
            LimitPeriod.MONTHLY,
            row.monthly_spend_cap,
            row.key_month,
            "api_key_quota_exceeded",
            "This request could take this API key past its monthly spend cap.",
        ),
        holds.Cap(
            "key_id",
            row.id,
            "limit",
            row.limit_period,
            row.cost_limit,
            row.key_limit,
            "api_key_quota_exceeded",
            "This request could take this API key past its cost limit for this period.",
        ),
    ]
    if row.team_id is not None:
        caps.append(
            holds.Cap(
                "team_id",
                row.team_id,
                "limit",
                row.team_limit_period,
                row.team_spend_cap,
                row.team_limit,
                "team_quota_exceeded",
                "This request could take your team past its spend cap for this period.",
            )
        )
    return holds.HoldScope(
        org_id=row.org_id,
        key_id=row.id,
        team_id=row.team_id,
        tz=row.org_timezone,
        wallet_balance=row.wallet_balance,
        wallet_held=row.wallet_held,
        price=holds.Price(
            row.input_per_million, row.output_per_million, row.max_output_tokens, row.multiplier
        ),
        caps=tuple(caps),
    )


def _decide(row: KeyRow | None, asked: GatewayRequest, now: datetime) -> HttpResponse:
    row = _check_key(row, now)
    _check_model(row, asked.model, reports_usage=asked.reports_usage)
    _check_money_and_tokens(row)

    request_id = new_request_id()
    holding = asked.reports_usage and asked.model is not None
    # A transaction only around a hold: without one there is nothing to roll back, and an empty
    # BEGIN ... COMMIT costs round trips (on SQLite, BEGIN IMMEDIATE takes the write lock).
    with transaction.atomic() if holding else nullcontext():
        if holding:
            input_tokens, max_output_tokens = hold_inputs(asked)
            holds.place(
                scope=_hold_scope(row),
                request_id=request_id,
                input_tokens=input_tokens,
                max_output_tokens=max_output_tokens,
                now=now,
            )
        decision = ratelimit.hit(_rate_windows(row))
        if not decision.allowed:
            # Raising rolls the hold back: a refused request reserves nothing.
            raise ContractError(
                "rate_limit_exceeded",
                429,
                f"Too many requests: the limit is {decision.limit} per minute. Retry after {decision.retry_after} s.",
                reset_at=decision.reset_at,
                headers={"Retry-After": str(decision.retry_after)},
            )
    _touch_last_used(row, now)
    return _allowed(row, asked.model, request_id, decision, now)


@csrf_exempt
def authorize_view(request: HttpRequest) -> HttpResponse:
    """POST (or any method) /api/v1/gateway/authorize."""
    try:
        return authorize(request)
    except ContractError as error:
        return error.response()
    except (OperationalError, InterfaceError) as error:
        # The database is down or unreachable: never an allow, never a 500 page.
        logger.error("authorize: database unavailable: %s", type(error).__name__)
        return ContractError(
            "console_unavailable",
            503,
            "The key service is briefly unavailable. Retry in a few seconds.",
            headers={"Retry-After": "5"},
        ).response()
    except DatabaseError:
        logger.exception("authorize: database error")
        return ContractError(
            "console_unavailable",
            503,
            "The key service could not check this key. Retry in a few seconds.",
            headers={"Retry-After": "5"},
        ).response()
