from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from gateway_console.limits import LimitPeriod

__all__ = ["EPOCH", "LimitPeriod", "period_bounds"]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# Kept for the moments just asked: a usage batch asks for each of its keys' periods at its one
# moment, 600 times for 200 keys, almost all of them the same few (issue 15).
@lru_cache(maxsize=512)
def period_bounds(period: str, at: datetime, tz_name: str) -> tuple[datetime, datetime | None]:
    """The period that contains `at`, aligned to midnight in the org's time zone, in UTC.

    Boundaries are built as wall-clock times in the zone (never by adding hours), so a day of a
    DST change is 23 or 25 hours long and a month starts at local midnight on its 1st.
    A local midnight that does not exist (a DST change at midnight, as in America/Havana) is
    read as the first instant of that day; a repeated one as its first occurrence.
    `never` is one period from the epoch, without end."""
    if at.tzinfo is None:
        # A naive time would be read in the server's zone, not the org's.
        raise ValueError("period_bounds needs an aware time")
    if period == LimitPeriod.NEVER:
        return EPOCH, None
    tz = ZoneInfo(tz_name)
    local = at.astimezone(tz)
    day = local.date()
    if period == LimitPeriod.DAILY:
        start, end = day, day + timedelta(days=1)
    elif period == LimitPeriod.WEEKLY:
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    elif period == LimitPeriod.MONTHLY:
        start = day.replace(day=1)
        end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    elif period == LimitPeriod.YEARLY:
        start, end = date(day.year, 1, 1), date(day.year + 1, 1, 1)
    else:
        raise ValueError(f"unknown period {period!r}")
    return _midnight(start, tz), _midnight(end, tz)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def longest_period_days() -> int:
    """The most whole days a period with an end can span (a leap year: 366), from period_bounds
    itself: usage events are kept at least this long plus a margin (settings)."""
    # 2024 is a leap year and January has 31 days: every period's longest span is in it.
    at = datetime(2024, 1, 31, 12, tzinfo=UTC)
    spans = [
        end - start
        for start, end in (period_bounds(p, at, "UTC") for p in LimitPeriod)
        if end is not None
    ]
    return -(-max(spans) // timedelta(days=1))
