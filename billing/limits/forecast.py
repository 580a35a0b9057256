"""When a cap, or the wallet, runs out at the last week's pace (the caps overview, the key and
team pages, and the `runs_out` alerts): what is left ÷ what was spent in the last PACE_DAYS
days, in integer micro-dollars. The week's spend comes from the hourly rollups
(billing.usage.rollups.week_spend)."""

from datetime import datetime, timedelta

PACE_DAYS = 7
_WEEK_SECONDS = PACE_DAYS * 86_400


def runs_out(remaining_micros: int, week_micros: int, now: datetime) -> datetime | None:
    """The moment `remaining_micros` is spent at `week_micros` per PACE_DAYS days: `now` when
    nothing is left, None when nothing was spent (at this pace, never)."""
    if remaining_micros <= 0:
        return now
    if week_micros <= 0:
        return None
    try:
        return now + timedelta(seconds=remaining_micros * _WEEK_SECONDS // week_micros)
    except OverflowError:
        return None


def before(moment: datetime | None, reset_at: datetime | None) -> bool:
    """Whether a run-out comes before the period's reset (a period that never resets: yes)."""
    return moment is not None and (reset_at is None or moment < reset_at)
