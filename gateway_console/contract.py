"""The one error type of the gateway-facing and admin APIs, and its JSON body
(docs/contract.md section 2): `{"error": {"type", "code", "message"}}`, plus `reset_at` where waiting
helps. OpenAI-style, so that SDKs show the message."""

import hmac
import json
from datetime import UTC, datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
}


def iso_utc(moment: datetime | None) -> str | None:
    """A time as the contract writes it: ISO 8601 in UTC, with a Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


class ContractError(Exception):
    def __init__(
        self,
        code: str,
        status: int,
        message: str,
        *,
        reset_at: datetime | None = None,
        headers: dict[str, str] | None = None,
        extra: dict | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.reset_at = reset_at
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict:
        error = {
            "type": ERROR_TYPES.get(self.status, "api_error"),
            "code": self.code,
            "message": self.message,
        }
        if self.reset_at is not None:
            error["reset_at"] = iso_utc(self.reset_at)
        error.update(self.extra)
        return {"error": error}

    def response(self) -> HttpResponse:
        response = HttpResponse(
            json.dumps(self.body(), separators=(",", ":")),
            status=self.status,
            content_type="application/json",
        )
        for name, value in self.headers.items():
            response[name] = value
        return response


def check_gateway_token(request: HttpRequest) -> None:
    """The gateway proves itself with X-Gateway-Token, one of GATEWAY_TOKENS (several during a
    rotation of the token)."""
    given = request.headers.get("X-Gateway-Token", "")
    if not given or not any(
        hmac.compare_digest(given.encode(), token.encode()) for token in settings.GATEWAY_TOKENS
    ):
        raise ContractError(
            "gateway_unauthorized", 403, "The gateway's X-Gateway-Token is missing or wrong."
        )
