import django.db.models.deletion
from django.db import migrations, models

from audit import append_only


def reinstall_sqlite_triggers(apps, schema_editor):
    append_only.reinstall_on_sqlite(schema_editor, "billing_counterperiod")


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0007_gateway_traffic"),
        ("gateway_console", "0003_admin_token"),
    ]

    operations = [
        migrations.AlterField(
            model_name="counterperiod",
            name="counter",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="periods",
                to="billing.counter",
            ),
        ),
        migrations.AlterField(
            model_name="counterperiod",
            name="team",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="gateway_console.team",
            ),
        ),
        migrations.RunPython(reinstall_sqlite_triggers, migrations.RunPython.noop),
    ]
