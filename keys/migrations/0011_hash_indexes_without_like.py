"""The key hashes stay unique through constraints of their own, and lose the second index that a
field's unique=True adds on PostgreSQL (varchar_pattern_ops, for LIKE, which no hash lookup
uses); the org loses its own index, which every index of the table already starts with. Three
fewer indexes to write each time a key's row changes (authorize notes its last use once a
minute). The constraints come first: the hashes are never without one."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('gateway_console', '0007_flow_limits'),
        ('keys', '0010_model_budgets'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='key',
            constraint=models.UniqueConstraint(fields=('secret_hash',), name='key_secret_hash_unique'),
        ),
        migrations.AddConstraint(
            model_name='key',
            constraint=models.UniqueConstraint(fields=('grace_secret_hash',), name='key_grace_secret_hash_unique'),
        ),
        migrations.AlterField(
            model_name='key',
            name='grace_secret_hash',
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
        migrations.AlterField(
            model_name='key',
            name='org',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='keys', to='gateway_console.org'),
        ),
        migrations.AlterField(
            model_name='key',
            name='secret_hash',
            field=models.CharField(max_length=64),
        ),
    ]
