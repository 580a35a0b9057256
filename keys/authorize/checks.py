"""Step 3 of authorize: the checks on the key's row, in the contract's order (docs/contract.md
section 2). Each raises the ContractError that answers the gateway; none writes."""

from datetime import datetime

from billing.money import money_to_micros
from gateway_console.contract import ContractError, iso_utc
from keys import allowlist
from keys.authorize.lookup import KeyRow


def invalid_key() -> ContractError:
    return ContractError(
        "invalid_api_key",
        401,
        "The API key is missing, malformed or not valid. Check that you send the whole key as "
        "'Authorization: Bearer <key>' or 'X-Api-Key: <key>'.",
    )


def check_key(row: KeyRow | None, now: datetime, client_ip: str | None) -> KeyRow:
    if row is None or row.status == "deleted":
        raise invalid_key()
    # Before the key's state: from an address it may not be used from, nothing more is told.
    if row.allowed_ips and not allowlist.allows(row.allowed_ips, client_ip):
        raise ContractError(
            "ip_not_allowed",
            403,
            "This API key may not be used from this address. Ask an admin of your organisation "
            "to allow it on the key.",
        )
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
            f"This API key expired at {iso_utc(row.expires_at)}. Ask an admin for a new key.",
        )
    return row


def check_usage_reports(row: KeyRow, *, reports_usage: bool) -> None:
    """Tokens per minute and requests in flight are counted until the request's usage event: a
    gateway that reports none could never be held to them."""
    if row.flow_limited and not reports_usage:
        raise ContractError(
            "usage_reports_required",
            403,
            "This API key (or its team) has a limit of tokens per minute or of requests in "
            "flight, which only a gateway that reports usage can keep. Call through a gateway "
            "that posts a usage event for every request and says so in "
            "X-Gateway-Reports-Usage.",
        )


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


def check_model(row: KeyRow, model: str | None, *, reports_usage: bool) -> None:
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
        if row.model_budgets:
            raise _model_required("this API key has budgets per model")
        if row.flow_limited:
            raise _model_required(
                "this API key has a limit of tokens per minute or of requests in flight, which "
                "needs the model to hold the request's tokens"
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


def check_money_and_tokens(row: KeyRow) -> None:
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
    budget, use = row.model_budget, row.model_use
    if (
        budget is not None
        and use is not None
        and use.spend_micros + use.held_micros >= money_to_micros(budget)
    ):
        raise _quota(
            "model_budget_exceeded",
            f"This API key has reached its budget of ${budget:.2f} for the model "
            f"'{row.model}' this period.",
            use.period_end,
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
