"""Gateway traffic per org and minute, for the gateway page: authorize decisions by outcome and
usage events by what became of them.

authorize sits in front of every client request, so nothing here writes on a request's path:
each web process counts in memory, and a thread of its own adds the counts to `TrafficMinute`
in one statement every GATEWAY_TRAFFIC_FLUSH_SECONDS (and when the process exits). A process
that dies loses at most that many seconds of figures; they are for health, never for money.
With the interval at 0 (tests), every count is written at once.
"""

import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, Min

from billing.dbvalues import as_time, db_id, db_time
from billing.limits.models import Hold
from billing.usage.models import TrafficKind, TrafficMinute
from gateway_console.buffered import BufferedWrites

ALLOWED = "allowed"
# Allowed, but the console could not learn the model: such a request is never reported.
ALLOWED_NO_MODEL = "allowed_no_model"
RECORDED = "recorded"
DUPLICATE = "duplicate"


@dataclass
class _Tally:
    count: int
    last_at: datetime


class TrafficMeter(BufferedWrites):
    """Counts per (org, minute, kind, outcome) in this process, flushed by `flush()`."""

    name = "gateway traffic"

    def __init__(self) -> None:
        super().__init__()
        self.counting = True

    @contextmanager
    def paused(self):
        """Usage recorded meanwhile is not gateway traffic (seed_demo's month of history)."""
        self.counting = False
        try:
            yield
        finally:
            self.counting = True

    def interval(self) -> float:
        return settings.GATEWAY_TRAFFIC_FLUSH_SECONDS

    def merge(self, old: _Tally, new: _Tally) -> _Tally:
        return _Tally(old.count + new.count, max(old.last_at, new.last_at))

    def write(self, pending: dict) -> None:
        _add(pending)

    def count(self, org_id: uuid.UUID, kind: str, outcome: str, n: int = 1, *, now=None) -> None:
        if not self.counting:
            return
        now = now or datetime.now(UTC)
        minute = now.replace(second=0, microsecond=0)
        self.add((org_id, minute, kind, outcome), _Tally(n, now))


def _add(counts: dict[tuple, _Tally]) -> None:
    rows, params = [], []
    for (org_id, minute, kind, outcome), tally in sorted(counts.items(), key=lambda i: str(i[0])):
        rows.append("(%s, %s, %s, %s, %s, %s)")
        params += [
            db_id(org_id),
            db_time(minute),
            kind,
            outcome,
            tally.count,
            db_time(tally.last_at),
        ]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_trafficminute (org_id, minute, kind, outcome, count, last_at)"
            f" VALUES {', '.join(rows)} ON CONFLICT (org_id, minute, kind, outcome) DO UPDATE SET"
            " count = billing_trafficminute.count + excluded.count,"
            " last_at = CASE WHEN excluded.last_at > billing_trafficminute.last_at"
            " THEN excluded.last_at ELSE billing_trafficminute.last_at END",
            params,
        )


meter = TrafficMeter()


def count_decision(org_id: uuid.UUID | None, outcome: str) -> None:
    # A request refused before its key was known (no key, a wrong gateway token) has no org.
    if org_id is not None:
        meter.count(org_id, TrafficKind.AUTHORIZE, outcome)


def count_usage(org_id: uuid.UUID, outcome: str, n: int) -> None:
    if n:
        meter.count(org_id, TrafficKind.USAGE, outcome, n)


@dataclass
class TrafficSummary:
    since: datetime
    minutes: list[datetime]
    # outcome -> counts per minute of `minutes`
    decisions: dict[str, list[int]]
    usage: dict[str, list[int]]
    last_usage_at: datetime | None
    last_decision_at: datetime | None

    def total(self, outcome: str) -> int:
        return sum(self.decisions.get(outcome, ()))

    @property
    def allowed(self) -> int:
        return self.total(ALLOWED) + self.total(ALLOWED_NO_MODEL)

    @property
    def denied(self) -> int:
        return sum(
            sum(v) for k, v in self.decisions.items() if k not in (ALLOWED, ALLOWED_NO_MODEL)
        )

    @property
    def recorded(self) -> int:
        return sum(self.usage.get(RECORDED, ()))

    def series(self) -> dict[str, list[int]]:
        """Per minute: allowed and denied decisions, and usage events recorded."""
        allowed = [0] * len(self.minutes)
        denied = [0] * len(self.minutes)
        for outcome, counts in self.decisions.items():
            target = allowed if outcome in (ALLOWED, ALLOWED_NO_MODEL) else denied
            for i, n in enumerate(counts):
                target[i] += n
        return {
            "Allowed": allowed,
            "Denied": denied,
            "Usage events": list(self.usage.get(RECORDED, [0] * len(self.minutes))),
        }

    def rows(self) -> list[tuple[str, str, int, int, int]]:
        """(kind, outcome, last minute, last 15 minutes, last hour), decisions first."""
        rows = []
        for kind, table in (("authorize", self.decisions), ("usage", self.usage)):
            for outcome, counts in table.items():
                rows.append((kind, outcome, sum(counts[-1:]), sum(counts[-15:]), sum(counts)))
        return rows


def traffic_of(org_id: uuid.UUID, *, now: datetime, minutes: int = 60) -> TrafficSummary:
    """The org's last `minutes` minutes, minute by minute (the current one last), and the time
    of its last usage event and last decision (however long ago)."""
    current = now.replace(second=0, microsecond=0)
    since = current - timedelta(minutes=minutes - 1)
    axis = [since + timedelta(minutes=i) for i in range(minutes)]
    index = {m: i for i, m in enumerate(axis)}
    decisions: dict[str, list[int]] = {}
    usage: dict[str, list[int]] = {}
    rows = TrafficMinute.objects.filter(org_id=org_id, minute__gte=since).values_list(
        "minute", "kind", "outcome", "count"
    )
    for minute, kind, outcome, count in rows:
        target = decisions if kind == TrafficKind.AUTHORIZE else usage
        series = target.setdefault(outcome, [0] * minutes)
        i = index.get(as_time(minute))
        if i is not None:
            series[i] += count
    return TrafficSummary(
        since=since,
        minutes=axis,
        decisions=dict(sorted(decisions.items())),
        usage=dict(sorted(usage.items())),
        last_usage_at=_last(org_id, TrafficKind.USAGE, RECORDED),
        last_decision_at=_last(org_id, TrafficKind.AUTHORIZE, None),
    )


def _last(org_id: uuid.UUID, kind: str, outcome: str | None) -> datetime | None:
    rows = TrafficMinute.objects.filter(org_id=org_id, kind=kind)
    if outcome is not None:
        rows = rows.filter(outcome=outcome)
    latest = rows.order_by("-minute").values_list("last_at", flat=True).first()
    return as_time(latest)


UNREPORTED_LOOKBACK = timedelta(hours=24)


def unreported(org_id: uuid.UUID, *, last_usage_at: datetime | None, now: datetime) -> int:
    """Requests allowed with a known model in the last day, at least HOLD_TTL ago, and after the
    org's last usage event: a gateway that reports usage would have reported each of them by
    now. Counted in whole minutes (what is kept): the minutes that ended HOLD_TTL ago or
    earlier, after the minute of the last usage event."""
    until = now - timedelta(seconds=settings.HOLD_TTL) - timedelta(minutes=1)
    after = now - UNREPORTED_LOOKBACK
    if last_usage_at is not None:
        after = max(after, last_usage_at.replace(second=0, microsecond=0))
    rows = TrafficMinute.objects.filter(
        org_id=org_id,
        kind=TrafficKind.AUTHORIZE,
        outcome=ALLOWED,
        minute__gt=after,
        minute__lte=until,
    )
    return sum(rows.values_list("count", flat=True))


@dataclass
class GatewayHealth:
    """What the gateway page says of an org's gateway."""

    traffic: TrafficSummary
    open_holds: int
    oldest_hold_at: datetime | None
    # Requests allowed with a model at least HOLD_TTL ago, with no usage event since.
    unreported: int
    # An open hold older than HOLD_TTL and a margin: nothing released it (is beat running?).
    stale_holds: bool

    @property
    def status(self) -> str:
        if self.unreported:
            return "not_reporting"
        if not self.traffic.allowed and not self.traffic.denied and not self.traffic.recorded:
            return "idle"
        return "healthy"


# How long past HOLD_TTL an open hold may wait for the release task (which runs every minute).
STALE_HOLD_MARGIN = timedelta(minutes=5)


def gateway_health(org_id: uuid.UUID, *, now: datetime) -> GatewayHealth:
    summary = traffic_of(org_id, now=now)
    holds = Hold.objects.filter(org_id=org_id, closed_at__isnull=True).aggregate(
        count=Count("id"), oldest=Min("created_at")
    )
    oldest = holds["oldest"]
    ttl = timedelta(seconds=settings.HOLD_TTL)
    return GatewayHealth(
        traffic=summary,
        open_holds=holds["count"],
        oldest_hold_at=oldest,
        unreported=unreported(org_id, last_usage_at=summary.last_usage_at, now=now),
        stale_holds=oldest is not None and oldest < now - ttl - STALE_HOLD_MARGIN,
    )
