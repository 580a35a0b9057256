"""Wallets that had a balance before the ledger existed get one opening entry, so that from
now on every wallet's balance equals the sum of its entries (reconcile_wallets)."""

from django.db import migrations
from django.db.models import Exists, OuterRef


def forwards(apps, schema_editor):
    Wallet = apps.get_model("billing", "Wallet")
    WalletEntry = apps.get_model("billing", "WalletEntry")
    without_entries = Wallet.objects.exclude(balance_micros=0).exclude(
        Exists(WalletEntry.objects.filter(org_id=OuterRef("org_id")))
    )
    WalletEntry.objects.bulk_create(
        WalletEntry(
            org_id=wallet.org_id,
            kind="adjustment",
            amount_micros=wallet.balance_micros,
            balance_after_micros=wallet.balance_micros,
            reason="Opening balance: the wallet's balance when the ledger began",
            actor_type="system",
            actor_label="migration",
        )
        for wallet in without_entries
    )


class Migration(migrations.Migration):
    dependencies = [("billing", "0003_append_only_ledger")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
