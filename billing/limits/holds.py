"""Holds: a request's worst-case cost, reserved at authorize so that concurrent requests cannot
together overspend a cap or the wallet (docs/contract.md section 2).

Every reservation is a conditional UPDATE (`... WHERE spend + held + hold <= cap`): the row lock
that UPDATE takes serialises concurrent requests on the same counter, and a request whose hold
does not fit is refused with the 402 of that cap. The usage event of the same request id
replaces the hold with the actual cost (billing.usage.counters); an unsettled hold is released after
HOLD_TTL by a scheduled task.
"""

import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction

from billing.dbvalues import as_time, as_uuid, db_id, db_time, writes_in_one_statement
from billing.limits import hold_statements, model_budgets, resets
from billing.limits.periods import period_bounds
from billing.pricing import cost_micros
from gateway_console.contract import ContractError


@dataclass(slots=True)
class CounterUse:
    """A counter as authorize sees it: an ended period counts as zero (docs/contract.md section
    2: a late reset job never blocks a customer)."""

    exists: bool
    period_end: datetime | None
    spend_micros: int
    tokens: int
    held_micros: int

    @classmethod
    def of(cls, period_end, spend, tokens, held, now: datetime) -> "CounterUse":
        period_end = as_time(period_end)
        if spend is None:
            return cls(False, None, 0, 0, 0)
        if period_end is not None and period_end <= now:
            return cls(True, period_end, 0, 0, held or 0)
        return cls(True, period_end, spend, tokens or 0, held or 0)

    def current_period_end(self, period: str, tz: str, now: datetime) -> datetime | None:
        """When the counter's running period ends: its own end while that is ahead, else the
        end of the period `now` is in (no use yet, or the reset job has not run). None: never."""
        if self.period_end is not None and self.period_end > now:
            return self.period_end
        return period_bounds(period, now, tz)[1]


@dataclass(frozen=True)
class Price:
    """A model's price for one org: per million tokens, and the plan's multiplier."""

    input_per_million: Decimal
    output_per_million: Decimal
    max_output_tokens: int | None
    multiplier: Decimal


@dataclass(frozen=True)
class Cap:
    """One counter a hold reserves on, with its cap (None: no cap, only the reservation)."""

    owner: str  # "key_id" or "team_id"
    owner_id: uuid.UUID
    kind: str  # "month" or "limit"
    period: str
    cap: Decimal | None
    use: CounterUse
    code: str
    message: str


@dataclass(frozen=True)
class ModelBudget:
    """The key's budget for the request's model (billing.limits.model_budgets)."""

    model: str
    cap: Decimal
    period: str  # the key's reset period
    use: CounterUse


@dataclass(frozen=True)
class HoldScope:
    """What a hold needs to know of a request's key, in plain values (authorize reads them)."""

    org_id: uuid.UUID
    key_id: uuid.UUID
    team_id: uuid.UUID | None
    tz: str
    price: Price
    # In the lock order of billing.limits.resets (a key's month, its limit, then its team).
    caps: tuple[Cap, ...]
    # Reserved on after the caps: a model counter is locked after its key's counters.
    model_budget: ModelBudget | None = None
    # The request also holds tokens/min or an in-flight place, settled by its usage event.
    rate_limited: bool = False


# The largest hold: more than any wallet holds, and small enough that the reservations' sums
# (balance - held - hold, spend + held + hold) stay within a 64-bit integer column. What a client
# declares (a body's length, a `max_tokens` of a model without a longest answer) can be any
# number; held as it is, it would overflow the database (a 500 on SQLite) instead of being
# refused as more than the wallet covers.
MAX_HOLD_MICROS = 2**62


def worst_output_tokens(price: Price, max_output_tokens: int | None) -> int:
    """The longest answer a request may get: what it asks for, within the model's longest (0
    when neither is known)."""
    ceiling = price.max_output_tokens or 0
    return (
        min(max_output_tokens, ceiling)
        if max_output_tokens and ceiling
        else (max_output_tokens or ceiling)
    )


def hold_amount(price: Price, *, input_tokens: int, max_output_tokens: int | None) -> int:
    amount = cost_micros(
        input_tokens=input_tokens,
        output_tokens=worst_output_tokens(price, max_output_tokens),
        input_per_million=price.input_per_million,
        output_per_million=price.output_per_million,
        multiplier=price.multiplier,
    )
    return min(amount, MAX_HOLD_MICROS)


def place(
    *,
    scope: HoldScope,
    request_id: str,
    input_tokens: int,
    max_output_tokens: int | None,
    now: datetime,
) -> int | None:
    """Reserves the request's worst case on the wallet and on every counter of its key and
    team, or raises the 402 of the first that has no room. Returns the amount held, which may
    be 0 (a free model), or None when this request id already held: nothing was written."""
    amount = hold_amount(
        scope.price, input_tokens=input_tokens, max_output_tokens=max_output_tokens
    )
    for cap in scope.caps:
        if not cap.use.exists:
            owner = {cap.owner: cap.owner_id}
            resets.ensure_counter(
                org_id=scope.org_id, **owner, kind=cap.kind, period=cap.period, tz=scope.tz, now=now
            )
    # A budget per model reserves after the hold's writes: with one, or when those are not all
    # or nothing by themselves (SQLite), a transaction takes back a refusal.
    alone = writes_in_one_statement() and scope.model_budget is None
    with nullcontext() if alone else transaction.atomic():
        fitted = hold_statements.reserve(scope, request_id, amount, now)
        if fitted is None:
            return None  # the gateway retried this request: its hold is already in place
        _refuse_unless_all_fit(scope, fitted, now)
        if scope.model_budget is not None:
            _reserve_on_model(scope, scope.model_budget, amount, now)
    return amount


def _refuse_unless_all_fit(scope: HoldScope, fitted, now: datetime) -> None:
    """The 402 of the first in the lock order that had no room: the wallet, then each cap."""
    if not fitted.wallet:
        raise ContractError(
            "billing_shortfall",
            402,
            "Your organisation's wallet cannot cover this request. Top it up to continue.",
        )
    for cap, fits in zip(scope.caps, fitted.caps, strict=False):
        if not fits:
            raise ContractError(
                cap.code,
                402,
                cap.message,
                reset_at=cap.use.current_period_end(cap.period, scope.tz, now),
            )


def take_back(*, org_id: uuid.UUID, request_id: str) -> None:
    """Removes at once the hold of a request refused after its hold was placed (by a rate
    limit, which Redis decides once the hold's statement has committed): the refused request
    leaves no hold, and what it reserved is free again."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM billing_hold WHERE org_id = %s AND request_id = %s AND closed_at IS NULL"
            " RETURNING org_id, key_id, team_id, amount_micros, model",
            [db_id(org_id), request_id],
        )
        unhold(cursor.fetchall())


def _reserve_on_model(scope: HoldScope, budget: ModelBudget, amount: int, now: datetime) -> None:
    if not budget.use.exists:
        model_budgets.ensure(
            org_id=scope.org_id,
            key_id=scope.key_id,
            model=budget.model,
            period=budget.period,
            tz=scope.tz,
            now=now,
        )
    if not model_budgets.reserve(
        key_id=scope.key_id, model=budget.model, cap=budget.cap, amount=amount, now=now
    ):
        raise ContractError(
            "model_budget_exceeded",
            402,
            f"This request could take this API key past its budget of ${budget.cap:.2f} for "
            f"the model '{budget.model}' this period.",
            reset_at=budget.use.current_period_end(budget.period, scope.tz, now),
        )


@transaction.atomic
def release_expired(*, now: datetime) -> int:
    """Releases the holds that no usage event settled within HOLD_TTL. Claiming each hold with
    a conditional UPDATE makes this safe beside usage settlement and on several workers."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE billing_hold SET closed_at = %s WHERE closed_at IS NULL AND expires_at <= %s"
            " RETURNING org_id, key_id, team_id, amount_micros, model",
            [db_time(now), db_time(now)],
        )
        claimed = cursor.fetchall()
    unhold(claimed)
    return len(claimed)


def unhold(claimed: list[tuple]) -> None:
    """Takes closed holds off the wallet and counters, summed per row: one UPDATE per wallet
    and per counter, never a read-modify-write."""
    wallets: dict = {}
    keys: dict = {}
    teams: dict = {}
    models: dict = {}
    for org_id, key_id, team_id, amount, model in claimed:
        wallets[as_uuid(org_id)] = wallets.get(as_uuid(org_id), 0) + amount
        keys[as_uuid(key_id)] = keys.get(as_uuid(key_id), 0) + amount
        if team_id is not None:
            teams[as_uuid(team_id)] = teams.get(as_uuid(team_id), 0) + amount
        if model:
            models[(as_uuid(key_id), model)] = models.get((as_uuid(key_id), model), 0) + amount
    with connection.cursor() as cursor:
        for org_id, amount in wallets.items():
            cursor.execute(
                "UPDATE billing_wallet SET held_micros = CASE WHEN held_micros > %s THEN held_micros - %s ELSE 0 END"
                " WHERE org_id = %s",
                [amount, amount, db_id(org_id)],
            )
        for owner, totals in (("key_id", keys), ("team_id", teams)):
            for owner_id, amount in totals.items():
                cursor.execute(
                    "UPDATE billing_counter SET held_micros = CASE WHEN held_micros > %s THEN held_micros - %s"
                    f" ELSE 0 END WHERE {owner} = %s",
                    [amount, amount, db_id(owner_id)],
                )
        model_budgets.release(cursor, models)
