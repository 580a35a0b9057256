import datetime

from django.db import migrations, models


def expire_existing_tokens(apps, schema_editor):
    # Tokens made before expiry existed get the default lifetime from today, not from their
    # creation: none stops working on the day of the upgrade.
    AdminToken = apps.get_model("gateway_console", "AdminToken")
    from django.utils import timezone

    AdminToken.objects.filter(expires_at__isnull=True).update(
        expires_at=timezone.now() + datetime.timedelta(days=90)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("gateway_console", "0003_admin_token"),
    ]

    operations = [
        # Existing orgs keep signing in as before; every org made from now on requires it.
        migrations.AddField(
            model_name="org",
            name="require_two_factor",
            field=models.BooleanField(
                default=False, verbose_name="require two-factor for owners and admins"
            ),
        ),
        migrations.AlterField(
            model_name="org",
            name="require_two_factor",
            field=models.BooleanField(
                default=True, verbose_name="require two-factor for owners and admins"
            ),
        ),
        migrations.AddField(
            model_name="admintoken",
            name="expires_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.RunPython(expire_existing_tokens, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="admintoken",
            name="expires_at",
            field=models.DateTimeField(),
        ),
    ]
