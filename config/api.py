"""The admin API (docs/contract.md section 4): one NinjaAPI at /api/v1/, authenticated with an org's
admin token, every error in the ContractError body, the OpenAPI document generated from the
code at /api/v1/openapi.json and its docs page at /api/v1/docs."""

import logging
from datetime import UTC
from functools import wraps

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer

from accounts.api import router as members_router
from audit.api import router as audit_router
from billing.ledger.api import router as billing_router
from billing.limits.api import router as teams_router
from config.gateway_openapi import add_gateway_paths
from gateway_console import admin_tokens
from gateway_console.admin_tokens_api import admin_tokens_router
from gateway_console.contract import ContractError
from gateway_console.models import AdminToken
from keys.api import requests_router
from keys.api import router as keys_router

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _invalid_token(message: str) -> ContractError:
    return ContractError(
        "invalid_admin_token", 401, message, headers={"WWW-Authenticate": 'Bearer realm="admin"'}
    )


class AdminTokenAuth(HttpBearer):
    """`Authorization: Bearer sk-admin-…`. A read-only token may call every GET and no change:
    the check is by method here, in one place, so that a new operation cannot forget it."""

    openapi_bearerFormat = "sk-admin-…"

    def __call__(self, request: HttpRequest) -> AdminToken:
        # Not HttpBearer's own __call__: with DEBUG on it logs a header it does not understand,
        # and that header may hold a token (docs/contract.md section 1: never in a log).
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _invalid_token(
                "Send an admin token as `Authorization: Bearer sk-admin-…`; owners and admins "
                "create them on the console's Admin tokens page."
            )
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> AdminToken:
        try:
            admin_token = admin_tokens.active_token(token)
        except admin_tokens.AdminTokenExpired as expired:
            # The same refusal as a revoked token's (docs/contract.md section 4), saying why.
            raise _invalid_token(
                f"This admin token expired at {expired.expires_at.astimezone(UTC):%Y-%m-%d %H:%M} "
                "UTC. Create a new one on the console's Admin tokens page."
            ) from None
        if admin_token is None:
            raise _invalid_token(
                "This admin token is not valid: it is mistyped, unknown or revoked. "
                "Create a new one on the console's Admin tokens page."
            )
        if request.method not in SAFE_METHODS and admin_token.read_only:
            raise ContractError(
                "admin_token_read_only",
                403,
                "This admin token is read-only: it can read but not change anything. "
                "Use a read-write token for changes.",
            )
        return admin_token


class RequestParser(Parser):
    def parse_body(self, request: HttpRequest) -> dict:
        # A POST without a body (a rotate without options) means "no options", not bad JSON;
        # ninja itself skips an empty body, this a body of blanks.
        if not request.body.strip():
            return {}
        data = super().parse_body(request)
        _refuse_nul(data)
        return data

    def parse_querydict(self, data, list_fields, request: HttpRequest) -> dict:
        _refuse_nul(dict(data.lists()))
        return super().parse_querydict(data, list_fields, request)


def _refuse_nul(value) -> None:
    """No text the API takes may hold a NUL character: PostgreSQL cannot store or compare one,
    and no name, id or filter needs it (Django's form fields refuse it the same way)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ContractError(
                "invalid_request", 422, "Text may not contain NUL characters (\\u0000)."
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key)
            _refuse_nul(item)
    elif isinstance(value, list):
        for item in value:
            _refuse_nul(item)


class AdminAPI(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        # The gateway's endpoints are plain views (the hot path); their description joins
        # the admin API's in one document.
        return add_gateway_paths(super().get_openapi_schema(*args, **kwargs))

    def _get_urls(self):
        urls = super()._get_urls()
        for pattern in urls:
            pattern.callback = _json_not_allowed(pattern.callback)
        # Last: any other path under /api/v1/ is a 404 in the contract's body, not the
        # console's HTML page. The gateway's own paths (gateway/...) are left to their views.
        urls.append(re_path(r"^(?!gateway/)", _no_such_path))
        return urls


@csrf_exempt
def _no_such_path(request: HttpRequest) -> HttpResponse:
    return ContractError(
        "not_found", 404, "There is no such path in the admin API; see /api/v1/docs."
    ).response()


def _json_not_allowed(view):
    """Ninja answers a method that a path does not have with a plain-text 405; the contract
    wants every error in its JSON body."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            return ContractError(
                "method_not_allowed",
                405,
                f"{request.method} is not allowed here; this path allows {allowed}.",
                headers={"Allow": allowed},
            ).response()
        return response

    return wrapped


api = AdminAPI(
    title="Gateway Console admin API",
    version="1",
    description=(
        "Everything an admin does in the console, scriptable (docs/contract.md section 4), "
        "and the two endpoints the gateway calls (section 2 and 3, tag `gateway`, "
        "authenticated with the gateway's X-Gateway-Token). "
        "Authenticate with `Authorization: Bearer sk-admin-…`, an org admin token created on "
        "the console's Admin tokens page; read-only tokens may only GET. Errors have the body "
        '`{"error": {"type", "code", "message"}}`. Lists are paginated by cursor: pass '
        "`next_cursor` back as `cursor` until it is null. A body over 2.5 MB is 413 "
        "`request_too_large`; over 1,000 query parameters, 400 `too_many_parameters`."
    ),
    urls_namespace="admin-api",
    auth=AdminTokenAuth(),
    parser=RequestParser(),
)
api.add_router("/", keys_router)
api.add_router("/", requests_router)
api.add_router("/", audit_router)
api.add_router("/", teams_router)
api.add_router("/", members_router)
api.add_router("/", admin_tokens_router)
api.add_router("/", billing_router)


# Every error in the ContractError body, ninja's own included.


@api.exception_handler(ContractError)
def _contract_error(request: HttpRequest, exc: ContractError) -> HttpResponse:
    return exc.response()


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    location = [str(part) for part in first.get("loc", ())]
    # ninja's location is (source, parameter, field...); a body is one parameter, so the field
    # is what the client knows.
    in_body = location[:1] == ["body"]
    location = location[2:] if in_body else location[1:]
    param = ".".join(location) or None
    message = first.get("msg", "The request is not valid.")
    if in_body and param is None:
        message = f"The request needs a JSON body: {message}"
    return ContractError(
        "invalid_request",
        422,
        f"{param}: {message}" if param else message,
        extra={"param": param},
    ).response()


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return ContractError("not_found", 404, str(exc) or "Nothing here.").response()


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _invalid_token("Send an admin token as `Authorization: Bearer sk-admin-…`.").response()


@api.exception_handler(RequestDataTooBig)
def _too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    # Django refuses to read a body over DATA_UPLOAD_MAX_MEMORY_SIZE before any of the API's
    # code sees it; no request of the admin API comes near that size.
    return ContractError(
        "request_too_large",
        413,
        f"The request body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes, "
        "the most the admin API reads.",
    ).response()


@api.exception_handler(TooManyFieldsSent)
def _too_many_parameters(request: HttpRequest, exc: TooManyFieldsSent) -> HttpResponse:
    return ContractError(
        "too_many_parameters",
        400,
        f"The request has over {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,} parameters, "
        "the most the admin API reads.",
    ).response()


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, ContractError):
        # ninja wraps whatever the body parser raises in a 400 "Cannot parse request body".
        return exc.__cause__.response()
    if isinstance(exc.__cause__, RequestDataTooBig | TooManyFieldsSent):
        return api.on_exception(request, exc.__cause__)
    if exc.status_code == 400:
        return ContractError("invalid_json", 400, "The request body is not valid JSON.").response()
    return ContractError("request_failed", exc.status_code, str(exc)).response()


@api.exception_handler(Exception)
def _server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("admin API error on %s %s", request.method, request.path)
    return ContractError(
        "internal_error",
        500,
        "Something went wrong on our side. Try again, and tell us if it persists "
        f"(request id {getattr(request, 'request_id', '')}).",
    ).response()
