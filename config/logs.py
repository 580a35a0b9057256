"""Logs never hold a credential (docs/contract.md section 1), whatever a gateway or client sends.

Every line the console writes, its own and the web server's access and error lines, passes
through `redact`: a `key=` query parameter, a bearer token, the value of a credential header
and anything shaped like a console key or admin token is replaced by `[redacted]`. Django's
handlers use `RedactingFormatter` (settings.LOGGING); gunicorn uses `RedactingGunicornLogger`
(deploy/gunicorn.conf.py).
"""

import logging
import os
import re

from gunicorn.glogging import Logger as GunicornLogger

REDACTED = "[redacted]"

_CREDENTIAL_HEADERS = (
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "x-goog-api-key",
    "x-gateway-token",
    "api-key",
    "cookie",
)
_HEADER_NAMES = "|".join(
    re.escape(name).replace("\\-", "[-_]") for name in (*_CREDENTIAL_HEADERS, "http_authorization")
)
_PATTERNS = (
    # ?key=…, &key=…, ;key=… (Gemini clients; also inside a forwarded URI), plain or encoded.
    (re.compile(r"(?i)((?:[?&;]|%3f|%26)key(?:=|%3d))[^&;\s\"'#]*"), r"\1" + REDACTED),
    # Authorization: Bearer … / Basic …, wherever it appears.
    (re.compile(r"(?i)\b(bearer|basic)(\s+|%20)[^\s\"',;]+"), r"\1\2" + REDACTED),
    # A credential header with its value: `X-Api-Key: …`, `'x-goog-api-key': '…'`, `HTTP_X_API_KEY=…`.
    (
        re.compile(
            r"(?i)((?:http_)?(?:" + _HEADER_NAMES + r")[\"']?\s*[:=]\s*[\"']?)(?!bearer\b|basic\b)"
            r"[^\s\"',;}]+"
        ),
        r"\1" + REDACTED,
    ),
    # Console keys and admin tokens, and provider keys of the same shape, standing alone.
    (re.compile(r"\b(sk-(?:gw-|admin-)?)[A-Za-z0-9_\-]{12,}"), r"\1" + REDACTED),
)


def _prefix_pattern() -> re.Pattern | None:
    # A deployment may choose another key prefix than sk-gw- (KEY_PREFIX).
    prefix = os.environ.get("KEY_PREFIX", "")
    if not prefix or prefix.startswith("sk-"):
        return None
    return re.compile(re.escape(prefix) + r"[A-Za-z0-9]{12,}")


_CUSTOM_PREFIX = _prefix_pattern()


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    if _CUSTOM_PREFIX is not None:
        text = _CUSTOM_PREFIX.sub(REDACTED, text)
    return text


class RedactingFormatter(logging.Formatter):
    """A formatter whose every line, traceback included, is redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RedactingGunicornLogger(GunicornLogger):
    """gunicorn's logger with every access-log atom and every error-log line redacted: the
    request line, query, referer and headers a gateway sends may carry a key."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(_Redacted(handler.formatter))

    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            name: redact(value) if isinstance(value, str) else value
            for name, value in atoms.items()
        }


class _Redacted(logging.Formatter):
    def __init__(self, inner: logging.Formatter | None):
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))
