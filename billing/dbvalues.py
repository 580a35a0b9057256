"""Values in and out of the few hand-written SQL statements (the hot paths), the same way on
PostgreSQL and SQLite: the ORM does this for ORM queries; raw cursors need it said."""

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache

import psycopg
from django.conf import settings
from django.db import connection
from django.utils.dateparse import parse_datetime
from psycopg.pq import TransactionStatus
from psycopg.types.numeric import Int8BinaryDumper


@cache
def _postgresql() -> bool:
    # The default database's engine, fixed for the process: asked once, not through the
    # connection's proxy for every value of a batch (a usage batch of 1,000 has 38,000).
    return connection.vendor == "postgresql"


def writes_in_one_statement() -> bool:
    """Whether one statement may carry several writes (a data-modifying WITH): PostgreSQL's,
    not SQLite's. A hold's writes and a usage batch's events with their rollups go as one
    statement where it may."""
    return _postgresql()


def db_id(value: uuid.UUID | None):
    if value is None:
        return None
    # SQLite keeps UUIDs as 32 hex characters (Django's UUIDField without a native type).
    return value if _postgresql() else value.hex


def db_time(value: datetime | None):
    # psycopg takes aware datetimes as they are (Django's PostgreSQL adapter returns them).
    if _postgresql():
        return value
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


# Batches in hand-written statements. psycopg parses a statement's placeholders again on every
# call once its text is long (it caches short ones only): a usage batch of 1,000 written with a
# placeholder per value spent some 40 % of its time there. On PostgreSQL a batch therefore goes
# as one array parameter per column, in statements of the same short text whatever its size;
# SQLite, which has no arrays, takes a placeholder per value.


class _Bound(psycopg.Cursor):
    """A cursor that binds its parameters on the server. It prepares its statements only when
    `prepared` (psycopg keeps them per connection; PostgreSQL plans a prepared statement for its
    first five runs, then keeps one generic plan); else it never runs one as prepared, even one
    prepared on its connection before."""

    prepared = False

    def execute(self, query, params=None, *, prepare=None, binary=None):
        if self.prepared and self.connection.prepare_threshold is None:
            # Django turns psycopg's preparing off (prepare_threshold None), which refuses even
            # an explicit prepare=True. A threshold no statement reaches turns it back on for
            # the statements that ask, and for no other.
            self.connection.prepare_threshold = 2**31
        return super().execute(query, params, prepare=self.prepared, binary=binary)


# Where PostgreSQL raises "cached plan must not change result type" (feature_not_supported): its
# function's name, which no lc_messages translates.
_STALE_PLAN = "RevalidateCachedQuery"


class _Prepared(_Bound):
    prepared = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Every whole number as bigint: psycopg would send 5,000 as smallint and 50,000 as
        # integer, and a prepared statement is kept per parameter types, so one hold statement
        # would be prepared and planned again for each mix of sizes. One registration serves
        # %s too (the last registered is the automatic one): 1.9 us a cursor, not 3.8.
        self.adapters.register_dumper(int, Int8BinaryDumper)

    def execute(self, query, params=None, *, prepare=None, binary=None):
        try:
            return super().execute(query, params, prepare=prepare, binary=binary)
        except psycopg.errors.FeatureNotSupported as error:
            # A migration run by another process changed the type of a column the statement
            # returns: PostgreSQL refuses the prepared statement from then on, and psycopg keeps
            # it, so every run on this kept connection would fail. Outside a transaction the
            # statement is prepared again and run once more; inside one, the transaction has
            # failed, and its rollback makes psycopg forget its statements.
            idle = self.connection.info.transaction_status == TransactionStatus.IDLE
            if error.diag.source_function != _STALE_PLAN or not idle:
                raise
            # Not prepared itself; psycopg sees it go by and forgets its statements too.
            psycopg.Cursor.execute(self, "DEALLOCATE ALL", prepare=False)
            return super().execute(query, params, prepare=prepare, binary=binary)


def _server_cursor(cursor_class: type[_Bound]):
    # As Django opens its own cursors (BaseDatabaseWrapper._cursor): a kept connection that
    # fails its health check (CONN_HEALTH_CHECKS) is replaced first, and none is shared across
    # threads. Wrapped as Django wraps its own, so that its query log and execute wrappers see
    # the statements.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    bound = cursor_class(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(bound)
    return connection.make_cursor(bound)


def batch_cursor():
    """The cursor of statements with batch_table's parameters: on PostgreSQL one that binds
    them on the server, in binary. Django's cursors bind on the client, which writes each array
    out as text that the server parses again: 18 ms for the 11 arrays of a batch of 1,000
    events, 5 ms in binary."""
    if not _postgresql():
        return connection.cursor()
    return _server_cursor(_Bound)


def prepared_cursor():
    """The cursor of a hot statement run with other values on every request (authorize's key
    query, a hold): on PostgreSQL, unless DB_PREPARED_STATEMENTS is off (a pooler in
    transaction mode), it is prepared once per connection. Planning a hold's statement, with its
    four locked rows, took more time than running it (issue 15)."""
    if not _postgresql():
        return connection.cursor()
    # While Django logs the queries (DEBUG, the tests' query counts), the statements run
    # unprepared: psycopg keeps no text of a prepared statement's run for Django's log.
    prepare = settings.DB_PREPARED_STATEMENTS and not connection.queries_logged
    return _server_cursor(_Prepared if prepare else _Bound)


def batch_table(rows: list[tuple], pg_types: tuple[str, ...]) -> tuple[str, list]:
    """`rows` as the body of a WITH (`WITH batch (a, b) AS (<this>)`), and its parameters: on
    PostgreSQL `SELECT * FROM unnest(...)` of one binary array per column, of `pg_types`, for a
    batch_cursor(); elsewhere VALUES."""
    if _postgresql():
        arrays = ", ".join(f"%b::{pg_type}[]" for pg_type in pg_types)
        columns = [list(column) for column in zip(*rows, strict=True)] if rows else []
        return f"SELECT * FROM unnest({arrays})", columns or [[] for _ in pg_types]  # noqa: S608 (types are constants)
    row = "(" + ", ".join(["%s"] * len(pg_types)) + ")"
    return "VALUES " + ", ".join([row] * len(rows)), [value for r in rows for value in r]


def among(column: str, values: list, pg_type: str, *, name: str | None = None):
    """`column` is one of `values`, and its parameters: one array on PostgreSQL, a placeholder
    each elsewhere. With a `name`, in the named style (a dict of parameters)."""
    values = list(values)
    if _postgresql():
        if name:
            return f"{column} = ANY(%({name})s::{pg_type}[])", {name: values}
        return f"{column} = ANY(%s::{pg_type}[])", [values]
    if name:
        names = [f"{name}{i}" for i in range(len(values))]
        placeholders = ", ".join(f"%({n})s" for n in names)
        return f"{column} IN ({placeholders})", dict(zip(names, values, strict=True))
    return f"{column} IN ({', '.join(['%s'] * len(values))})", values
