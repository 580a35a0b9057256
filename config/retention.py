"""How long the console keeps what it does not need forever (README, Configuration): read from
the environment by the settings, refused at startup when too short. The pruning itself is each
app's (billing.usage.retention, billing.retention, accounts.retention, keys.retention,
gateway_console.retention), run together by the beat task config.tasks.prune.

Never pruned: the audit log, the wallet ledger, the hourly usage rollups, counters and their
closed periods."""

import os

from django.core.exceptions import ImproperlyConfigured

from billing.limits.periods import longest_period_days

# Usage events outlive the longest period a counter can count (a year) by this margin, so that
# every counter of a period with an end is reconciled against all of its events.
USAGE_MARGIN_DAYS = 30


def minimum_usage_days() -> int:
    """The shortest usage retention allowed: the longest reset period plus 30 days (396)."""
    return longest_period_days() + USAGE_MARGIN_DAYS


def days(name: str, default: int, *, minimum: int, why: str, environ=None) -> int:
    """A number of days from the environment, at least `minimum`, else ImproperlyConfigured."""
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number of days, not {raw!r}.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} is {value} days; it must be at least {minimum}: {why}")
    return value


def usage_retention_days(environ=None) -> int:
    minimum = minimum_usage_days()
    return days(
        "USAGE_RETENTION_DAYS",
        400,
        minimum=minimum,
        why=(
            f"the longest reset period ({longest_period_days()} days, a year) plus"
            f" {USAGE_MARGIN_DAYS} days, so that every counter reconciles against its events."
        ),
        environ=environ,
    )


def alert_retention_days(environ=None) -> int:
    return days(
        "ALERT_RETENTION_DAYS",
        400,
        minimum=minimum_usage_days(),
        why="an alert is kept past the end of the period it was raised in, or it is raised again.",
        environ=environ,
    )


def finding_retention_days(environ=None) -> int:
    return days(
        "FINDING_RETENTION_DAYS",
        400,
        minimum=1,
        why="reconciliation findings are for staff to look into.",
        environ=environ,
    )


def sign_in_log_retention_days(cooloff_hours: float, environ=None) -> int:
    return days(
        "SIGN_IN_LOG_RETENTION_DAYS",
        30,
        minimum=max(1, -int(-cooloff_hours // 24)),
        why="sign-in throttling counts the failures of the cool-off window (SIGN_IN_COOLOFF_HOURS).",
        environ=environ,
    )
