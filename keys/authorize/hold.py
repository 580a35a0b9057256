"""Step 4 of authorize: reserve what the request may cost (a hold, when the gateway reports
usage) and count it against the rate limits, both or neither."""

from datetime import datetime

from django.conf import settings

from billing.limits import holds, ratelimit
from billing.limits.periods import LimitPeriod
from gateway_console.contract import ContractError
from keys.authorize.lookup import KeyRow
from keys.authorize.request import GatewayRequest, hold_inputs


def reserve(
    row: KeyRow, asked: GatewayRequest, request_id: str, now: datetime
) -> ratelimit.RateDecision:
    """Places the hold, then takes a place in the rate windows. A refusal by the rate limits
    takes the hold back at once: a refused request reserves nothing. (Redis decides after the
    hold has committed, so the database keeps no row locked while Redis answers.)"""
    flow = None
    placed = None  # the amount this call held, when it wrote a hold (0 for a free model)
    if asked.reports_usage and asked.model is not None:
        input_tokens, max_output_tokens = hold_inputs(asked)
        price = hold_price(row)
        tokens = min(
            input_tokens + holds.worst_output_tokens(price, max_output_tokens),
            ratelimit.MAX_TOKENS,
        )
        flow = flow_windows(row, request_id, tokens)
        placed = holds.place(
            scope=hold_scope(row, price, rate_limited=flow is not None),
            request_id=request_id,
            input_tokens=input_tokens,
            max_output_tokens=max_output_tokens,
            now=now,
        )
    try:
        decision = ratelimit.hit(rate_windows(row), flow=flow)
        if not decision.allowed:
            raise _refused(decision)
    except BaseException:
        if placed is not None:
            holds.take_back(org_id=row.org_id, request_id=request_id)
        raise
    return decision


def _refused(decision: ratelimit.RateDecision) -> ContractError:
    limit, wait, reset_at = decision.limit, decision.retry_after, decision.reset_at
    headers = {"Retry-After": str(wait)}
    if decision.kind == ratelimit.TOKENS:
        return ContractError(
            "token_rate_limit_exceeded",
            429,
            f"Too many tokens: the limit is {limit:,} tokens per minute, counting requests not "
            f"reported yet at their worst case. Retry after {wait} s.",
            reset_at=reset_at,
            headers=headers,
        )
    if decision.kind == ratelimit.IN_FLIGHT:
        return ContractError(
            "in_flight_limit_exceeded",
            429,
            f"Too many requests at once: the limit is {limit} in flight. Retry after {wait} s.",
            reset_at=reset_at,
            headers=headers,
        )
    return ContractError(
        "rate_limit_exceeded",
        429,
        f"Too many requests: the limit is {limit} per minute. Retry after {wait} s.",
        reset_at=reset_at,
        headers=headers,
    )


def hold_price(row: KeyRow) -> holds.Price:
    return holds.Price(
        row.input_per_million, row.output_per_million, row.max_output_tokens, row.multiplier
    )


def hold_scope(row: KeyRow, price: holds.Price, *, rate_limited: bool = False) -> holds.HoldScope:
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
    budget = row.model_budget
    return holds.HoldScope(
        model_budget=None
        if budget is None or row.model is None or row.model_use is None
        else holds.ModelBudget(row.model, budget, row.limit_period, row.model_use),
        org_id=row.org_id,
        key_id=row.id,
        team_id=row.team_id,
        tz=row.org_timezone,
        price=price,
        caps=tuple(caps),
        rate_limited=rate_limited,
    )


def flow_windows(row: KeyRow, request_id: str, tokens: int) -> ratelimit.Flow | None:
    """The request's tokens/min and in-flight windows, key before team; None without any."""
    owners = [(ratelimit.key_bucket(row.id), row.tpm_limit, row.max_in_flight)]
    if row.team_id is not None:
        owners.append(
            (ratelimit.team_bucket(row.team_id), row.team_tpm_limit, row.team_max_in_flight)
        )
    flow = ratelimit.Flow(
        request_id=request_id,
        tokens=tokens,
        ttl_ms=settings.HOLD_TTL * 1000,
        token_windows=tuple((bucket, tpm) for bucket, tpm, _ in owners if tpm),
        in_flight=tuple((bucket, most) for bucket, _, most in owners if most),
    )
    return flow or None


def rate_windows(row: KeyRow) -> list[tuple[str, int]]:
    windows = []
    if row.rpm_limit:
        windows.append((ratelimit.key_bucket(row.id), row.rpm_limit))
    if row.team_rpm_limit and row.team_id:
        windows.append((ratelimit.team_bucket(row.team_id), row.team_rpm_limit))
    return windows
