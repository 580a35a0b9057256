"""Billing's part in changes made below it (gateway_console.signals), in their transaction."""

from django.dispatch import receiver

from billing.ledger.models import Wallet
from gateway_console.signals import org_created


@receiver(org_created)
def open_wallet(sender, *, org, **kwargs) -> None:
    """Every org has a wallet from its first moment (empty: a staff top-up funds it)."""
    Wallet.objects.create(org=org)
