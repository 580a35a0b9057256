"""Gateway traffic per org and minute, for the gateway page: authorize decisions by outcome and
usage events by what became of them.

authorize sits in front of every client request, so nothing here writes per request: each web
process counts in memory and adds its counts to `TrafficMinute` in one statement at most every
GATEWAY_TRAFFIC_FLUSH_SECONDS (on the next call after that long, and when the process exits). A
process that dies loses at most that many seconds of figures; the figures are for health, never
for money.
"""

import atexit
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection

from billing.dbvalues import as_time, db_id, db_time
from billing.models import TrafficKind, TrafficMinute

logger = logging.getLogger(__name__)

ALLOWED = "allowed"
# Allowed, but the console could not learn the model: such a request is never reported.
ALLOWED_NO_MODEL = "allowed_no_model"
RECORDED = "recorded"
DUPLICATE = "duplicate"


@dataclass
class _Tally:
    count: int
    last_at: datetime


class TrafficMeter:
    """Counts per (org, minute, kind, outcome) in this process, flushed by `flush()`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple, _Tally] = {}
        self._flushed_at = time.monotonic()

    def count(self, org_id: uuid.UUID, kind: str, outcome: str, n: int = 1, *, now=None) -> None:
        now = now or datetime.now(UTC)
        minute = now.replace(second=0, microsecond=0)
        with self._lock:
            tally = self._counts.get((org_id, minute, kind, outcome))
            if tally is None:
                self._counts[(org_id, minute, kind, outcome)] = _Tally(n, now)
            else:
                tally.count += n
                tally.last_at = max(tally.last_at, now)
            due = time.monotonic() - self._flushed_at >= settings.GATEWAY_TRAFFIC_FLUSH_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, {}
            self._flushed_at = time.monotonic()
        if not counts:
            return
        try:
            _add(counts)
        except DatabaseError:
            # Health figures, not money: a few seconds of them are dropped rather than kept
            # growing while the database is away.
            logger.warning("gateway traffic: %d figures dropped (database error)", len(counts))

    def reset(self) -> None:
        with self._lock:
            self._counts = {}
            self._flushed_at = time.monotonic()


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
atexit.register(meter.flush)


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
