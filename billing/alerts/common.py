"""What the parts of billing.alerts share: their constants and errors."""

from collections.abc import Callable
from datetime import timedelta
from typing import NamedTuple

from billing.limits.periods import LimitPeriod

EXPIRY_WARNING = timedelta(days=7)
# Rows per INSERT statement: 9 parameters each stays far below SQLite's 32,766.
INSERT_CHUNK = 1000
# The badge counts alerts of the last week that this session has not seen, up to this many.
BADGE_WINDOW = timedelta(days=7)
BADGE_MAX = 99
SEEN_SESSION_KEY = "alerts_seen"
PAGE_SIZE = 50


class Cap(NamedTuple):
    label: str
    unit: str  # "money" or "tokens"


# Caps by the part of the alert's subject after the owner's id.
KEY_CAPS = {
    "monthly_spend": Cap("monthly spend cap", "money"),
    "cost": Cap("cost limit", "money"),
    "tokens": Cap("token limit", "tokens"),
}
TEAM_CAPS = {
    "spend": Cap("spend cap", "money"),
    "tokens": Cap("token limit", "tokens"),
}
_PERIOD_WORD = {
    LimitPeriod.DAILY: "daily",
    LimitPeriod.WEEKLY: "weekly",
    LimitPeriod.MONTHLY: "monthly",
    LimitPeriod.YEARLY: "yearly",
    LimitPeriod.NEVER: "lifetime",
}


class AlertSettingsRefused(Exception):
    pass


class WebhookFailed(Exception):
    """The receiver did not answer 2xx (or could not be reached); Celery retries."""


# Alerts about keys, which stand above billing: the keys app registers how to find them and how
# to name a key (keys.apps). `sources` are (order, source) pairs: evaluate runs every source in
# order, billing's own among them.
KEY_ALERT_SOURCES: list[tuple[int, Callable]] = []
# The hourly `runs_out` evaluation's sources: billing's (billing.alerts.forecasts fills it) and
# the keys', likewise registered.
BILLING_FORECAST_SOURCES: list[tuple[int, Callable]] = []
KEY_FORECAST_SOURCES: list[tuple[int, Callable]] = []
_key_names: list[Callable[[set], dict]] = []


def register_key_alerts(
    *,
    sources: list[tuple[int, Callable]],
    names: Callable[[set], dict],
    forecasts: list[tuple[int, Callable]] = (),
):
    KEY_ALERT_SOURCES[:] = sources
    KEY_FORECAST_SOURCES[:] = forecasts
    _key_names[:] = [names]


def key_names(ids: set) -> dict:
    """{key id: name} of these keys, as the keys app reads them."""
    return _key_names[0](ids) if _key_names and ids else {}
