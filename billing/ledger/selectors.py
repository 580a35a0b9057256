"""Reads of the wallet's ledger and of prices, for the pages and the API."""

from billing.ledger.models import ModelPrice, WalletEntry


def ledger_of(org, *, kind: str = "", before_id: int | None = None, page_size: int = 50):
    """The org's wallet entries, newest first, a keyset page at a time."""
    entries = WalletEntry.objects.filter(org=org)
    if kind:
        entries = entries.filter(kind=kind)
    if before_id is not None:
        entries = entries.filter(id__lt=before_id)
    rows = list(entries.order_by("-id")[: page_size + 1])
    return rows[:page_size], (rows[page_size - 1].id if len(rows) > page_size else None)


def prices_for(org) -> list[ModelPrice]:
    """The models the org's plan may call (every priced model when the plan names none)."""
    plan = org.plan
    if plan is not None and plan.models.exists():
        return list(plan.models.order_by("model"))
    return list(ModelPrice.objects.order_by("model"))
