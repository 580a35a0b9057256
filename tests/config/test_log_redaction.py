"""Log lines are redacted (config.logs): a key in a query, a bearer token, a credential
header or anything shaped like a key never reaches a log, while the rest of the line stays
readable."""

import logging
from types import SimpleNamespace

import pytest

from config.logs import RedactingFormatter, RedactingGunicornLogger, redact

KEY = "sk-gw-" + "A1b2C3d4E5" * 4 + "x7Kp9Q"
ADMIN = "sk-admin-" + "Z9y8X7w6V5" * 4


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (
            f'"GET /api/v1/gateway/authorize?key={KEY} HTTP/1.1" 200',
            '"GET /api/v1/gateway/authorize?key=',
        ),
        (f"/v1beta/models/m:generateContent?alt=sse&key={KEY}&x=1", "?alt=sse&key="),
        (f"/authorize%3Fkey%3D{KEY}", "%3Fkey%3D"),
        (f"Authorization: Bearer {KEY}", "Authorization: Bearer "),
        (f"{{'X-Api-Key': '{KEY}', 'Accept': '*/*'}}", "'Accept': '*/*'"),
        (f"x-goog-api-key={KEY}", "x-goog-api-key="),
        (f"HTTP_X_API_KEY={KEY}", "HTTP_X_API_KEY="),
        ("X-Gateway-Token: gw-secret-token-123", "X-Gateway-Token: "),
        (f"token {ADMIN} was refused", "token sk-admin-"),
        (f"key {KEY} standing alone", "key sk-gw-"),
    ],
)
def test_a_credential_is_replaced_and_the_rest_of_the_line_kept(line, kept):
    redacted = redact(line)

    assert KEY not in redacted
    assert ADMIN not in redacted
    assert "gw-secret-token-123" not in redacted
    assert "[redacted]" in redacted
    assert kept in redacted


@pytest.mark.parametrize(
    "line",
    [
        "GET /keys/?search=billing&monkey=3 200",
        "key sk-gw-4fQz9A…x7Kp rotated",  # a key's preview is not a key
        "POST /api/v1/gateway/usage 201",
    ],
)
def test_a_line_without_a_credential_is_left_alone(line):
    assert redact(line) == line


def test_the_console_formatter_redacts_messages_arguments_and_tracebacks():
    formatter = RedactingFormatter("%(levelname)s %(message)s")
    try:
        raise ValueError(f"bad key {KEY}")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "seen %s", (f"?key={KEY}",), sys.exc_info()
        )

    text = formatter.format(record)

    assert KEY not in text
    assert "ValueError: bad key sk-gw-[redacted]" in text


def test_the_access_log_atoms_of_gunicorn_are_redacted(monkeypatch):
    logger = RedactingGunicornLogger.__new__(RedactingGunicornLogger)

    def atoms(self, resp, req, environ, request_time):
        return {"r": f"GET /x?key={KEY} HTTP/1.1", "{authorization}i": f"Bearer {KEY}", "s": 200}

    monkeypatch.setattr(RedactingGunicornLogger.__mro__[1], "atoms", atoms)

    result = logger.atoms(SimpleNamespace(), SimpleNamespace(), {}, None)

    assert result == {
        "r": "GET /x?key=[redacted] HTTP/1.1",
        "{authorization}i": "Bearer [redacted]",
        "s": 200,
    }
