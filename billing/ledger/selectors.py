"""Reads of the wallet's ledger and of prices, for the pages and the API."""

from billing.ledger.models import ModelPrice, Wallet, WalletEntry
from gateway_console.paging import Column, Page, keyset_page


def wallet_of(org) -> Wallet | None:
    """The org's wallet; None before its first top-up."""
    return Wallet.objects.filter(org=org).first()


LEDGER_ORDER = [Column("id", descending=True, kind=int)]


def ledger_of(
    org, *, kind: str = "", after: str = "", before: str = "", page_size: int = 50
) -> Page[WalletEntry]:
    """The org's wallet entries, newest first, a keyset page at a time."""
    entries = WalletEntry.objects.filter(org=org)
    if kind:
        entries = entries.filter(kind=kind)
    return keyset_page(entries, LEDGER_ORDER, after=after, before=before, size=page_size)


def prices_for(org) -> list[ModelPrice]:
    """The models the org's plan may call (every priced model when the plan names none)."""
    plan = org.plan
    if plan is not None and plan.models.exists():
        return list(plan.models.order_by("model"))
    return list(ModelPrice.objects.order_by("model"))
