"""Changes to money: each one transaction that moves the balance in one statement, appends its
ledger entry (billing.ledger.entries) and records exactly one audit event."""

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

import audit
from audit import Actor
from billing.ledger import entries as ledger
from billing.ledger.models import EntryKind, WalletEntry
from billing.money import display, micros_to_money, money_to_micros, to_money
from gateway_console.models import Org


class BillingActionRefused(Exception):
    pass


def _micros(amount: Decimal) -> int:
    # to_money refuses floats: money is never a float near the ledger.
    return money_to_micros(to_money(amount))


def _move(
    *,
    org: Org,
    actor: Actor,
    kind: str,
    micros: int,
    reason: str,
    reference: str,
    action: str,
    floor: int | None = None,
) -> WalletEntry:
    if len(reason) > 300 or len(reference) > 100:
        raise BillingActionRefused("Keep the reason to 300 and the reference to 100 characters.")
    now = timezone.now()
    balance_after = ledger.move_balance(org_id=org.pk, amount_micros=micros, now=now, floor=floor)
    if balance_after is None:
        raise BillingActionRefused(
            f"This would take the balance below {display(micros_to_money(floor or 0))};"
            " nothing changed."
        )
    entry = ledger.append_entry(
        org_id=org.pk,
        kind=kind,
        amount_micros=micros,
        balance_after_micros=balance_after,
        actor=actor,
        now=now,
        reason=reason,
        reference=reference,
    )
    audit.record(
        org=org,
        actor=actor,
        action=action,
        target=org,
        data={
            "amount": str(micros_to_money(micros)),
            "balance_after": str(micros_to_money(balance_after)),
            "reason": reason,
            "reference": reference,
            "entry": entry.pk,
        },
    )
    return entry


@transaction.atomic
def top_up_wallet(
    *, org: Org, actor: Actor, amount: Decimal, reason: str = "", reference: str = ""
) -> WalletEntry:
    micros = _micros(amount)
    if micros <= 0:
        raise BillingActionRefused("A top-up is a positive amount.")
    return _move(
        org=org,
        actor=actor,
        kind=EntryKind.TOP_UP,
        micros=micros,
        reason=reason.strip(),
        reference=reference.strip(),
        action="wallet.topped_up",
    )


@transaction.atomic
def adjust_wallet(
    *, org: Org, actor: Actor, amount: Decimal, reason: str, reference: str = ""
) -> WalletEntry:
    """A correction by platform staff, either way. A negative adjustment may not take the
    balance below zero: that would be taking money the org has already spent."""
    micros = _micros(amount)
    if micros == 0:
        raise BillingActionRefused("An adjustment is an amount other than zero.")
    if not reason.strip():
        raise BillingActionRefused("An adjustment needs a reason.")
    return _move(
        org=org,
        actor=actor,
        kind=EntryKind.ADJUSTMENT,
        micros=micros,
        reason=reason.strip(),
        reference=reference.strip(),
        action="wallet.adjusted",
        floor=0,
    )


@transaction.atomic
def refund_wallet(
    *, org: Org, actor: Actor, amount: Decimal, reference: str, reason: str = ""
) -> WalletEntry:
    """Money given back to the org's wallet, e.g. for failed requests; the reference names
    what is refunded (a ticket, an invoice, a request id)."""
    micros = _micros(amount)
    if micros <= 0:
        raise BillingActionRefused("A refund is a positive amount.")
    if not reference.strip():
        raise BillingActionRefused("A refund needs a reference (a ticket, an invoice…).")
    return _move(
        org=org,
        actor=actor,
        kind=EntryKind.REFUND,
        micros=micros,
        reason=reason.strip(),
        reference=reference.strip(),
        action="wallet.refunded",
    )
