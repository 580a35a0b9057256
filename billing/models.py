"""Billing's models live with their domains; Django loads them from here."""

from billing.alerts.models import Alert, AlertKind, AlertSettings
from billing.ledger.models import (
    EntryKind,
    FindingKind,
    ModelPrice,
    Plan,
    ReconciliationFinding,
    Wallet,
    WalletEntry,
)
from billing.limits.models import Counter, CounterKind, CounterPeriod, Hold
from billing.usage.models import TrafficKind, TrafficMinute, UsageEvent, UsageHourly

__all__ = [
    "Alert",
    "AlertKind",
    "AlertSettings",
    "Counter",
    "CounterKind",
    "CounterPeriod",
    "EntryKind",
    "FindingKind",
    "Hold",
    "ModelPrice",
    "Plan",
    "ReconciliationFinding",
    "TrafficKind",
    "TrafficMinute",
    "UsageEvent",
    "UsageHourly",
    "Wallet",
    "WalletEntry",
]
