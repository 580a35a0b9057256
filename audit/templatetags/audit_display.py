from decimal import Decimal, InvalidOperation

from django import template

from billing import money

register = template.Library()

MONEY_FIELDS = {
    "monthly_spend_cap",
    "cost_limit",
    "spend_cap",
    "amount",
    "balance_after",
    "wallet_below",
}


@register.filter
def audit_value(value, field: str = ""):
    """An audited value as a person reads it: amounts as money, lists joined, empty as a dash."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if field in MONEY_FIELDS and isinstance(value, str):
        try:
            return money.display(Decimal(value))
        except InvalidOperation:
            return value
    return value


TARGET_TYPE_NAMES = {"admintoken": "admin token"}


@register.filter
def audit_target_type(value: str) -> str:
    """A target's kind in words: `admintoken` reads as "admin token"."""
    return TARGET_TYPE_NAMES.get(value, value)
