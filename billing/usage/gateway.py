"""POST /api/v1/gateway/usage: the gateway reports what its requests cost (docs/contract.md
section 3)."""

import json
import logging

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.usage.services import MAX_BATCH, record_batch
from gateway_console.contract import ContractError, check_gateway_token

logger = logging.getLogger(__name__)


def _record(request: HttpRequest) -> HttpResponse:
    check_gateway_token(request)
    try:
        payload = json.loads(request.body)
    except RequestDataTooBig:
        raise ContractError(
            "batch_too_large", 413, "The body is too large; send at most 1,000 events per batch."
        ) from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: JSON nested deeper than the parser goes.
        raise ContractError(
            "invalid_json", 400, 'The body must be a JSON usage event or {"events": [...]}.'
        ) from None
    if isinstance(payload, dict) and "events" in payload:
        events = payload["events"]
        if not isinstance(events, list) or not events:
            raise ContractError(
                "invalid_usage_event",
                422,
                "events must be a non-empty list.",
                extra={"field": "events"},
            )
        if len(events) > MAX_BATCH:
            raise ContractError(
                "batch_too_large",
                422,
                f"A batch holds at most {MAX_BATCH} events; this one has {len(events)}.",
                extra={"field": "events"},
            )
        result = record_batch(events)
        body = {
            "recorded": result.count("recorded"),
            "duplicates": result.count("duplicate"),
            "rejected": result.count("rejected"),
            "results": [o.as_dict() for o in result.outcomes],
        }
        return JsonResponse(body, status=422 if body["rejected"] == len(events) else 200)

    outcome = record_batch([payload]).outcomes[0]
    if outcome.status == "rejected":
        raise ContractError(
            "invalid_usage_event",
            422,
            f"{outcome.field}: {outcome.message}",
            extra={"field": outcome.field},
        )
    body = outcome.as_dict()
    body.pop("index")
    return JsonResponse(body, status=201 if outcome.status == "recorded" else 200)


@csrf_exempt
@require_POST
def usage_view(request: HttpRequest) -> HttpResponse:
    """POST /api/v1/gateway/usage: one event, or {"events": [...]} of up to 1,000."""
    try:
        return _record(request)
    except ContractError as error:
        return error.response()
    except DatabaseError:
        # Nothing was recorded (the batch is one transaction): the gateway should retry.
        logger.exception("usage: database error")
        return ContractError(
            "console_unavailable",
            503,
            "Usage could not be recorded; retry the same events.",
            headers={"Retry-After": "5"},
        ).response()
