"""Changes to money: each one transaction with exactly one audit event."""

from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

import audit
from audit import Actor
from billing.models import Wallet
from billing.pricing import micros_to_money, money_to_micros
from gateway_console.models import Org


class BillingActionRefused(Exception):
    pass


@transaction.atomic
def top_up_wallet(*, org: Org, actor: Actor, amount: Decimal, reason: str = "") -> Wallet:
    if amount <= 0:
        raise BillingActionRefused("A top-up is a positive amount.")
    micros = money_to_micros(amount)
    Wallet.objects.get_or_create(org=org)
    # One statement: concurrent usage debits are never lost.
    Wallet.objects.filter(org=org).update(
        balance_micros=F("balance_micros") + micros, updated_at=timezone.now()
    )
    wallet = Wallet.objects.get(org=org)
    audit.record(
        org=org,
        actor=actor,
        action="wallet.topped_up",
        target=org,
        data={
            "amount": str(micros_to_money(micros)),
            "reason": reason,
            "balance_after": str(micros_to_money(wallet.balance_micros)),
        },
    )
    return wallet
