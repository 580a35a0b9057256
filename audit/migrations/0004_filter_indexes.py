"""Indexes for the audit page's filters at a million events.

The label indexes are expressions with PostgreSQL's text_pattern_ops, so that
`UPPER(label) = UPPER(%s)` and `UPPER(label) LIKE UPPER('prefix%')` (Django's iexact and
istartswith) are index range scans whatever the database's collation. SQLite, the embedded
default, gets no label indexes: its data sets are small.
"""

from django.db import migrations, models

LABEL_INDEXES = {
    "audit_actor_label_idx": "actor_label",
    "audit_target_label_idx": "target_label",
}


def create_label_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, column in LABEL_INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON audit_auditevent "
            f"(org_id, UPPER({column}::text) text_pattern_ops, seq)"
        )


def drop_label_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in LABEL_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_append_only")]
    operations = [
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["org", "occurred_at"], name="audit_time_idx"),
        ),
        migrations.RunPython(create_label_indexes, drop_label_indexes),
    ]
