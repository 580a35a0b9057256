from django.db import migrations

SQL = (
    "CREATE INDEX IF NOT EXISTS key_org_last_used_idx "
    "ON keys_key (org_id, last_used_at DESC NULLS LAST, id DESC)"
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SQL)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS key_org_last_used_idx")


class Migration(migrations.Migration):
    dependencies = [("keys", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
