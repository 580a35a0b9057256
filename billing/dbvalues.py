"""Values in and out of the few hand-written SQL statements (the hot paths), the same way on
PostgreSQL and SQLite: the ORM does this for ORM queries; raw cursors need it said."""

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection
from django.utils.dateparse import parse_datetime


def db_id(value: uuid.UUID | None):
    if value is None:
        return None
    # SQLite keeps UUIDs as 32 hex characters (Django's UUIDField without a native type).
    return value if connection.vendor == "postgresql" else value.hex


def db_time(value: datetime | None):
    return connection.ops.adapt_datetimefield_value(value)


def as_uuid(value) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))


def as_decimal(value) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value
    # SQLite hands back numbers; their shortest text form is the stored decimal.
    return Decimal(str(value))


def as_time(value) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = parse_datetime(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _as_json(value, empty):
    """A JSON column as Python: PostgreSQL's driver decodes it, SQLite's hands over text."""
    if value is None:
        return empty
    return json.loads(value) if isinstance(value, str | bytes) else value


def as_list(value) -> list:
    return _as_json(value, [])


def as_dict(value) -> dict:
    return _as_json(value, {})
