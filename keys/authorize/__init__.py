"""The gateway's hot path: may this request pass? (docs/contract.md section 2)

Read top to bottom, one step a module, each calling only downward and handing plain values on:

1. `request`: what the gateway forwarded (key, model, body);
2. `lookup`: the key's row, by one indexed query;
3. `checks`: key, model, money and tokens, in the contract's order;
4. `hold`: the hold on the caps and the rate-limit windows;
5. `answer`: the allowed answer, body and headers.

The first check that fails answers with its ContractError. Nothing is cached, so a disabled,
deleted or rotated key is refused from the very next request.
"""

import logging
from datetime import UTC, datetime

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from billing.usage import traffic
from gateway_console import secret
from gateway_console.contract import ContractError, check_gateway_token
from keys import canary, tasks
from keys.authorize.answer import allowed, new_request_id
from keys.authorize.checks import (
    check_key,
    check_model,
    check_money_and_tokens,
    check_usage_reports,
    invalid_key,
)
from keys.authorize.hold import reserve
from keys.authorize.lookup import KeyRow, fetch_key, touch_last_used
from keys.authorize.request import GatewayRequest, read_gateway_request
from keys.models import KeyType
from keys.sightings import sightings

logger = logging.getLogger(__name__)


def authorize(request: HttpRequest, *, now: datetime | None = None) -> HttpResponse:
    now = now or datetime.now(UTC)
    check_gateway_token(request)
    asked = read_gateway_request(request)
    # A malformed key or a bad checksum is refused before any database query.
    if not asked.key or not secret.is_well_formed(asked.key):
        raise invalid_key()
    row = fetch_key(secret.secret_hash(asked.key), asked.model, now)
    if row is not None and row.status != "deleted":
        sightings.seen(row.id, asked.client_ip, asked.user_agent, not row.current_secret, now)
        if row.type == KeyType.CANARY:
            _trip_canary(row, asked, now)
    try:
        response = _decide(row, asked, now)
    except ContractError as refused:
        traffic.count_decision(row.org_id if row else None, refused.code)
        raise
    traffic.count_decision(row.org_id, traffic.ALLOWED if asked.model else traffic.ALLOWED_NO_MODEL)
    return response


def _trip_canary(row: KeyRow, asked: GatewayRequest, now: datetime) -> None:
    """A canary key never works and answers like an unknown key; its first use is reported
    (keys.canary) by a task."""
    if canary.first_use(row.id, now):
        tasks.canary_tripped.delay(
            str(row.id), asked.client_ip or "", asked.user_agent, now.isoformat()
        )
    traffic.count_decision(row.org_id, "invalid_api_key")
    raise invalid_key()


def _decide(row: KeyRow | None, asked: GatewayRequest, now: datetime) -> HttpResponse:
    row = check_key(row, now, asked.client_ip)
    check_usage_reports(row, reports_usage=asked.reports_usage)
    check_model(row, asked.model, reports_usage=asked.reports_usage)
    check_money_and_tokens(row)
    request_id = new_request_id()
    decision = reserve(row, asked, request_id, now)
    touch_last_used(row, now)
    return allowed(row, asked.model, request_id, decision, now)


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
