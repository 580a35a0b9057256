"""What would new limits have refused? (the key form's preview): the key's last PREVIEW_DAYS days
of hourly usage rollups replayed, hour by hour, against the limits in the form, and the
requests they would have refused counted per day (the org's) and per reason. Read-only: one
query of the rollups, nothing written.

An estimate from hourly totals, and it says so: within the hour that crosses a cap, requests
are taken as spread evenly (the share past the cap is refused); requests per minute is judged
by the hour's average, so it gives a lower bound (a burst inside an hour is not seen); a
period that began before the rollups kept (`never`) is counted from the window's start.
Refused requests cost nothing, so they do not count towards the caps after them."""

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from billing.limits.periods import LimitPeriod, period_bounds
from billing.money import money_to_micros
from billing.usage.models import UsageHourly
from keys.models import Key
from keys.services import KeySettings

PREVIEW_DAYS = 30
REASONS = {
    "model": "outside the model scope",
    "monthly_spend_cap": "monthly spend cap",
    "cost_limit": "cost limit",
    "token_limit": "token limit",
    "rpm_limit": "requests per minute (at least)",
    "model_budgets": "budget of its model",
}


@dataclass
class Preview:
    since: datetime
    requests: int = 0
    refused: int = 0
    by_day: dict[date, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))

    @property
    def days(self) -> list[tuple[date, int, list[tuple[str, int]]]]:
        """(day, refused that day, [(reason, refused for it)]) for the days with refusals."""
        return [
            (day, sum(reasons.values()), [(REASONS[r], n) for r, n in reasons.items()])
            for day, reasons in sorted(self.by_day.items())
        ]

    def refuse(self, day: date, reason: str, n: int) -> None:
        if n > 0:
            self.refused += n
            self.by_day[day][reason] = self.by_day[day].get(reason, 0) + n


def _caps(settings_: KeySettings) -> list[tuple[str, str, int, str]]:
    """(name, counted: "cost" or "tokens", limit, period) of each cap the settings set."""
    caps = []
    if settings_.monthly_spend_cap is not None:
        caps.append(
            ("monthly_spend_cap", "cost", money_to_micros(settings_.monthly_spend_cap), "monthly")
        )
    if settings_.cost_limit is not None:
        limit = money_to_micros(settings_.cost_limit)
        caps.append(("cost_limit", "cost", limit, settings_.limit_period))
    if settings_.token_limit is not None:
        caps.append(("token_limit", "tokens", settings_.token_limit, settings_.limit_period))
    return caps


def _hours(key: Key, since: datetime, now: datetime, caps: list) -> dict:
    """{hour: [(model, requests, cost, tokens)]}, from early enough that each cap's period
    running at `since` is whole (at most a year back)."""
    starts = [since] + [
        period_bounds(period, since, key.org.timezone)[0]
        for _, _, _, period in caps
        if period != LimitPeriod.NEVER
    ]
    start = max(min(starts), since - timedelta(days=366))
    rows = (
        UsageHourly.objects.filter(key=key, hour__gte=start, hour__lt=now)
        .order_by("hour")
        .values_list("hour", "model", "requests", "cost_micros", "input_tokens", "output_tokens")
    )
    hours: dict = defaultdict(list)
    for hour, model, requests, cost, tokens_in, tokens_out in rows:
        hours[hour].append((model, requests, cost, tokens_in + tokens_out))
    return hours


def _within_budgets(rows: list, settings_: KeySettings, used: dict, hour: datetime, tz: str):
    """The hour's rows as far as their models' budgets let them pass (each row cut to the
    share of its cost still within its budget), how many requests the budgets refused, and what
    each budget would be charged ((slot, cost)) if the key's own caps then refuse nothing."""
    start = period_bounds(settings_.limit_period, hour, tz)[0]
    passing, refused, charges = [], 0, []
    for model, requests, cost, tokens in rows:
        budget = settings_.model_budgets.get(model)
        if budget is None:
            passing.append((model, requests, cost, tokens))
            continue
        slot = ("budget", model, start)
        left = money_to_micros(budget) - used[slot]
        share = Fraction(0) if left <= 0 else min(Fraction(1), Fraction(left, cost or 1))
        passed = math.floor(requests * share)
        charges.append((slot, math.floor(cost * share)))
        refused += requests - passed
        passing.append((model, passed, math.floor(cost * share), math.floor(tokens * share)))
    return passing, refused, charges


def replay(key: Key, settings_: KeySettings, *, now: datetime) -> Preview:
    since = now - timedelta(days=PREVIEW_DAYS)
    tz = ZoneInfo(key.org.timezone)
    caps = _caps(settings_)
    preview = Preview(since=since)
    used: dict = defaultdict(int)  # (cap, period start) -> what the allowed requests used
    periods = caps + (
        [("model_budgets", "cost", 0, settings_.limit_period)] if settings_.model_budgets else []
    )
    for hour, rows in _hours(key, since, now, periods).items():
        counted = hour >= since
        day = hour.astimezone(tz).date()
        scope = settings_.model_scope
        allowed = [row for row in rows if not scope or row[0] in scope]
        if counted:
            preview.requests += sum(row[1] for row in rows)
            preview.refuse(day, "model", sum(row[1] for row in rows if row not in allowed))
        charges: list = []
        if settings_.model_budgets:
            allowed, refused, charges = _within_budgets(
                allowed, settings_, used, hour, key.org.timezone
            )
            if counted:
                preview.refuse(day, "model_budgets", refused)
        requests = sum(row[1] for row in allowed)
        use = {"cost": sum(row[2] for row in allowed), "tokens": sum(row[3] for row in allowed)}
        slots = [
            (name, period_bounds(period, hour, key.org.timezone)[0]) for name, *_, period in caps
        ]
        share, tightest = Fraction(1), None
        for slot, (name, counts, limit, _) in zip(slots, caps, strict=True):
            left = limit - used[slot]
            cap_share = (
                Fraction(0) if left <= 0 else min(Fraction(1), Fraction(left, use[counts] or 1))
            )
            if cap_share < share:
                share, tightest = cap_share, name
        passed = math.floor(requests * share)
        for slot, (_, counts, _, _) in zip(slots, caps, strict=True):
            used[slot] += math.floor(use[counts] * share)
        for slot, cost in charges:  # what the key's caps refused costs no budget either
            used[slot] += math.floor(cost * share)
        if counted and tightest is not None:
            preview.refuse(day, tightest, requests - passed)
        if counted and settings_.rpm_limit:
            preview.refuse(day, "rpm_limit", passed - settings_.rpm_limit * 60)
    return preview
