"""Requests/min for authorize (docs/contract.md section 2): an exact sliding-window log.

A request is allowed only if every bucket it names (its key, its team) has fewer than `limit`
entries in the last `window_ms`; then, and only then, it is recorded in every bucket ("only
allowed requests count towards requests/min"). Never more than `limit` requests are allowed in
any rolling window: a fixed window lets 2 × limit through around its edge, and an approximate
(weighted) window guesses.

With REDIS_URL set, the log lives in Redis sorted sets, one per bucket, and check-and-record is
one Lua script run with Redis's own clock, so every web process shares one exact count however
far their clocks drift. Without Redis (the embedded default, or while Redis does not answer) the
same log is kept per process: exact within the process, not across processes.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger("billing.ratelimit")

KEY_PREFIX = "rl:"
# authorize sits in front of every request: a Redis that is slow to answer costs at most this
# much before the request is decided locally.
SOCKET_TIMEOUT = 0.1
# After Redis failed to answer, decide locally for this long before asking Redis again, so that
# a dead Redis does not add a timeout to every request.
RETRY_REDIS_AFTER = 5.0
# redis-py's pool raises ConnectionError beyond max_connections (100 by default), which would
# read as an outage; one connection per concurrent request stays far below this.
MAX_CONNECTIONS = 1000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int | None  # the limit of the tightest window (None when no window was given)
    remaining: int | None  # requests left in that window after this one (0 when denied)
    reset_at: datetime | None  # aware UTC: when the tightest window next frees a slot
    retry_after: int  # whole seconds to wait (ceil, >= 1) when denied; 0 when allowed


def hit(windows: Sequence[tuple[str, int]], *, window_ms: int = 60_000) -> RateDecision:
    """windows: (bucket, limit) pairs, e.g. [("key:<uuid>", 60), ("team:<uuid>", 600)].

    Allowed only if every bucket has fewer than `limit` entries in the last `window_ms`; then
    the request is recorded in every bucket. Denied: nothing is recorded, and the decision names
    the bucket that frees up last, with the whole seconds until it does.
    """
    if not windows:
        return RateDecision(allowed=True, limit=None, remaining=None, reset_at=None, retry_after=0)
    if window_ms <= 0:
        raise ValueError("window_ms must be positive")
    for bucket, limit in windows:
        if limit < 0:
            raise ValueError(f"the limit of {bucket!r} is negative")
    store = _redis_store()
    if store is not None:
        decision = store.hit(windows, window_ms)
        if decision is not None:
            return decision
    return _local_log.hit(windows, window_ms)


def _decision(
    *, allowed: bool, limit: int, remaining: int, reset_us: int, now_us: int
) -> RateDecision:
    retry_after = 0 if allowed else max(1, -(-(reset_us - now_us) // 1_000_000))
    return RateDecision(
        allowed=allowed,
        limit=limit,
        remaining=remaining if allowed else 0,
        reset_at=_EPOCH + timedelta(microseconds=reset_us),
        retry_after=retry_after,
    )


# KEYS[i]: bucket i. ARGV[1]: the window in ms; ARGV[2]: a suffix unique to this call, so that
# two requests in the same microsecond are two entries; ARGV[2 + i]: bucket i's limit.
# Returns {allowed, index of the tightest bucket, remaining, its reset (µs), now (µs)}.
# TIME is Redis's clock: every web process measures the window on the same clock. Calling TIME
# before writing is fine since Redis 5 replicates a script's effects, not the script.
_HIT_SCRIPT = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local window = tonumber(ARGV[1]) * 1000
local counts = {}
local denied, denied_reset = 0, 0
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  local limit = tonumber(ARGV[2 + i])
  counts[i] = count
  if count >= limit then
    -- a slot frees when the entry of rank count - limit ages out (the oldest, unless the
    -- limit was lowered); with a limit of 0 none ever does: say one window.
    local reset = now + window
    local entry = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    if entry[2] then reset = tonumber(entry[2]) + window end
    -- denied by several buckets: the caller must wait for the last of them
    if denied == 0 or reset > denied_reset then denied, denied_reset = i, reset end
  end
end
if denied > 0 then
  return {0, denied, 0, denied_reset, now}
end
local member = time[1] .. '.' .. time[2] .. '-' .. ARGV[2]
local tightest, tightest_left, tightest_limit = 0, 0, 0
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, ARGV[1])
  local limit = tonumber(ARGV[2 + i])
  local left = limit - counts[i] - 1
  if tightest == 0 or left < tightest_left or (left == tightest_left and limit < tightest_limit) then
    tightest, tightest_left, tightest_limit = i, left, limit
  end
end
local oldest = redis.call('ZRANGE', KEYS[tightest], 0, 0, 'WITHSCORES')
return {1, tightest, tightest_left, tonumber(oldest[2]) + window, now}
"""


def _new_process_token() -> None:
    global _process_token
    _process_token = secrets.token_hex(6)


_process_token = ""
_new_process_token()
# A forked worker must not repeat its parent's member suffixes.
os.register_at_fork(after_in_child=_new_process_token)
_sequence = itertools.count()  # next() on it is atomic under the GIL


class _RedisStore:
    """The shared log, with a small circuit breaker around an unreachable Redis."""

    def __init__(self, url: str) -> None:
        pool = redis.ConnectionPool.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            # One immediate retry on a fresh connection covers a pooled connection that Redis
            # closed (a restart). Never on a timeout: the script may have run, and a second run
            # would count the request twice.
            retry=Retry(NoBackoff(), 1, (redis.ConnectionError,)),
            max_connections=MAX_CONNECTIONS,
        )
        client = redis.Redis(connection_pool=pool)
        # EVALSHA: the script's text crosses the network once, and again only after Redis lost
        # its script cache.
        self._script = client.register_script(_HIT_SCRIPT)
        self._lock = threading.Lock()
        self._unreachable = False
        self._retry_at = 0.0

    def hit(self, windows: Sequence[tuple[str, int]], window_ms: int) -> RateDecision | None:
        """The decision, or None while Redis does not answer."""
        if self._unreachable and not self._may_retry():
            return None
        keys = [KEY_PREFIX + bucket for bucket, _ in windows]
        args = [window_ms, f"{_process_token}:{next(_sequence)}", *(limit for _, limit in windows)]
        try:
            allowed, index, remaining, reset_us, now_us = self._script(keys=keys, args=args)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self._mark_unreachable(exc)
            return None
        if self._unreachable:
            self._mark_reachable()
        return _decision(
            allowed=bool(allowed),
            limit=windows[index - 1][1],
            remaining=remaining,
            reset_us=reset_us,
            now_us=now_us,
        )

    def _may_retry(self) -> bool:
        if time.monotonic() < self._retry_at:
            return False
        with self._lock:
            now = time.monotonic()
            if now < self._retry_at:
                return False
            # This caller asks Redis; the others stay local until it has an answer.
            self._retry_at = now + RETRY_REDIS_AFTER
            return True

    def _mark_unreachable(self, exc: Exception) -> None:
        with self._lock:
            self._retry_at = time.monotonic() + RETRY_REDIS_AFTER
            if self._unreachable:
                return
            self._unreachable = True
        # The URL may hold a password: name the error only.
        logger.warning(
            "Redis does not answer (%s: %s); requests/min is counted per process until it "
            "does, asking again every %.0f s",
            type(exc).__name__,
            exc,
            RETRY_REDIS_AFTER,
        )

    def _mark_reachable(self) -> None:
        with self._lock:
            if not self._unreachable:
                return
            self._unreachable = False
            self._retry_at = 0.0
        logger.info("Redis answers again; requests/min is counted in Redis")


_stores: dict[str, _RedisStore] = {}
_stores_lock = threading.Lock()


def _redis_store() -> _RedisStore | None:
    url = settings.REDIS_URL
    if not url:
        return None
    store = _stores.get(url)
    if store is None:
        with _stores_lock:
            store = _stores.get(url)
            if store is None:
                store = _stores[url] = _RedisStore(url)
    return store


class _LocalLog:
    """The same sliding-window log in this process, on time.monotonic (immune to clock steps)."""

    SWEEP_EVERY = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, deque[float]] = {}
        # Like PEXPIRE in Redis: when a bucket's newest entry has aged out, the bucket goes.
        self._expires: dict[str, float] = {}
        self._next_sweep = 0.0

    def hit(self, windows: Sequence[tuple[str, int]], window_ms: int) -> RateDecision:
        window = window_ms / 1000
        with self._lock:
            now = time.monotonic()
            if now >= self._next_sweep:
                self._sweep(now)
            logs = []
            denied_limit, denied_reset = None, 0.0
            for bucket, limit in windows:
                log = self._entries.get(bucket) or deque()
                while log and log[0] <= now - window:
                    log.popleft()
                logs.append(log)
                count = len(log)
                if count >= limit:
                    # as in the script: the entry of rank count - limit; a limit of 0 never frees
                    reset = log[count - limit] + window if limit > 0 else now + window
                    if denied_limit is None or reset > denied_reset:
                        denied_limit, denied_reset = limit, reset
            if denied_limit is not None:
                return self._decision(False, denied_limit, 0, denied_reset, now)
            tightest = None
            for (bucket, limit), log in zip(windows, logs, strict=True):
                left = limit - len(log) - 1
                log.append(now)
                self._entries[bucket] = log
                self._expires[bucket] = now + window
                if tightest is None or (left, limit) < tightest[:2]:
                    tightest = (left, limit, log[0] + window)
            assert tightest is not None
            left, limit, reset = tightest
            return self._decision(True, limit, left, reset, now)

    def _decision(
        self, allowed: bool, limit: int, remaining: int, reset: float, now: float
    ) -> RateDecision:
        wall_us = time.time_ns() // 1000
        return _decision(
            allowed=allowed,
            limit=limit,
            remaining=remaining,
            reset_us=wall_us + math.ceil((reset - now) * 1_000_000),
            now_us=wall_us,
        )

    def _sweep(self, now: float) -> None:
        for bucket in [b for b, expires in self._expires.items() if expires <= now]:
            del self._entries[bucket], self._expires[bucket]
        self._next_sweep = now + self.SWEEP_EVERY


_local_log = _LocalLog()
