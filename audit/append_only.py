"""Database triggers that make a table append-only: UPDATE and DELETE are refused, and so is
TRUNCATE while the table holds any row (an empty table has no history to lose, which lets a
test database be emptied between tests)."""

from django.db.backends.base.schema import BaseDatabaseSchemaEditor


def install(schema_editor: BaseDatabaseSchemaEditor, table: str) -> None:
    # Through a plain cursor: the trigger bodies hold '%' placeholders of PL/pgSQL's RAISE,
    # which the schema editor would take for query parameters.
    with schema_editor.connection.cursor() as cursor:
        for statement in _sql(schema_editor.connection.vendor, table):
            cursor.execute(statement)


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


def _sql(vendor: str, table: str) -> list[str]:
    message = f"{table} is append-only"
    if vendor == "postgresql":
        return [
            f"""CREATE OR REPLACE FUNCTION {table}_refuse_change() RETURNS trigger
                LANGUAGE plpgsql AS $$
                BEGIN
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
