"""Step 5 of authorize: the answer to an allowed request. The body says what the key may still
spend; the headers carry what the gateway passes on (docs/contract.md section 2)."""

import json
import uuid
from datetime import datetime
from decimal import Decimal

from django.http import HttpResponse

from billing.limits import ratelimit
from billing.limits.periods import LimitPeriod
from billing.money import micros_to_money
from gateway_console.contract import iso_utc
from keys.authorize.lookup import KeyRow


def new_request_id() -> str:
    """The console names every allowed request: holds and usage events use this id, never one
    that a client sent (docs/contract.md section 2)."""
    return f"req_{uuid.uuid4().hex}"


def _multiplier(value: Decimal) -> str:
    """`1.20`, and every digit of a finer multiplier (`1.125`)."""
    exact = value.normalize()
    return f"{value:.2f}" if -exact.as_tuple().exponent <= 2 else f"{exact:f}"


def allowed(
    row: KeyRow,
    model: str | None,
    request_id: str,
    decision: ratelimit.RateDecision,
    now: datetime,
) -> HttpResponse:
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
        "limits": _limits(row, decision, now),
    }
    response = HttpResponse(
        json.dumps(body, separators=(",", ":")), content_type="application/json"
    )
    for name, value in _headers(row, model, request_id, decision).items():
        response[name] = value
    return response


def _limits(row: KeyRow, decision: ratelimit.RateDecision, now: datetime) -> dict:
    """What the key may still use: its spend cap (monthly, else its cost limit), its tokens and
    its requests per minute, each None when the key has no such limit."""
    spend_cap, spend_usage, spend_period = (
        (row.monthly_spend_cap, row.key_month, LimitPeriod.MONTHLY)
        if row.monthly_spend_cap is not None
        else (row.cost_limit, row.key_limit, row.limit_period)
    )
    return {
        "spend": None
        if spend_cap is None
        else {
            "limit": f"{spend_cap:.2f}",
            "used": f"{micros_to_money(spend_usage.spend_micros):.2f}",
            "period_end": iso_utc(
                spend_usage.current_period_end(spend_period, row.org_timezone, now)
            ),
        },
        "tokens": None
        if row.token_limit is None
        else {
            "limit": row.token_limit,
            "used": row.key_limit.tokens,
            "period_end": iso_utc(
                row.key_limit.current_period_end(row.limit_period, row.org_timezone, now)
            ),
        },
        "rpm": None
        if decision.limit is None
        else {
            "limit": decision.limit,
            "remaining": decision.remaining,
            "reset_at": iso_utc(decision.reset_at),
        },
    }


def _headers(
    row: KeyRow, model: str | None, request_id: str, decision: ratelimit.RateDecision
) -> dict[str, str]:
    """Every header is always present (empty when it does not apply): forward-auth proxies that
    copy a fixed list of headers must not find one missing (Caddy 2.6 would pass on its
    unreplaced placeholder)."""
    limited = decision.limit is not None
    return {
        "X-Gateway-Request-Id": request_id,
        "X-Gateway-Model": model or "",
        "X-Key-Id": str(row.id),
        "X-Team-Id": str(row.team_id) if row.team_id else "",
        "X-User-Id": row.user_id,
        "X-Gateway-Profile": row.profile,
        "X-RateLimit-Limit": str(decision.limit) if limited else "",
        "X-RateLimit-Remaining": str(decision.remaining) if limited else "",
        "X-RateLimit-Reset": (iso_utc(decision.reset_at) or "") if limited else "",
    }
