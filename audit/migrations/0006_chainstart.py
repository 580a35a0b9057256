"""Pruning an org's exported audit events behind a signed checkpoint (audit.prune): where a
pruned chain begins, append-only like the log; the log's DELETE trigger lets the pruning's own
transaction through (audit.append_only, `prunable`)."""

import django.db.models.deletion
from django.db import migrations, models

from audit import append_only


def forwards(apps, schema_editor):
    append_only.install(schema_editor, "audit_chainstart")
    if schema_editor.connection.vendor == "postgresql":
        append_only.uninstall(schema_editor, "audit_auditevent")
        append_only.install(schema_editor, "audit_auditevent", prunable=True)


def backwards(apps, schema_editor):
    append_only.uninstall(schema_editor, "audit_chainstart")
    if schema_editor.connection.vendor == "postgresql":
        append_only.uninstall(schema_editor, "audit_auditevent")
        append_only.install(schema_editor, "audit_auditevent", prunable=False)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0005_platformevent"),
        ("gateway_console", "0005_org_audit_retention_days"),
    ]
    operations = [
        migrations.CreateModel(
            name="ChainStart",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "seq",
                    models.PositiveBigIntegerField(help_text="The last pruned event's position."),
                ),
                ("hash", models.CharField(max_length=64)),
                (
                    "checkpoint",
                    models.JSONField(help_text="The signed checkpoint of event `seq`."),
                ),
                (
                    "export_name",
                    models.CharField(help_text="The export file's name.", max_length=200),
                ),
                (
                    "pruned",
                    models.PositiveBigIntegerField(help_text="Events deleted by this pruning."),
                ),
                ("pruned_at", models.DateTimeField()),
                (
                    "org",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="audit_chain_starts",
                        to="gateway_console.org",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("org", "seq"), name="audit_chain_start_unique"
                    )
                ]
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
