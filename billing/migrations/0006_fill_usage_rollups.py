"""Usage recorded before the hourly rollups existed is rolled up once, from the events (the
same statement as `manage.py rebuild_usage_rollups`)."""

from django.db import migrations


def forwards(apps, schema_editor):
    from billing.usage.rollups import rebuild_rollups

    if apps.get_model("billing", "UsageEvent").objects.exists():
        rebuild_rollups()


class Migration(migrations.Migration):
    dependencies = [("billing", "0005_usage_hourly")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
