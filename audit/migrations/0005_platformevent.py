"""The platform log: staff changes to users, plans and model prices (Django admin), one hash
chain for the whole platform, append-only as the orgs' logs (audit.append_only)."""

from django.db import migrations, models

from audit import append_only

TABLE = "audit_platformevent"


def forwards(apps, schema_editor):
    append_only.install(schema_editor, TABLE)


def backwards(apps, schema_editor):
    append_only.uninstall(schema_editor, TABLE)


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_filter_indexes")]
    operations = [
        migrations.CreateModel(
            name="PlatformEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("occurred_at", models.DateTimeField()),
                (
                    "actor_type",
                    models.CharField(
                        choices=[
                            ("user", "Person"),
                            ("admin_token", "Admin token"),
                            ("system", "System"),
                        ],
                        max_length=16,
                    ),
                ),
                ("actor_id", models.CharField(blank=True, max_length=64)),
                ("actor_label", models.CharField(max_length=254)),
                ("actor_role", models.CharField(blank=True, max_length=16)),
                ("action", models.CharField(max_length=64)),
                ("target_type", models.CharField(blank=True, max_length=32)),
                ("target_id", models.CharField(blank=True, max_length=64)),
                ("target_label", models.CharField(blank=True, max_length=200)),
                ("changes", models.JSONField(blank=True, default=dict)),
                ("data", models.JSONField(blank=True, default=dict)),
                ("ip_address", models.GenericIPAddressField(blank=True, null=True)),
                ("user_agent", models.CharField(blank=True, max_length=300)),
                ("request_id", models.CharField(blank=True, max_length=100)),
                ("prev_hash", models.CharField(max_length=64)),
                ("hash", models.CharField(max_length=64)),
                (
                    "seq",
                    models.PositiveBigIntegerField(
                        help_text="Position in the chain, from 1.", unique=True
                    ),
                ),
            ],
            options={"ordering": ["-seq"]},
        ),
        migrations.RunPython(forwards, backwards),
    ]
