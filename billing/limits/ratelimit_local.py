"""The rate limits of billing.limits.ratelimit kept in this process: the embedded default, and the
fallback while Redis does not answer. The same rules as the scripts in Redis
(billing.limits.ratelimit_scripts), on time.monotonic (immune to clock steps): exact within the
process, not across processes.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# (allowed, kind, bucket's limit, remaining, reset in monotonic seconds, now): the decision of
# billing.limits.ratelimit, before it turns these into wall-clock times.
Outcome = tuple[bool, str | None, int | None, int | None, float | None, float]

REQUESTS, TOKENS, IN_FLIGHT = "requests", "tokens", "in_flight"


@dataclass
class _Record:
    """What an allowed request holds, for its usage event to settle."""

    second: int
    tokens: int
    token_buckets: tuple[str, ...]
    flight_buckets: tuple[str, ...]
    expires: float


class LocalLog:
    SWEEP_EVERY = 60.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, deque[float]] = {}
        # Like PEXPIRE in Redis: when a bucket's newest entry has aged out, the bucket goes.
        self._expires: dict[str, float] = {}
        self._tokens: dict[str, dict[int, int]] = {}
        self._flying: dict[str, dict[str, float]] = {}
        self._records: dict[str, _Record] = {}
        self._next_sweep = 0.0
        self._window_s = 60

    def hit(self, windows: Sequence[tuple[str, int]], window_ms: int, flow=None) -> Outcome:
        window = window_ms / 1000
        with self._lock:
            now = self._clock()
            if now >= self._next_sweep:
                self._sweep(now)
            self._window_s = window_ms // 1000
            logs = []
            for bucket, _ in windows:
                log = self._entries.get(bucket) or deque()
                while log and log[0] <= now - window:
                    log.popleft()
                logs.append(log)
            denied = self._refusal(windows, logs, flow, now, window)
            if denied is not None:
                kind, limit, reset = denied
                return False, kind, limit, 0, reset, now
            tightest = None
            for (bucket, limit), log in zip(windows, logs, strict=True):
                left = limit - len(log) - 1
                log.append(now)
                self._entries[bucket] = log
                self._expires[bucket] = now + window
                if tightest is None or (left, limit) < tightest[:2]:
                    tightest = (left, limit, log[0] + window)
            if flow is not None:
                self._record(flow, int(now), now)
            if tightest is None:
                return True, None, None, None, None, now
            left, limit, reset = tightest
            return True, REQUESTS, limit, left, reset, now

    def _refusal(self, windows, logs, flow, now: float, window: float):
        """(kind, limit, when it has room) of the full limit that has room last; None: none is
        full."""
        second, window_s = int(now), self._window_s
        full = []
        for (_, limit), log in zip(windows, logs, strict=True):
            count = len(log)
            if count >= limit:
                # as in the script: the entry of rank count - limit; a limit of 0 never frees
                full.append(
                    (REQUESTS, limit, log[count - limit] + window if limit > 0 else now + window)
                )
        for bucket, limit in flow.token_windows if flow else ():
            seconds = self._seconds(bucket, second, window_s)
            total = sum(seconds.values())
            if total >= limit:
                # Whole seconds of the monotonic clock: when enough of the oldest have left.
                left, reset = total, second + window_s
                for s in sorted(seconds):
                    left -= seconds[s]
                    if left < limit:
                        reset = s + window_s
                        break
                full.append((TOKENS, limit, reset))
        for bucket, limit in flow.in_flight if flow else ():
            if len(self._flying_in(bucket, now)) >= limit:
                full.append((IN_FLIGHT, limit, now + 1))
        # the first of those with room last, as the script picks
        return max(full, key=lambda f: f[2], default=None)

    def _record(self, flow, second: int, now: float) -> None:
        expires = now + flow.ttl_ms / 1000
        for bucket, _ in flow.token_windows:
            seconds = self._tokens.setdefault(bucket, {})
            seconds[second] = seconds.get(second, 0) + flow.tokens
        for bucket, _ in flow.in_flight:
            self._flying.setdefault(bucket, {})[flow.request_id] = expires
        if flow.token_windows or flow.in_flight:
            self._records[flow.request_id] = _Record(
                second,
                flow.tokens,
                tuple(b for b, _ in flow.token_windows),
                tuple(b for b, _ in flow.in_flight),
                expires,
            )

    def settle(self, reports: Sequence[tuple[str, int]], window_ms: int) -> int:
        """Each request's held tokens become the reported ones, and it leaves the in-flight sets."""
        window_s = window_ms // 1000
        settled = 0
        with self._lock:
            now = self._clock()
            for request_id, tokens in reports:
                record = self._records.pop(request_id, None)
                if record is None or record.expires <= now:
                    continue
                settled += 1
                if record.second > int(now) - window_s:
                    for bucket in record.token_buckets:
                        seconds = self._tokens.get(bucket, {})
                        if record.second in seconds:
                            seconds[record.second] += tokens - record.tokens
                for bucket in record.flight_buckets:
                    self._flying.get(bucket, {}).pop(request_id, None)
        return settled

    def use(self, pairs: Sequence[tuple[str, str]], window_ms: int) -> list[tuple[int, int]]:
        """(tokens in the window, requests in flight) of each (token bucket, in-flight bucket)."""
        window_s = window_ms // 1000
        with self._lock:
            now = self._clock()
            return [
                (
                    sum(self._seconds(tokens, int(now), window_s).values()),
                    len(self._flying_in(flying, now)),
                )
                for tokens, flying in pairs
            ]

    def _seconds(self, bucket: str, second: int, window_s: int) -> dict[int, int]:
        seconds = self._tokens.get(bucket, {})
        for s in [s for s in seconds if s <= second - window_s]:
            del seconds[s]
        return seconds

    def _flying_in(self, bucket: str, now: float) -> dict[str, float]:
        flying = self._flying.get(bucket, {})
        for request_id in [r for r, expires in flying.items() if expires <= now]:
            del flying[request_id]
        return flying

    def _sweep(self, now: float) -> None:
        for bucket in [b for b, expires in self._expires.items() if expires <= now]:
            del self._entries[bucket], self._expires[bucket]
        for request_id in [r for r, rec in self._records.items() if rec.expires <= now]:
            del self._records[request_id]
        for bucket in [
            b for b in self._tokens if not self._seconds(b, math.floor(now), self._window_s)
        ]:
            del self._tokens[bucket]
        for bucket in [b for b in self._flying if not self._flying_in(b, now)]:
            del self._flying[bucket]
        self._next_sweep = now + self.SWEEP_EVERY
