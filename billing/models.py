"""Billing's models live with their domains; Django loads them from here."""

from billing.alerts.models import Alert, AlertSettings
from billing.ledger.models import (
    ModelPrice,
    Plan,
    ReconciliationFinding,
    Wallet,
    WalletEntry,
)
from billing.limits.models import Counter, CounterPeriod, Hold
from billing.usage.models import TrafficMinute, UsageEvent, UsageHourly

__all__ = [
    "Alert",
    "AlertSettings",
    "Counter",
    "CounterPeriod",
    "Hold",
    "ModelPrice",
    "Plan",
    "ReconciliationFinding",
    "TrafficMinute",
    "UsageEvent",
    "UsageHourly",
    "Wallet",
    "WalletEntry",
]
