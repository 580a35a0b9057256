from django import template

from audit.display import formatter_of

register = template.Library()


@register.filter
def audit_value(value, field: str = ""):
    """An audited value as a person reads it: amounts as money, lists joined, a mapping as
    `name: value` pairs, empty as a dash."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    shown = formatter_of(field)
    if isinstance(value, dict):
        return ", ".join(
            f"{name}: {shown(item) if shown and isinstance(item, str) else item}"
            for name, item in value.items()
        )
    if shown is not None and isinstance(value, str):
        return shown(value)
    return value


TARGET_TYPE_NAMES = {"admintoken": "admin token"}


@register.filter
def audit_target_type(value: str) -> str:
    """A target's kind in words: `admintoken` reads as "admin token"."""
    return TARGET_TYPE_NAMES.get(value, value)
