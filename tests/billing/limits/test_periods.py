"""billing.limits.periods.period_bounds: a period is aligned to midnight in the org's time zone, handles
month ends, leap days and DST changes, and `never` is one period forever (issue 5, "Caps and
periods"). Named cases first, then every period of whole years swept in zones with odd rules."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from billing.limits.periods import EPOCH, LimitPeriod, period_bounds

HOUR = timedelta(hours=1)
MICROSECOND = timedelta(microseconds=1)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_march_starts_at_five_utc_and_ends_at_four_in_new_york():
    # March begins in EST (UTC-5) and ends in EDT (UTC-4): DST starts on March 8, 2026.
    assert period_bounds(LimitPeriod.MONTHLY, utc(2026, 3, 15, 12), "America/New_York") == (
        utc(2026, 3, 1, 5),
        utc(2026, 4, 1, 4),
    )


def test_november_starts_at_four_utc_in_new_york_on_the_day_dst_ends():
    # November 1, 2026 is the day DST ends (at 02:00 local): its midnight is still EDT.
    start, end = period_bounds(LimitPeriod.MONTHLY, utc(2026, 11, 20), "America/New_York")
    assert (start, end) == (utc(2026, 11, 1, 4), utc(2026, 12, 1, 5))
    assert period_bounds(LimitPeriod.DAILY, utc(2026, 11, 1, 12), "America/New_York") == (
        utc(2026, 11, 1, 4),
        utc(2026, 11, 2, 5),
    )


def test_the_first_instant_of_a_new_york_month_belongs_to_it_and_the_last_to_the_month_before():
    march_start = utc(2026, 3, 1, 5)
    assert period_bounds(LimitPeriod.MONTHLY, march_start, "America/New_York")[0] == march_start
    assert period_bounds(LimitPeriod.MONTHLY, march_start - MICROSECOND, "America/New_York") == (
        utc(2026, 2, 1, 5),
        march_start,
    )


def test_the_berlin_day_when_summer_time_starts_is_23_hours_long():
    start, end = period_bounds(LimitPeriod.DAILY, utc(2026, 3, 29, 12), "Europe/Berlin")
    assert (start, end) == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))
    assert end - start == 23 * HOUR


def test_the_berlin_day_when_summer_time_ends_is_25_hours_long():
    start, end = period_bounds(LimitPeriod.DAILY, utc(2026, 10, 25, 12), "Europe/Berlin")
    assert (start, end) == (utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))
    assert end - start == 25 * HOUR


def test_an_hour_after_the_berlin_clocks_went_back_is_still_the_same_day():
    # 02:30 local happens twice on October 25, 2026; both belong to that day.
    for at in (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)):
        assert period_bounds(LimitPeriod.DAILY, at, "Europe/Berlin") == (
            utc(2026, 10, 24, 22),
            utc(2026, 10, 25, 23),
        )


def test_a_week_starts_on_monday_at_local_midnight():
    # Wednesday, January 14, 2026, in Tokyo (UTC+9): the week of Monday the 12th.
    assert period_bounds(LimitPeriod.WEEKLY, utc(2026, 1, 14, 3), "Asia/Tokyo") == (
        utc(2026, 1, 11, 15),
        utc(2026, 1, 18, 15),
    )


def test_sunday_night_and_monday_morning_local_are_in_different_weeks():
    sunday_late = utc(2026, 1, 18, 14, 59)  # 23:59 Sunday in Tokyo
    monday_early = utc(2026, 1, 18, 15)  # 00:00 Monday in Tokyo
    assert period_bounds(LimitPeriod.WEEKLY, sunday_late, "Asia/Tokyo")[1] == monday_early
    assert period_bounds(LimitPeriod.WEEKLY, monday_early, "Asia/Tokyo")[0] == monday_early


def test_the_week_of_a_dst_change_is_an_hour_short():
    start, end = period_bounds(LimitPeriod.WEEKLY, utc(2026, 3, 29, 12), "Europe/Berlin")
    assert (start, end) == (utc(2026, 3, 22, 23), utc(2026, 3, 29, 22))
    assert end - start == 7 * 24 * HOUR - HOUR


def test_january_31_and_february_1_are_in_different_months():
    assert period_bounds(LimitPeriod.MONTHLY, utc(2026, 1, 31, 23, 59, 59), "UTC") == (
        utc(2026, 1, 1),
        utc(2026, 2, 1),
    )
    assert period_bounds(LimitPeriod.MONTHLY, utc(2026, 2, 1), "UTC") == (
        utc(2026, 2, 1),
        utc(2026, 3, 1),
    )


def test_february_of_a_leap_year_holds_its_29th_day():
    start, end = period_bounds(LimitPeriod.MONTHLY, utc(2028, 2, 29, 12), "UTC")
    assert (start, end) == (utc(2028, 2, 1), utc(2028, 3, 1))
    assert end - start == 29 * 24 * HOUR
    assert period_bounds(LimitPeriod.DAILY, utc(2028, 2, 29, 23, 59), "UTC") == (
        utc(2028, 2, 29),
        utc(2028, 3, 1),
    )


def test_february_of_a_common_year_has_28_days():
    start, end = period_bounds(LimitPeriod.MONTHLY, utc(2027, 2, 15), "UTC")
    assert end - start == 28 * 24 * HOUR


def test_december_ends_when_january_of_the_next_year_starts():
    assert period_bounds(LimitPeriod.MONTHLY, utc(2026, 12, 31, 23), "UTC") == (
        utc(2026, 12, 1),
        utc(2027, 1, 1),
    )
    # In Auckland (UTC+13 in summer) the new year starts on December 31 at 11:00 UTC.
    assert period_bounds(LimitPeriod.MONTHLY, utc(2026, 12, 31, 11), "Pacific/Auckland") == (
        utc(2026, 12, 31, 11),
        utc(2027, 1, 31, 11),
    )


def test_a_leap_year_is_366_days_and_starts_at_local_midnight():
    start, end = period_bounds(LimitPeriod.YEARLY, utc(2028, 7, 4), "America/New_York")
    assert (start, end) == (utc(2028, 1, 1, 5), utc(2029, 1, 1, 5))
    assert end - start == 366 * 24 * HOUR


def test_never_is_one_period_from_the_epoch_without_end():
    for at in (utc(1999, 12, 31, 23, 59), utc(2028, 2, 29), utc(2100, 1, 1)):
        assert period_bounds(LimitPeriod.NEVER, at, "America/New_York") == (EPOCH, None)


def test_a_midnight_skipped_by_a_dst_change_starts_the_day_at_the_change():
    # Cuba moves its clocks from 00:00 to 01:00 on March 8, 2026: that day starts at 01:00.
    start, end = period_bounds(LimitPeriod.DAILY, utc(2026, 3, 8, 12), "America/Havana")
    assert (start, end) == (utc(2026, 3, 8, 5), utc(2026, 3, 9, 4))
    assert start.astimezone(ZoneInfo("America/Havana")).hour == 1


def test_a_day_skipped_by_a_time_zone_leaves_no_gap():
    # Samoa skipped December 30, 2011: December 29 is followed by December 31.
    december_29 = period_bounds(LimitPeriod.DAILY, utc(2011, 12, 29, 12), "Pacific/Apia")
    december_31 = period_bounds(LimitPeriod.DAILY, december_29[1], "Pacific/Apia")
    assert december_29[1] == december_31[0]
    assert december_31[0].astimezone(ZoneInfo("Pacific/Apia")).day == 31


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="aware"):
        period_bounds(LimitPeriod.DAILY, datetime(2026, 1, 1), "UTC")


def test_an_unknown_period_is_refused():
    with pytest.raises(ValueError, match="unknown period"):
        period_bounds("fortnightly", utc(2026, 1, 1), "UTC")


SWEEPS = [
    ("UTC", 2028),
    ("America/New_York", 2026),
    ("America/New_York", 2028),
    ("Europe/Berlin", 2026),
    ("Australia/Lord_Howe", 2027),  # a half-hour DST change
    ("America/Havana", 2026),  # DST changes at midnight
    ("America/Sao_Paulo", 2018),  # DST started at midnight and ended into the day before
    ("Asia/Kolkata", 2028),  # UTC+05:30
    ("Pacific/Chatham", 2027),  # UTC+12:45 / +13:45
    ("Pacific/Apia", 2011),  # a skipped day
]
FIRST_DAY = {
    LimitPeriod.DAILY: lambda day: True,
    LimitPeriod.WEEKLY: lambda day: day.weekday() == 0,
    LimitPeriod.MONTHLY: lambda day: day.day == 1,
    LimitPeriod.YEARLY: lambda day: (day.month, day.day) == (1, 1),
}


@pytest.mark.parametrize(("zone", "year"), SWEEPS)
def test_every_period_of_a_whole_year_is_contiguous_and_starts_at_the_first_instant_of_its_day(
    zone, year
):
    """Every 5 h 17 min through the year (so every hour of the day comes up): the period holds
    the instant, starts at the first instant of a local day that opens such a period (a
    Monday, a 1st, January 1st), is its own period at its start and just before its end, and
    the next period starts exactly where it ends."""
    tz = ZoneInfo(zone)
    # In UTC: adding hours to a local time would be wall-clock arithmetic.
    at = utc(year - 1, 12, 31, 10)
    stop = utc(year + 1, 1, 1, 14)
    checked = 0
    while at < stop:
        for period, opens_period in FIRST_DAY.items():
            start, end = period_bounds(period, at, zone)
            assert start <= at < end, (period, at)
            local_start = start.astimezone(tz)
            assert (start - MICROSECOND).astimezone(tz).date() < local_start.date(), (period, at)
            assert opens_period(local_start.date()), (period, at, local_start)
            assert period_bounds(period, start, zone) == (start, end)
            assert period_bounds(period, end - MICROSECOND, zone) == (start, end)
            assert period_bounds(period, end, zone)[0] == end
            assert start.tzinfo == UTC and end.tzinfo == UTC
            checked += 1
        at += timedelta(hours=5, minutes=17)
    assert checked > 6000
