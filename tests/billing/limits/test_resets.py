"""Quota periods reset on schedule (issue 5, "Caps and periods"): reset_periods_due closes every
ended period into the period history and starts the current one at zero, in a fixed number of
statements; a usage batch that closes a period itself keeps its totals too; whichever closes a
period first, the totals are kept once, also across month ends, DST changes and Feb 29 with
the clock frozen, and under concurrent writers on PostgreSQL."""

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction

from billing.ledger.models import ModelPrice, Wallet
from billing.limits import resets, tasks
from billing.limits.models import Counter, CounterKind, CounterPeriod
from billing.limits.periods import EPOCH, LimitPeriod, period_bounds
from billing.limits.resets import reset_periods_due
from billing.usage import services as usage
from gateway_console.models import Team
from keys.models import Key
from tests.factories import OrgFactory, TeamFactory, make_key

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="real concurrent writers need PostgreSQL"
)

# gpt-4o-mini at $0.15 / $0.60 per million tokens, no plan (multiplier 1): 1,000 input and
# 200 output tokens cost 150 + 120 = 270 micro-dollars.
EVENT_COST = 270
EVENT_TOKENS = 1200


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def make_keys(org, count: int, *, team=None, limit_period=LimitPeriod.MONTHLY) -> list[Key]:
    """Keys stored in one statement (the tests here are about counters, not key creation)."""
    return Key.objects.bulk_create(
        Key(
            org=org,
            team=team,
            name=f"key-{i}",
            secret_hash=uuid.uuid4().hex + uuid.uuid4().hex,
            display_prefix="sk-gw-test",
            last4="abcd",
            limit_period=limit_period,
        )
        for i in range(count)
    )


def make_counter(
    *, key=None, team=None, kind=CounterKind.LIMIT, bounds, spend=0, tokens=0, held=0
) -> Counter:
    owner = key or team
    return Counter.objects.create(
        org_id=owner.org_id,
        key=key,
        team=team,
        kind=kind,
        period_start=bounds[0],
        period_end=bounds[1],
        spend_micros=spend,
        tokens=tokens,
        held_micros=held,
    )


def state() -> tuple[list, list]:
    """Every counter and every history row, in a stable order."""
    counters = list(
        Counter.objects.order_by("id").values_list(
            "id", "period_start", "period_end", "spend_micros", "tokens", "held_micros"
        )
    )
    history = list(
        CounterPeriod.objects.order_by("counter_id", "period_start").values_list(
            "counter_id", "period_start", "period_end", "spend_micros", "tokens", "closed_at"
        )
    )
    return counters, history


@pytest.mark.django_db
def test_an_ended_period_goes_to_the_history_and_the_counter_starts_the_current_one_at_zero():
    org = OrgFactory(timezone="America/New_York")
    (key,) = make_keys(org, 1)
    february = period_bounds(LimitPeriod.MONTHLY, utc(2026, 2, 10), org.timezone)
    counter = make_counter(
        key=key, kind=CounterKind.MONTH, bounds=february, spend=5_000, tokens=700, held=30
    )
    now = utc(2026, 3, 2, 9)

    assert reset_periods_due(now=now) == 1

    counter.refresh_from_db()
    assert (counter.period_start, counter.period_end) == (utc(2026, 3, 1, 5), utc(2026, 4, 1, 4))
    assert (counter.spend_micros, counter.tokens) == (0, 0)
    assert counter.held_micros == 30, "open holds belong to requests still in flight"
    closed = CounterPeriod.objects.get()
    assert (closed.counter_id, closed.org_id, closed.key_id, closed.team_id, closed.kind) == (
        counter.pk,
        org.pk,
        key.pk,
        None,
        CounterKind.MONTH,
    )
    assert (closed.period_start, closed.period_end) == february
    assert (closed.spend_micros, closed.tokens, closed.closed_at) == (5_000, 700, now)


@pytest.mark.django_db
def test_counters_in_their_period_and_never_ending_ones_are_left_alone():
    org = OrgFactory()
    current, never = make_keys(org, 2)
    now = utc(2026, 3, 2, 9)
    make_counter(
        key=current, bounds=period_bounds(LimitPeriod.MONTHLY, now, "UTC"), spend=10, tokens=1
    )
    Key.objects.filter(pk=never.pk).update(limit_period=LimitPeriod.NEVER)
    make_counter(key=never, bounds=(EPOCH, None), spend=20, tokens=2)
    before = state()

    assert reset_periods_due(now=now) == 0

    assert state() == before
    assert not CounterPeriod.objects.exists()


@pytest.mark.django_db
def test_each_counter_moves_to_the_period_of_its_kind_its_owners_period_and_its_orgs_zone():
    now = utc(2028, 2, 29, 12)  # a leap day, a Tuesday
    ended = (utc(2027, 1, 1), utc(2028, 1, 1))
    expected = {}
    for zone in ("UTC", "America/New_York", "Asia/Kolkata"):
        org = OrgFactory(timezone=zone)
        team = TeamFactory(org=org, limit_period=LimitPeriod.WEEKLY)
        expected[make_counter(team=team, bounds=ended).pk] = period_bounds("weekly", now, zone)
        for period in (LimitPeriod.DAILY, LimitPeriod.MONTHLY, LimitPeriod.YEARLY):
            (key,) = make_keys(org, 1, team=team, limit_period=period)
            limit = make_counter(key=key, bounds=ended)
            month = make_counter(key=key, kind=CounterKind.MONTH, bounds=ended)
            expected[limit.pk] = period_bounds(period, now, zone)
            expected[month.pk] = period_bounds(LimitPeriod.MONTHLY, now, zone)

    assert reset_periods_due(now=now) == len(expected) == 21

    moved = {c.pk: (c.period_start, c.period_end) for c in Counter.objects.all()}
    assert moved == expected
    assert moved[Counter.objects.get(team__org__timezone="Asia/Kolkata").pk] == (
        utc(2028, 2, 27, 18, 30),  # Monday 00:00 at UTC+05:30
        utc(2028, 3, 5, 18, 30),
    )
    assert CounterPeriod.objects.count() == 21


@pytest.mark.django_db
def test_a_counter_whose_owner_changed_to_never_moves_to_one_period_without_end():
    org = OrgFactory()
    (key,) = make_keys(org, 1, limit_period=LimitPeriod.NEVER)
    # What keys.services.update_key does when the reset period changes: the period ends now.
    counter = make_counter(key=key, bounds=(utc(2026, 3, 1), utc(2026, 3, 10, 15)), spend=99)

    assert reset_periods_due(now=utc(2026, 3, 10, 15, 1)) == 1

    counter.refresh_from_db()
    assert (counter.period_start, counter.period_end, counter.spend_micros) == (EPOCH, None, 0)
    closed = CounterPeriod.objects.get()
    assert (closed.period_start, closed.period_end, closed.spend_micros) == (
        utc(2026, 3, 1),
        utc(2026, 3, 10, 15),
        99,
    )


@pytest.mark.django_db
def test_running_it_twice_gives_the_same_state_as_running_it_once():
    org = OrgFactory(timezone="Europe/Berlin")
    team = TeamFactory(org=org, limit_period=LimitPeriod.DAILY)
    ended = (utc(2026, 1, 1), utc(2026, 2, 1))
    for key in make_keys(org, 5, team=team):
        make_counter(key=key, bounds=ended, spend=100, tokens=10)
        make_counter(key=key, kind=CounterKind.MONTH, bounds=ended, spend=100, tokens=10)
    make_counter(team=team, bounds=ended, spend=500, tokens=50)
    now = utc(2026, 2, 3, 4)

    assert reset_periods_due(now=now) == 11
    once = state()
    assert reset_periods_due(now=now) == 0
    assert reset_periods_due(now=now + timedelta(seconds=30)) == 0

    assert state() == once
    assert len(once[1]) == 11


@pytest.mark.django_db
def test_after_three_days_without_a_run_everything_lands_in_the_current_period():
    """The scheduler was down from Saturday, January 31, to Tuesday, February 3: one run
    catches up, and each counter's last closed period (the one it held) is in the history."""
    org = OrgFactory(timezone="America/New_York")
    down_since = utc(2026, 1, 31, 12)
    now = utc(2026, 2, 3, 16)
    counters = {}
    for period in (LimitPeriod.DAILY, LimitPeriod.WEEKLY, LimitPeriod.MONTHLY):
        (key,) = make_keys(org, 1, limit_period=period)
        counters[period] = make_counter(
            key=key, bounds=period_bounds(period, down_since, org.timezone), spend=42, tokens=4
        )

    assert reset_periods_due(now=now) == 3

    for period, counter in counters.items():
        counter.refresh_from_db()
        assert (counter.period_start, counter.period_end) == period_bounds(
            period, now, org.timezone
        )
        assert (counter.spend_micros, counter.tokens) == (0, 0)
        closed = CounterPeriod.objects.get(counter=counter)
        assert (closed.period_start, closed.period_end) == period_bounds(
            period, down_since, org.timezone
        )
        assert (closed.spend_micros, closed.tokens) == (42, 4)
    assert counters[LimitPeriod.MONTHLY].period_start == utc(2026, 2, 1, 5)
    assert counters[LimitPeriod.WEEKLY].period_start == utc(2026, 2, 2, 5)  # Monday
    assert counters[LimitPeriod.DAILY].period_start == utc(2026, 2, 3, 5)


def _many_counters(count: int, now: datetime) -> int:
    """`count` keys in two orgs (two zones), half daily, half monthly, each with a month and a
    limit counter, plus two weekly teams per org: 8 groups whatever the count."""
    ended = (now - timedelta(days=40), now - timedelta(days=5))
    made = 0
    for zone in ("UTC", "Europe/Berlin"):
        org = OrgFactory(timezone=zone)
        teams = [TeamFactory(org=org, limit_period=LimitPeriod.WEEKLY) for _ in range(2)]
        for period in (LimitPeriod.DAILY, LimitPeriod.MONTHLY):
            keys = make_keys(org, count // 4, team=teams[0], limit_period=period)
            Counter.objects.bulk_create(
                Counter(
                    org=org,
                    key=key,
                    kind=kind,
                    period_start=ended[0],
                    period_end=ended[1],
                    spend_micros=1,
                )
                for key in keys
                for kind in (CounterKind.MONTH, CounterKind.LIMIT)
            )
            made += 2 * len(keys)
        for team in teams:
            make_counter(team=team, bounds=ended, spend=1)
            made += 1
    return made


# Per group one UPDATE; besides: the groups (which locks the due rows), the history copy, and
# the savepoint around it all (its SAVEPOINT and RELEASE: the test runs in a transaction).
# PostgreSQL adds the advisory lock.
GROUPS = 8
STATEMENTS = GROUPS + 4 + (connection.vendor == "postgresql")


@pytest.mark.django_db
@pytest.mark.parametrize("count", [10, 300])
def test_the_number_of_statements_does_not_grow_with_the_number_of_counters(
    count, django_assert_num_queries
):
    now = utc(2026, 6, 15, 12)
    made = _many_counters(count, now)

    with django_assert_num_queries(STATEMENTS):
        moved = reset_periods_due(now=now)

    assert moved == made == 4 + 8 * (count // 4)
    assert CounterPeriod.objects.count() == made
    assert not Counter.objects.filter(period_end__lte=now).exists()


# Usage recording closes an ended period too, and keeps its totals.


@pytest.fixture
def priced_org(db):
    ModelPrice.objects.create(
        model="gpt-4o-mini",
        input_per_million=Decimal("0.15"),
        output_per_million=Decimal("0.60"),
        max_output_tokens=16_000,
    )

    def make(zone: str = "UTC"):
        org = OrgFactory(timezone=zone)
        Wallet.objects.create(org=org, balance_micros=10**12)
        return org

    return make


def usage_event(key, at: datetime, request_id: str | None = None) -> dict:
    return {
        "request_id": request_id or f"req-{uuid.uuid4().hex[:12]}",
        "key_id": str(key.pk),
        "model": "gpt-4o-mini",
        "input_tokens": 1000,
        "output_tokens": 200,
        "status_code": 200,
        "latency_ms": 800,
        "occurred_at": at.isoformat(),
    }


def record(key, count: int, *, now: datetime | None = None) -> None:
    """A usage batch of `count` events; without `now`, at the (frozen) clock's time."""
    at = now or datetime.now(UTC)
    result = usage.record_batch([usage_event(key, at) for _ in range(count)], now=now)
    assert result.count("recorded") == count, [o.as_dict() for o in result.outcomes]


@pytest.mark.django_db
def test_a_usage_batch_after_the_period_ended_keeps_the_closed_totals_in_the_history(
    priced_org,
):
    org = priced_org()
    team = TeamFactory(org=org, limit_period=LimitPeriod.DAILY)
    key, _ = make_key(org, name="daily", team=team, limit_period=LimitPeriod.DAILY)
    monday = utc(2026, 3, 2, 10)
    record(key, 3, now=monday)
    tuesday = utc(2026, 3, 3, 0, 0, 1)

    record(key, 2, now=tuesday)

    for owner in ({"key": key}, {"team": team}):
        counter = Counter.objects.get(kind=CounterKind.LIMIT, **owner)
        assert (counter.period_start, counter.spend_micros, counter.tokens) == (
            utc(2026, 3, 3),
            2 * EVENT_COST,
            2 * EVENT_TOKENS,
        )
        closed = CounterPeriod.objects.get(counter=counter)
        assert (closed.period_start, closed.period_end) == (utc(2026, 3, 2), utc(2026, 3, 3))
        assert (closed.spend_micros, closed.tokens, closed.closed_at) == (
            3 * EVENT_COST,
            3 * EVENT_TOKENS,
            tuesday,
        )
    month = Counter.objects.get(key=key, kind=CounterKind.MONTH)
    assert month.spend_micros == 5 * EVENT_COST
    assert not CounterPeriod.objects.filter(counter=month).exists()
    # The reset finds nothing left to close, and copies nothing twice.
    assert reset_periods_due(now=tuesday) == 0
    assert CounterPeriod.objects.count() == 2


@pytest.mark.django_db
def test_a_usage_batch_after_the_reset_adds_to_the_new_period_and_copies_nothing_again(
    priced_org,
):
    org = priced_org()
    key, _ = make_key(org, name="daily", limit_period=LimitPeriod.DAILY)
    record(key, 3, now=utc(2026, 3, 2, 10))
    midnight = utc(2026, 3, 3)

    assert reset_periods_due(now=midnight) == 1
    record(key, 1, now=midnight + timedelta(seconds=5))

    counter = Counter.objects.get(key=key, kind=CounterKind.LIMIT)
    assert (counter.period_start, counter.spend_micros) == (midnight, EVENT_COST)
    closed = CounterPeriod.objects.get()
    assert (closed.counter_id, closed.spend_micros) == (counter.pk, 3 * EVENT_COST)


# The clock frozen across month ends, DST changes and Feb 29. Each case: a period, the org's
# zone, and the instant its period ends.
BOUNDARIES = [
    pytest.param(LimitPeriod.MONTHLY, "America/New_York", utc(2026, 2, 1, 5), id="jan-31-to-feb-1"),
    pytest.param(LimitPeriod.DAILY, "UTC", utc(2028, 2, 29), id="feb-28-to-leap-day"),
    pytest.param(LimitPeriod.MONTHLY, "UTC", utc(2028, 3, 1), id="leap-day-to-march"),
    pytest.param(LimitPeriod.DAILY, "Europe/Berlin", utc(2026, 3, 29, 22), id="berlin-23h-day"),
    pytest.param(LimitPeriod.DAILY, "Europe/Berlin", utc(2026, 10, 25, 23), id="berlin-25h-day"),
    pytest.param(LimitPeriod.WEEKLY, "Europe/Berlin", utc(2026, 3, 29, 22), id="berlin-dst-week"),
    pytest.param(
        LimitPeriod.MONTHLY, "America/New_York", utc(2026, 11, 1, 4), id="new-york-november"
    ),
    pytest.param(LimitPeriod.YEARLY, "Asia/Tokyo", utc(2026, 12, 31, 15), id="tokyo-new-year"),
]


def _key_and_team(priced_org, period: str, zone: str):
    org = priced_org(zone)
    team = TeamFactory(org=org, limit_period=period)
    key, _ = make_key(org, name="frozen", team=team, limit_period=period)
    return key, team


def _assert_split_at(boundary, key, team, period, zone, *, before: int, after: int) -> None:
    """Each counter holds the events after the boundary in the new period; the events before
    it are in the history when its period ended at the boundary, else still on the counter."""
    earlier, later = boundary - timedelta(seconds=1), boundary + timedelta(seconds=1)
    for owner, kind, counter_period in (
        ({"key": key}, CounterKind.LIMIT, period),
        ({"key": key}, CounterKind.MONTH, LimitPeriod.MONTHLY),
        ({"team": team}, CounterKind.LIMIT, period),
    ):
        counter = Counter.objects.get(kind=kind, **owner)
        old, new = (
            period_bounds(counter_period, earlier, zone),
            period_bounds(counter_period, later, zone),
        )
        assert (counter.period_start, counter.period_end) == new
        if old == new:
            assert counter.spend_micros == (before + after) * EVENT_COST
            assert not CounterPeriod.objects.filter(counter=counter).exists()
            continue
        assert old[1] == boundary
        assert (counter.spend_micros, counter.tokens) == (after * EVENT_COST, after * EVENT_TOKENS)
        closed = CounterPeriod.objects.get(counter=counter)
        assert (closed.period_start, closed.period_end) == old
        assert (closed.spend_micros, closed.tokens) == (before * EVENT_COST, before * EVENT_TOKENS)


@pytest.mark.django_db
@pytest.mark.parametrize(("period", "zone", "boundary"), BOUNDARIES)
def test_the_scheduled_reset_at_a_boundary_closes_the_period_of_a_batch_that_landed_just_before(
    priced_org, period, zone, boundary
):
    key, team = _key_and_team(priced_org, period, zone)
    with time_machine.travel(boundary - timedelta(milliseconds=1), tick=False):
        record(key, 3)
        assert tasks.reset_periods_due.delay().get() == 0
    with time_machine.travel(boundary, tick=False):
        assert tasks.reset_periods_due.delay().get() >= 2  # the key's and the team's limit
    with time_machine.travel(boundary + timedelta(milliseconds=1), tick=False):
        record(key, 2)
        assert tasks.reset_periods_due.delay().get() == 0

    _assert_split_at(boundary, key, team, period, zone, before=3, after=2)


@pytest.mark.django_db
@pytest.mark.parametrize(("period", "zone", "boundary"), BOUNDARIES)
def test_a_batch_just_after_a_boundary_closes_the_period_before_the_scheduled_reset_runs(
    priced_org, period, zone, boundary
):
    key, team = _key_and_team(priced_org, period, zone)
    with time_machine.travel(boundary - timedelta(milliseconds=1), tick=False):
        record(key, 3)
    with time_machine.travel(boundary + timedelta(milliseconds=1), tick=False):
        record(key, 2)
    with time_machine.travel(boundary + timedelta(minutes=1), tick=False):
        assert tasks.reset_periods_due.delay().get() == 0

    _assert_split_at(boundary, key, team, period, zone, before=3, after=2)


# Concurrent writers on PostgreSQL: real threads, each with its own connection.


def run_together(*works) -> list:
    """Runs each callable in its own thread, started together; returns their results."""
    start = threading.Barrier(len(works))
    results: list = [None] * len(works)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            start.wait(timeout=30)
            results[n] = works[n]()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(works))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a writer did not finish"
    assert not errors, errors
    return results


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_resets_at_once_give_the_same_state_as_one():
    now = utc(2026, 6, 15, 12)
    made = _many_counters(200, now)

    results = run_together(lambda: reset_periods_due(now=now), lambda: reset_periods_due(now=now))

    assert sorted(results) == [0, made]
    counters, history = state()
    assert len(history) == made
    assert {(c[1], c[3], c[4]) for c in counters} == {
        (period_bounds(p, now, zone)[0], 0, 0)
        for p in ("daily", "monthly", "weekly")
        for zone in ("UTC", "Europe/Berlin")
    }
    assert len({row[0] for row in history}) == made, "one history row per counter"


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_usage_batches_racing_a_reset_lose_no_period_totals(priced_org):
    """Just after midnight, four batches (each on a quarter of 40 daily keys, all in one team),
    a late batch stamped a millisecond before midnight (on half of the keys) and the reset
    start within milliseconds of each other, on days that ended with three events per key.
    Every closed day plus its counter's new day holds exactly the events, no more, no less,
    and nothing deadlocks, whichever closed a period first. Rounds repeat until both a batch
    and the reset were seen closing periods (closed_at tells: the reset's `now` is midnight,
    each batch's a few milliseconds later)."""
    yesterday, midnight = utc(2026, 3, 2, 23), utc(2026, 3, 3)
    just_before = midnight - timedelta(milliseconds=1)
    closers: set[str] = set()
    for round_ in range(6):
        org = priced_org("UTC")
        team = Team.objects.create(org=org, name="racers", limit_period=LimitPeriod.DAILY)
        keys = make_keys(org, 40, team=team, limit_period=LimitPeriod.DAILY)
        usage.record_batch(
            [usage_event(k, yesterday) for k in keys for _ in range(3)], now=yesterday
        )

        def batch(n: int, keys=keys):
            def work():
                time.sleep(n * 0.004)
                return usage.record_batch(
                    [usage_event(k, midnight) for k in keys[n::4]],
                    now=midnight + timedelta(milliseconds=n + 1),
                )

            return work

        def late(keys=keys):
            time.sleep(0.005)
            return usage.record_batch(
                [usage_event(k, just_before) for k in keys[::2]], now=just_before
            )

        # Alternate who is likely first: the reset within milliseconds of the batches, or
        # well after them (so that the batches close the periods themselves), whatever the load.
        reset_delay = 0.006 if round_ % 2 == 0 else 0.25

        def reset(reset_delay=reset_delay):
            time.sleep(reset_delay)
            return reset_periods_due(now=midnight)

        run_together(reset, late, *(batch(n) for n in range(4)))

        for i, key in enumerate(keys):
            events = 3 + 1 + (i % 2 == 0)
            limit = Counter.objects.get(key=key, kind=CounterKind.LIMIT)
            closed = CounterPeriod.objects.get(counter=limit)
            assert (limit.period_start, closed.period_start) == (midnight, utc(2026, 3, 2))
            assert closed.spend_micros >= 3 * EVENT_COST
            assert closed.spend_micros + limit.spend_micros == events * EVENT_COST
            closers.add("reset" if closed.closed_at == midnight else "batch")
            month = Counter.objects.get(key=key, kind=CounterKind.MONTH)
            assert month.spend_micros == events * EVENT_COST
            assert not CounterPeriod.objects.filter(counter=month).exists()
        team_limit = Counter.objects.get(team=team)
        team_closed = CounterPeriod.objects.get(counter=team_limit)
        assert team_limit.period_start == midnight
        assert team_closed.spend_micros + team_limit.spend_micros == (120 + 40 + 20) * EVENT_COST
        if closers == {"reset", "batch"}:
            break
    assert closers == {"reset", "batch"}, f"only {closers} closed periods in {round_ + 1} rounds"


def _ended_day_with_three_events(priced_org):
    org = priced_org("UTC")
    keys = make_keys(org, 10, limit_period=LimitPeriod.DAILY)
    yesterday = utc(2026, 3, 2, 23)
    usage.record_batch([usage_event(k, yesterday) for k in keys for _ in range(3)], now=yesterday)
    return keys


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_the_reset_waits_for_a_batch_still_adding_to_the_ended_period_and_keeps_its_events(
    priced_org,
):
    """A batch stamped a millisecond before midnight (its clock read just before) has added to
    the day that ended and not committed yet when the reset runs: the reset copies the day
    only once the batch committed, so its event is in the closed day, not lost."""
    keys = _ended_day_with_three_events(priced_org)
    midnight = utc(2026, 3, 3)
    just_before = midnight - timedelta(milliseconds=1)
    added = threading.Event()

    def late_batch():
        with transaction.atomic():
            usage.record_batch([usage_event(k, just_before) for k in keys], now=just_before)
            added.set()
            time.sleep(0.4)  # the batch's transaction holds its counters' rows a while

    def reset():
        assert added.wait(timeout=30)
        return reset_periods_due(now=midnight)

    assert run_together(late_batch, reset)[1] == 10  # the limit counters; March goes on

    for key in keys:
        limit = Counter.objects.get(key=key, kind=CounterKind.LIMIT)
        assert (limit.period_start, limit.spend_micros) == (midnight, 0)
        closed = CounterPeriod.objects.get(counter=limit)
        assert (closed.period_start, closed.spend_micros) == (utc(2026, 3, 2), 4 * EVENT_COST)


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_reset_that_starts_while_a_batch_closes_the_same_periods_waits_without_deadlock(
    priced_org, monkeypatch
):
    """A batch after midnight has copied the ended days and not yet started the new ones when
    the reset runs. The batch locked its counters before it copied them, so the reset waits
    for it (instead of each waiting for the other: the reset for the batch's history rows, the
    batch for the reset's row locks), then finds nothing left to close."""
    keys = _ended_day_with_three_events(priced_org)
    midnight = utc(2026, 3, 3)
    copied = threading.Event()
    close_ended_periods_of = resets.close_ended_periods_of

    def close_and_linger(cursor, **kwargs):
        close_ended_periods_of(cursor, **kwargs)
        copied.set()
        time.sleep(0.4)

    monkeypatch.setattr(resets, "close_ended_periods_of", close_and_linger)

    def batch():
        result = usage.record_batch(
            [usage_event(k, midnight) for k in keys], now=midnight + timedelta(seconds=1)
        )
        return result.count("recorded")

    def reset():
        assert copied.wait(timeout=30)
        return reset_periods_due(now=midnight)

    assert run_together(batch, reset) == [10, 0]

    for key in keys:
        limit = Counter.objects.get(key=key, kind=CounterKind.LIMIT)
        assert (limit.period_start, limit.spend_micros) == (midnight, EVENT_COST)
        closed = CounterPeriod.objects.get(counter=limit)
        assert (closed.spend_micros, closed.closed_at) == (
            3 * EVENT_COST,
            midnight + timedelta(seconds=1),
        )


@pytest.mark.django_db
def test_a_period_that_ends_after_the_copy_waits_for_the_next_run_and_keeps_its_totals(
    monkeypatch,
):
    """A key's reset period changes (its running period ends at once) between the reset's copy
    and its UPDATEs: the reset leaves that counter alone rather than zero totals it never
    copied; the next run closes it."""
    org = OrgFactory()
    due, changed = make_keys(org, 2, limit_period=LimitPeriod.DAILY)
    now = utc(2026, 3, 3, 10)
    make_counter(key=due, bounds=(utc(2026, 3, 2), utc(2026, 3, 3)), spend=10)
    counter = make_counter(key=changed, bounds=period_bounds("daily", now, "UTC"), spend=77)
    lock_and_copy_due = resets._lock_and_copy_due

    def copy_then_change_a_period(cursor, now):
        lock_and_copy_due(cursor, now)
        Counter.objects.filter(pk=counter.pk).update(period_end=now - timedelta(minutes=1))

    monkeypatch.setattr(resets, "_lock_and_copy_due", copy_then_change_a_period)
    assert reset_periods_due(now=now) == 1
    counter.refresh_from_db()
    assert (counter.period_end, counter.spend_micros) == (now - timedelta(minutes=1), 77)
    assert not CounterPeriod.objects.filter(counter=counter).exists()

    monkeypatch.undo()
    assert reset_periods_due(now=now) == 1
    counter.refresh_from_db()
    assert (counter.period_start, counter.spend_micros) == (utc(2026, 3, 3), 0)
    assert CounterPeriod.objects.get(counter=counter).spend_micros == 77
