"""The reset periods a team's limits (and a key's) run in. The periods' bounds, in an org's time
zone, are billing's (billing.limits.periods.period_bounds)."""

from django.db import models


class LimitPeriod(models.TextChoices):
    """How often a key's or team's cost and token counters start again from zero."""

    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"
    YEARLY = "yearly", "Yearly"
    NEVER = "never", "Never (one period forever)"
