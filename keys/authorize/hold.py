"""Step 4 of authorize: reserve what the request may cost (a hold, when the gateway reports
usage) and count it against the rate limits, both or neither."""

from contextlib import nullcontext
from datetime import datetime

from django.db import transaction

from billing.limits import holds, ratelimit
from billing.limits.periods import LimitPeriod
from gateway_console.contract import ContractError
from keys.authorize.lookup import KeyRow
from keys.authorize.request import GatewayRequest, hold_inputs


def reserve(
    row: KeyRow, asked: GatewayRequest, request_id: str, now: datetime
) -> ratelimit.RateDecision:
    """Places the hold and takes a place in the rate windows. A refusal by either rolls the
    hold back: a refused request reserves nothing."""
    holding = asked.reports_usage and asked.model is not None
    # A transaction only around a hold: without one there is nothing to roll back, and an empty
    # BEGIN ... COMMIT costs round trips (on SQLite, BEGIN IMMEDIATE takes the write lock).
    with transaction.atomic() if holding else nullcontext():
        if holding:
            input_tokens, max_output_tokens = hold_inputs(asked)
            holds.place(
                scope=hold_scope(row),
                request_id=request_id,
                input_tokens=input_tokens,
                max_output_tokens=max_output_tokens,
                now=now,
            )
        decision = ratelimit.hit(rate_windows(row))
        if not decision.allowed:
            raise ContractError(
                "rate_limit_exceeded",
                429,
                f"Too many requests: the limit is {decision.limit} per minute. Retry after {decision.retry_after} s.",
                reset_at=decision.reset_at,
                headers={"Retry-After": str(decision.retry_after)},
            )
    return decision


def hold_scope(row: KeyRow) -> holds.HoldScope:
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
        price=holds.Price(
            row.input_per_million, row.output_per_million, row.max_output_tokens, row.multiplier
        ),
        caps=tuple(caps),
    )


def rate_windows(row: KeyRow) -> list[tuple[str, int]]:
    windows = []
    if row.rpm_limit:
        windows.append((f"key:{row.id}", row.rpm_limit))
    if row.team_rpm_limit and row.team_id:
        windows.append((f"team:{row.team_id}", row.team_rpm_limit))
    return windows
