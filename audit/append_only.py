"""Database triggers that make a table append-only: UPDATE and DELETE are refused, and so is
TRUNCATE while the table holds any row (an empty table has no history to lose, which lets a
test database be emptied between tests).

One exception, for the audit log only (`prunable`): audit.prune deletes exported events behind a
signed checkpoint. On PostgreSQL it sets PRUNE_SETTING to the table's name for its transaction,
which the trigger lets through; the console's own role has no DELETE privilege on the table
(config.database_roles), so only the owner can. SQLite has no such setting: the pruning drops
the DELETE trigger and puts it back in its one transaction (`deletes_allowed`)."""

from contextlib import contextmanager

from django.db.backends.base.schema import BaseDatabaseSchemaEditor

PRUNE_SETTING = "gateway_console.prune"
# The one table whose trigger lets a pruning through (migration audit 0006).
PRUNABLE = frozenset({"audit_auditevent"})


def install(schema_editor: BaseDatabaseSchemaEditor, table: str, *, prunable=None) -> None:
    prunable = table in PRUNABLE if prunable is None else prunable
    # Through a plain cursor: the trigger bodies hold '%' placeholders of PL/pgSQL's RAISE,
    # which the schema editor would take for query parameters.
    with schema_editor.connection.cursor() as cursor:
        for statement in _sql(schema_editor.connection.vendor, table, prunable=prunable):
            cursor.execute(statement)


@contextmanager
def deletes_allowed(connection, table: str):
    """Inside a transaction: lets this transaction delete from a `prunable` table."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT set_config(%s, %s, true)", [PRUNE_SETTING, table])
            yield
            cursor.execute("SELECT set_config(%s, '', true)", [PRUNE_SETTING])
            return
        cursor.execute(f"DROP TRIGGER {table}_no_delete")
        yield
        cursor.execute(_sql("sqlite", table)[1])


def uninstall(schema_editor: BaseDatabaseSchemaEditor, table: str) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {table}_refuse_change()")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {table}_refuse_truncate()")
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


def reinstall_on_sqlite(schema_editor: BaseDatabaseSchemaEditor, table: str) -> None:
    """After a migration alters a column of `table`: SQLite does it by rebuilding the table,
    which drops its triggers, so they are put back (PostgreSQL keeps them)."""
    if schema_editor.connection.vendor == "sqlite":
        uninstall(schema_editor, table)
        install(schema_editor, table)


def _sql(vendor: str, table: str, *, prunable=False) -> list[str]:
    message = f"{table} is append-only"
    if vendor == "postgresql":
        pruning = (
            f"""IF TG_OP = 'DELETE'
                    AND current_setting('{PRUNE_SETTING}', true) = '{table}' THEN
                    RETURN OLD;
                  END IF;"""
            if prunable
            else ""
        )
        return [
            f"""CREATE OR REPLACE FUNCTION {table}_refuse_change() RETURNS trigger
                LANGUAGE plpgsql AS $$
                BEGIN
                  {pruning}
                  RAISE EXCEPTION '{message}: % is refused', TG_OP
                    USING ERRCODE = 'integrity_constraint_violation';
                END $$""",
            f"""CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION {table}_refuse_change()""",
            f"""CREATE OR REPLACE FUNCTION {table}_refuse_truncate() RETURNS trigger
                LANGUAGE plpgsql AS $$
                BEGIN
                  IF EXISTS (SELECT 1 FROM {table}) THEN
                    RAISE EXCEPTION '{message}: TRUNCATE is refused'
                      USING ERRCODE = 'integrity_constraint_violation';
                  END IF;
                  RETURN NULL;
                END $$""",
            f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION {table}_refuse_truncate()""",
        ]
    if vendor == "sqlite":
        return [
            f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
                BEGIN SELECT RAISE(ABORT, '{message}: UPDATE is refused'); END""",
            f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
                BEGIN SELECT RAISE(ABORT, '{message}: DELETE is refused'); END""",
        ]
    raise NotImplementedError(f"append-only triggers are not written for {vendor}")


def guarded_tables(cursor) -> list[str]:
    """The tables of the current PostgreSQL schema that carry the append-only trigger: the
    triggers themselves are the list (the audit logs, the ledger, the period history)."""
    cursor.execute(
        "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " WHERE c.relnamespace = current_schema()::regnamespace"
        " AND t.tgname = c.relname || '_no_change' ORDER BY c.relname"
    )
    return [name for (name,) in cursor.fetchall()]
