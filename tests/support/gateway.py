"""Shared fixtures of the gateway API tests (docs/contract.md sections 2 and 3): the gateway's
token, a price list, a plan with a multiplier, an org with a funded wallet, and helpers that
call authorize and usage the way a forward-auth gateway does."""

import itertools
import json
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.test import Client

from billing.ledger.models import ModelPrice, Plan, Wallet
from billing.limits.models import Counter
from billing.limits.periods import LimitPeriod, period_bounds
from tests.factories import OrgFactory

# The fixtures a directory takes with `from tests.support.gateway import *` in its conftest.
# They stay out of the root conftest: `org` here overrides the root's.
__all__ = ["authorize", "gateway_tokens", "org", "plan", "post_usage", "prices", "wallet"]

AUTHORIZE_URL = "/api/v1/gateway/authorize"
USAGE_URL = "/api/v1/gateway/usage"
# GATEWAY_TOKENS during a rotation of the gateway's token: the old one and the new one.
OLD_GATEWAY_TOKEN = "gw-token-old-3b1f0c"
GATEWAY_TOKEN = "gw-token-new-9d27ae"

MULTIPLIER = Decimal("1.20")
WALLET_BALANCE = Decimal("1000.00")
# model: (input per million, output per million, longest answer)
PRICES = {
    "gpt-4o-mini": (Decimal("0.15"), Decimal("0.60"), 16_000),
    "gpt-4o": (Decimal("2.50"), Decimal("10.00"), 16_000),
    "gemini-2.0-flash": (Decimal("0.10"), Decimal("0.40"), 8_000),
    # Priced, but not part of the plan.
    "claude-3-5-sonnet": (Decimal("3.00"), Decimal("15.00"), 8_000),
}
PLAN_MODELS = ("gpt-4o-mini", "gpt-4o", "gemini-2.0-flash")
UNPRICED_MODEL = "mystery-model-9000"

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
}

_request_ids = itertools.count(1)


def new_request_id(prefix: str = "req") -> str:
    return f"{prefix}_{next(_request_ids):06d}"


def micros(amount: Decimal | str) -> int:
    return int((Decimal(amount) * 1_000_000).to_integral_value(rounding=ROUND_HALF_UP))


def expected_cost_micros(model: str, input_tokens: int, output_tokens: int) -> int:
    """The contract's formula, written out independently of billing.pricing: price per
    million tokens × tokens × the plan's multiplier, in micro-dollars, rounded once."""
    price_in, price_out, _ = PRICES[model]
    raw = (Decimal(input_tokens) * price_in + Decimal(output_tokens) * price_out) * MULTIPLIER
    return int(raw.to_integral_value(rounding=ROUND_HALF_UP))


def expected_cost(model: str, input_tokens: int, output_tokens: int) -> Decimal:
    price_in, price_out, _ = PRICES[model]
    cost = (
        (Decimal(input_tokens) * price_in + Decimal(output_tokens) * price_out)
        / Decimal(1_000_000)
        * MULTIPLIER
    )
    return cost.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


@pytest.fixture(autouse=True)
def gateway_tokens(settings):
    settings.GATEWAY_TOKENS = [OLD_GATEWAY_TOKEN, GATEWAY_TOKEN]


@pytest.fixture
def prices(db):
    return {
        model: ModelPrice.objects.create(
            model=model,
            input_per_million=price_in,
            output_per_million=price_out,
            max_output_tokens=longest,
        )
        for model, (price_in, price_out, longest) in PRICES.items()
    }


@pytest.fixture
def plan(prices):
    plan = Plan.objects.create(name="pro", price_multiplier=MULTIPLIER)
    plan.models.set([prices[model] for model in PLAN_MODELS])
    return plan


@pytest.fixture
def org(db, plan):
    """Overrides tests/conftest.py's org: on the plan "pro", with $1,000 in its wallet."""
    org = OrgFactory(name="Acme", slug="acme", plan=plan)
    Wallet.objects.create(org=org, balance_micros=micros(WALLET_BALANCE))
    return org


@pytest.fixture
def wallet(org):
    return Wallet.objects.get(org=org)


def set_wallet(org, *, balance: Decimal | str, held: int = 0) -> None:
    Wallet.objects.filter(org=org).update(balance_micros=micros(balance), held_micros=held)


def wallet_of(org) -> Wallet:
    return Wallet.objects.get(org=org)


def set_counter(
    *,
    key=None,
    team=None,
    kind: str = "month",
    spend: Decimal | str = "0",
    tokens: int = 0,
    held: int = 0,
    period: str = LimitPeriod.MONTHLY,
    ended: bool = False,
) -> Counter:
    """A key's or team's counter in its current period (or, ended=True, in one that ended an
    hour ago and that no reset job has started again)."""
    owner = key or team
    now = datetime.now(UTC)
    if ended:
        start, end = now - timedelta(days=31), now - timedelta(hours=1)
    else:
        start, end = period_bounds(period, now, owner.org.timezone)
    counter, _ = Counter.objects.update_or_create(
        key=key,
        team=team,
        kind=kind,
        defaults={
            "org": owner.org,
            "period_start": start,
            "period_end": end,
            "spend_micros": micros(spend),
            "tokens": tokens,
            "held_micros": held,
        },
    )
    return counter


def counter_of(*, key=None, team=None, kind: str) -> Counter:
    return Counter.objects.get(key=key, team=team, kind=kind)


# The model every call names unless it says otherwise: the org's plan lists its models, so a
# request whose model the console cannot learn is refused (model_required).
DEFAULT_MODEL = "gpt-4o-mini"


def call_authorize(
    client: Client,
    secret: str | None = None,
    *,
    model: str | None = DEFAULT_MODEL,
    reports_usage: bool = False,
    method: str = "POST",
    body=None,
    headers: dict | None = None,
    query: str = "",
    token: str | None = GATEWAY_TOKEN,
):
    """What a forward-auth gateway sends: its own token, the client's key as
    `Authorization: Bearer` (unless `secret` is None), the model as X-Gateway-Model (unless
    None; a body's model wins over it), X-Gateway-Reports-Usage when the gateway reports usage
    (then a hold is placed), and any other client headers."""
    sent = {}
    if token is not None:
        sent["X-Gateway-Token"] = token
    if secret is not None:
        sent["Authorization"] = f"Bearer {secret}"
    if model is not None:
        sent["X-Gateway-Model"] = model
    if reports_usage:
        sent["X-Gateway-Reports-Usage"] = "true"
    sent.update(headers or {})
    if body is None:
        data = b""
    elif isinstance(body, bytes | str):
        data = body
    else:
        data = json.dumps(body)
    return client.generic(
        method, AUTHORIZE_URL + query, data=data, content_type="application/json", headers=sent
    )


@pytest.fixture
def authorize(client):
    def call(secret=None, **kwargs):
        return call_authorize(client, secret, **kwargs)

    return call


def usage_event(key, **overrides) -> dict:
    event = {
        "request_id": new_request_id(),
        "key_id": str(key.pk),
        "model": "gpt-4o-mini",
        "input_tokens": 1000,
        "output_tokens": 200,
        "status_code": 200,
        "latency_ms": 830,
        "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    event.update(overrides)
    return event


def call_usage(client: Client, payload, *, token: str | None = GATEWAY_TOKEN):
    headers = {"X-Gateway-Token": token} if token is not None else {}
    data = payload if isinstance(payload, bytes | str) else json.dumps(payload)
    return client.post(USAGE_URL, data=data, content_type="application/json", headers=headers)


@pytest.fixture
def post_usage(client):
    def call(payload, **kwargs):
        return call_usage(client, payload, **kwargs)

    return call


def assert_denied(response, status: int, code: str, *, reset_at: bool = False) -> dict:
    """The contract's OpenAI-style error body: {"error": {"type", "code", "message"}}, plus
    "reset_at" where waiting helps. Returns the error object."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    expected_fields = {"type", "code", "message"} | ({"reset_at"} if reset_at else set())
    assert set(error) == expected_fields, error
    assert error["type"] == ERROR_TYPES[status]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"].endswith("."), error["message"]
    return error


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
