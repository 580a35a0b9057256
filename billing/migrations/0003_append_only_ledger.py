from django.db import migrations

from audit import append_only

TABLES = ["billing_walletentry", "billing_counterperiod"]


def forwards(apps, schema_editor):
    for table in TABLES:
        append_only.install(schema_editor, table)


def backwards(apps, schema_editor):
    for table in TABLES:
        append_only.uninstall(schema_editor, table)


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_ledger_periods_alerts")]
    operations = [migrations.RunPython(forwards, backwards)]
