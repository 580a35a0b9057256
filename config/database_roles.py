"""Two PostgreSQL roles (docs/database-roles.md).

Migrations run as the role that owns the tables, named by MIGRATE_DATABASE_URL; the console,
its workers and beat connect with DATABASE_URL as an app role that owns nothing. Each
`migrate` then grants the app role what the console needs and no more:

- SELECT, INSERT, UPDATE and DELETE on the tables, no TRUNCATE, REFERENCES or TRIGGER;
- on the append-only tables (the audit logs, the ledger, the period history: those that carry
  audit.append_only's triggers), SELECT and INSERT only;
- SELECT only on django_migrations; USAGE and SELECT on the sequences.

Not owning a table, the app role cannot alter or drop it or its triggers, nor disable them; not
being a superuser, it cannot set session_replication_role to skip them.

The settings read the URL (`owner_database`); the `migrate` command (config's override) switches
its connection to the owner for the run (`as_owner`) and grants at the end (`grant_app_role`)."""

from collections.abc import Iterator
from contextlib import contextmanager

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from psycopg import sql

from audit import append_only

CREDENTIALS = ("USER", "PASSWORD", "HOST", "PORT")


def owner_database(url: str, app: dict) -> dict | None:
    """MIGRATE_DATABASE_URL parsed, or None when unset; refused at startup unless it names the
    console's own PostgreSQL database (DATABASE_URL's) with another role."""
    if not url.strip():
        return None
    owner = dj_database_url.parse(url)
    if app["ENGINE"] != "django.db.backends.postgresql" or owner["ENGINE"] != app["ENGINE"]:
        raise ImproperlyConfigured(
            "MIGRATE_DATABASE_URL is for PostgreSQL: set it, and DATABASE_URL, to postgres:// URLs."
        )
    if owner["NAME"] != app["NAME"]:
        raise ImproperlyConfigured(
            f"MIGRATE_DATABASE_URL names the database {owner['NAME']!r} and DATABASE_URL"
            f" {app['NAME']!r}: they must name the same one."
        )
    if owner["USER"] and owner["USER"] == app["USER"]:
        raise ImproperlyConfigured(
            "MIGRATE_DATABASE_URL and DATABASE_URL use the same role; the console's role must"
            " not be the one that owns the tables."
        )
    return owner


@contextmanager
def as_owner(connection, owner: dict) -> Iterator[str]:
    """For the block, `connection` signs in as the owner role (its database name unchanged:
    under the test runner, the test database). Yields the app role's name, asked of the server
    before switching."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        (app_role,) = cursor.fetchone()
    saved = {name: connection.settings_dict[name] for name in CREDENTIALS}
    connection.close()
    connection.settings_dict.update({name: owner[name] for name in CREDENTIALS})
    try:
        yield app_role
    finally:
        connection.close()
        connection.settings_dict.update(saved)


def grant_app_role(connection, app_role: str) -> list[str]:
    """Grants `app_role` the privileges above, on the current schema; returns the append-only
    tables it may only read and add to."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, current_schema()")
        owner_role, schema = cursor.fetchone()
        if owner_role == app_role:
            raise ImproperlyConfigured("The owner and the app role are the same role.")
        guarded = append_only.guarded_tables(cursor)
        for statement in _grants(app_role, schema, guarded):
            cursor.execute(statement)
    return guarded


def _grants(app_role: str, schema: str, guarded: list[str]) -> list[sql.Composed]:
    names = {"app": sql.Identifier(app_role), "schema": sql.Identifier(schema)}
    statements = [
        "GRANT USAGE ON SCHEMA {schema} TO {app}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {app}",
        "REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {schema} FROM {app}",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {app}",
        "REVOKE UPDATE ON ALL SEQUENCES IN SCHEMA {schema} FROM {app}",
        "REVOKE INSERT, UPDATE, DELETE ON django_migrations FROM {app}",
    ]
    composed = [sql.SQL(text).format(**names) for text in statements]
    composed += [
        sql.SQL("REVOKE UPDATE, DELETE ON {table} FROM {app}").format(
            table=sql.Identifier(table), app=names["app"]
        )
        for table in guarded
    ]
    return composed
