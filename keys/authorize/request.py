"""Step 1 of authorize: what the gateway forwarded. The client's key, the model asked for, the
body (read up to GATEWAY_MAX_BODY_BYTES) and whether the gateway reports usage."""

import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.http import HttpRequest

from gateway_console.actors import USER_AGENT_LENGTH, gateway_client_ip

_ORIGINAL_URI_HEADERS = ("X-Forwarded-Uri", "X-Original-URI", "X-Envoy-Original-Path")
_GEMINI_MODEL = re.compile(r"/models/([A-Za-z0-9._@+-]{1,100}):[A-Za-z]+")
_MAX_TOKEN_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
REPORTS_USAGE_HEADER = "X-Gateway-Reports-Usage"
_TRUE = frozenset({"1", "true", "yes", "on"})


@dataclass
class GatewayRequest:
    """What authorize reads from the forwarded client request."""

    key: str | None
    model: str | None
    # The gateway's configuration says that it posts a usage event for every allowed request
    # (X-Gateway-Reports-Usage): only then is a hold placed, since a hold that nothing settles
    # would sit on the caps until HOLD_TTL.
    reports_usage: bool
    body: dict
    body_bytes: int
    # The gateway's client, as the gateway passed it on (X-Forwarded-For, GATEWAY_PROXY_COUNT):
    # None when it cannot be told. Checked against a key's allowlist, and recorded as seen.
    client_ip: str | None = None
    user_agent: str = ""


def _original_query(request: HttpRequest) -> dict[str, list[str]]:
    for header in _ORIGINAL_URI_HEADERS:
        value = request.headers.get(header)
        if value:
            return parse_qs(urlsplit(value).query)
    return {}


def _original_path(request: HttpRequest) -> str:
    for header in _ORIGINAL_URI_HEADERS:
        value = request.headers.get(header)
        if value:
            return urlsplit(value).path
    return ""


def _client_key(request: HttpRequest) -> str | None:
    # docs/contract.md section 2: first match wins, in the order clients send keys.
    authorization = request.headers.get("Authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    for header in ("X-Api-Key", "x-goog-api-key"):
        value = request.headers.get(header)
        if value:
            return value.strip()
    try:
        query_key = request.GET.get("key")
    except TooManyFieldsSent:
        # Over DATA_UPLOAD_MAX_NUMBER_FIELDS parameters Django refuses to read the query
        # string; without a key in a header, such a request has no key (401, not an HTML 400).
        query_key = None
    if query_key is not None:
        return query_key.strip()
    original = _original_query(request).get("key")
    return original[0].strip() if original else None


def _strings_length(body: dict) -> int:
    """Bytes of every string in a JSON document but `model`s: an upper bound of its prompt's
    tokens. Without recursion: json.loads parses documents nested deeper than a recursive walk
    of them could go from here."""
    total = 0
    pending: list = [body]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            total += len(value.encode())
        elif isinstance(value, dict):
            pending.extend(v for k, v in value.items() if k != "model")
        elif isinstance(value, list):
            pending.extend(value)
    return total


def _positive_int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    # isdigit() alone also accepts digits such as "²" that int() refuses.
    if isinstance(value, str) and value.isascii() and value.isdigit() and int(value) > 0:
        return int(value)
    return None


def _read_body(request: HttpRequest) -> tuple[bytes, int]:
    """The forwarded body, if it is no longer than GATEWAY_MAX_BODY_BYTES, and its length.
    A longer body is not read (its declared length still bounds the prompt)."""
    limit = settings.GATEWAY_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or -1)
    except ValueError:
        declared = -1
    if declared > limit:
        return b"", declared
    if declared >= 0:
        raw = request.read(limit + 1)
    elif request.META.get("wsgi.input_terminated"):
        # A chunked body (no Content-Length): the server marks its input as ending with the
        # body (gunicorn does), so reading to its end is safe.
        raw = request.META["wsgi.input"].read(limit + 1)
    else:
        return b"", 0
    if len(raw) > limit:
        return b"", len(raw)
    return raw, len(raw)


def read_gateway_request(request: HttpRequest) -> GatewayRequest:
    raw, body_bytes = _read_body(request)
    body: dict = {}
    if raw[:1] in (b"{", b" ", b"\n", b"\r", b"\t"):
        try:
            parsed = json.loads(raw)
            body = parsed if isinstance(parsed, dict) else {}
        except (ValueError, UnicodeDecodeError, RecursionError):
            body = {}
    model = body.get("model") if isinstance(body.get("model"), str) else None
    # The body is what the provider will act on, so it wins over a header; the header is for
    # gateways that name the model in their own configuration.
    model = model or request.headers.get("X-Gateway-Model") or None
    if not model:
        found = _GEMINI_MODEL.search(_original_path(request) or request.path)
        model = found.group(1) if found else None
    reports_usage = request.headers.get(REPORTS_USAGE_HEADER, "").strip().lower() in _TRUE
    return GatewayRequest(
        _client_key(request),
        model,
        reports_usage,
        body,
        body_bytes,
        client_ip=gateway_client_ip(request),
        user_agent=request.headers.get("User-Agent", "")[:USER_AGENT_LENGTH],
    )


def hold_inputs(asked: GatewayRequest) -> tuple[int, int | None]:
    """The worst case of a request: input tokens bounded by the bytes of its prompt's text,
    and the output limit it asks for (None: the model's longest answer)."""
    body = asked.body
    input_tokens = _strings_length(body) if body else asked.body_bytes
    for field in _MAX_TOKEN_FIELDS:
        max_output = _positive_int(body.get(field))
        if max_output:
            return input_tokens, max_output
    config = body.get("generationConfig")
    if isinstance(config, dict):
        return input_tokens, _positive_int(config.get("maxOutputTokens"))
    return input_tokens, None
