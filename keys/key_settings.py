"""What an admin sets on a key, as the forms and the API hand it to keys.services, and how
those settings are stored and recorded in audit events."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from billing.limits.periods import LimitPeriod
from billing.money import to_money
from gateway_console.models import Team
from keys.models import Key, KeyType

# The fields an admin sets on a key; audit events carry their before/after values.
SETTINGS_FIELDS = (
    "name",
    "team",
    "user_id",
    "type",
    "profile",
    "model_scope",
    "monthly_spend_cap",
    "cost_limit",
    "token_limit",
    "limit_period",
    "rpm_limit",
    "model_budgets",
    "tpm_limit",
    "max_in_flight",
    "expires_at",
    "allowed_ips",
    "increase_cap",
    "increase_amount",
    "increase_until",
    "rotate_every_days",
    "rotation_overlap_hours",
)
# Settings kept as JSON lists.
LIST_FIELDS = frozenset({"model_scope", "allowed_ips"})


@dataclass(frozen=True)
class KeySettings:
    name: str
    team: Team | None = None
    user_id: str = ""
    type: str = KeyType.STANDARD
    profile: str = ""
    model_scope: tuple[str, ...] = ()
    monthly_spend_cap: Decimal | None = None
    cost_limit: Decimal | None = None
    token_limit: int | None = None
    limit_period: str = LimitPeriod.MONTHLY
    rpm_limit: int | None = None
    # Tokens per minute and requests in flight (billing.limits.ratelimit).
    # {model: spend cap for the reset period}, beside the key's own caps.
    model_budgets: dict[str, Decimal] = field(default_factory=dict)
    tpm_limit: int | None = None
    max_in_flight: int | None = None
    expires_at: datetime | None = None
    # keys.allowlist.parse's entries; empty: any address.
    allowed_ips: tuple[str, ...] = ()
    # A temporary increase of one cap, or none ("", None, None).
    increase_cap: str = ""
    increase_amount: Decimal | None = None
    increase_until: datetime | None = None
    # Scheduled rotation: every so many days (None: none), with this many hours of grace.
    rotate_every_days: int | None = None
    rotation_overlap_hours: int = 0


def audit_value(field: str, value):
    if field == "team":
        return value.name if value is not None else None
    if isinstance(value, Decimal):
        # Quantized as stored: "100" typed over a stored 100.000000 is not a change.
        return to_money(value)
    return value


def settings_snapshot(key: Key) -> dict:
    return {name: audit_value(name, getattr(key, name)) for name in SETTINGS_FIELDS}


def stored(name: str, value):
    """A setting as the key stores it: lists as lists, budgets as exact decimal strings."""
    if name in LIST_FIELDS:
        return list(value)
    if name == "model_budgets":
        return {model: str(to_money(cap)) for model, cap in sorted(dict(value).items())}
    return value
