from django.db import migrations

from audit import append_only

TABLE = "audit_auditevent"


def forwards(apps, schema_editor):
    append_only.install(schema_editor, TABLE)


def backwards(apps, schema_editor):
    append_only.uninstall(schema_editor, TABLE)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
