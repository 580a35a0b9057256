"""The rate limits of authorize (docs/contract.md section 2): requests per minute, tokens per
minute and requests in flight, of a key and of its team.

- Requests/min is an exact sliding-window log. A request is allowed only if every bucket it
  names has fewer than `limit` entries in the last `window_ms`; then, and only then, it is
  recorded ("only allowed requests count"). Never more than `limit` requests pass in any rolling
  window: a fixed window lets 2 × limit through around its edge, an approximate one guesses.
- Tokens/min is a sliding 60-second window, to the second, over reported plus held tokens. Tokens
  are known only once usage arrives, so an allowed request holds its worst case in the second it
  was allowed, and its usage event replaces that with what it used (`settle`). A request is
  refused while its window already holds the limit.
- In flight counts a request from authorize to its usage event, or to the hold's lifetime
  (HOLD_TTL) if none comes.

One check decides them all: a refusal by any records nothing in any. With REDIS_URL set, they
live in Redis and one Lua script (billing.limits.ratelimit_scripts) decides, with Redis's own
clock, so every web process shares one exact count however far their clocks drift. Without Redis
(the embedded default, or while Redis does not answer) the same rules are kept per process
(billing.limits.ratelimit_local): exact within the process, not across processes.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from billing.limits import ratelimit_scripts
from billing.limits.ratelimit_local import IN_FLIGHT, REQUESTS, TOKENS, LocalLog

logger = logging.getLogger("billing.ratelimit")

# The most tokens one request holds: more than any tokens/min limit (10^9), and small enough
# that the sums of a window stay exact in Redis's Lua numbers (2^53) and its HINCRBY (2^63).
MAX_TOKENS = 10**12
KEY_PREFIX = "rl:"
TOKENS_PREFIX = KEY_PREFIX + "t:"
FLIGHT_PREFIX = KEY_PREFIX + "f:"
RECORD_PREFIX = KEY_PREFIX + "r:"
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
    limit: int | None  # the deciding window's limit (None when no window was given)
    remaining: int | None  # requests left in that window after this one (0 when denied)
    reset_at: datetime | None  # aware UTC: when the deciding limit next has room
    retry_after: int  # whole seconds to wait (ceil, >= 1) when denied; 0 when allowed
    # Which limit decided: "requests" (per minute), "tokens" (per minute) or "in_flight"; None
    # when allowed without a requests/min window. Allowed, it is the requests window with the
    # fewest requests left.
    kind: str | None = None


@dataclass(frozen=True)
class Flow:
    """A request's tokens/min and in-flight windows: what it holds, and until when."""

    request_id: str
    tokens: int  # its worst case, held until its usage event says what it used
    ttl_ms: int  # how long it counts as in flight without a usage event (HOLD_TTL)
    token_windows: tuple[tuple[str, int], ...] = ()  # (bucket, tokens per minute)
    in_flight: tuple[tuple[str, int], ...] = ()  # (bucket, most requests in flight)

    def __bool__(self) -> bool:
        return bool(self.token_windows or self.in_flight)


def key_bucket(key_id) -> str:
    return f"key:{key_id}"


def team_bucket(team_id) -> str:
    return f"team:{team_id}"


_ALLOWED = RateDecision(
    allowed=True, limit=None, remaining=None, reset_at=None, retry_after=0, kind=None
)


def hit(
    windows: Sequence[tuple[str, int]], *, window_ms: int = 60_000, flow: Flow | None = None
) -> RateDecision:
    """windows: (bucket, requests per minute) pairs, e.g. [("key:<uuid>", 60), ("team:<uuid>",
    600)]; flow: the request's tokens/min and in-flight windows, if it has any.

    Allowed only if every requests window has fewer than its limit in the last `window_ms`, every
    tokens window holds less than its limit, and every in-flight set has fewer than its limit;
    then the request is recorded in all of them. Denied: nothing is recorded, and the decision
    names the limit that has room last, with the whole seconds until it does.
    """
    flow = flow or None
    if not windows and flow is None:
        return _ALLOWED
    if window_ms <= 0 or (flow is not None and window_ms < 1000):
        raise ValueError("window_ms must be positive, and at least a second with tokens/min")
    for bucket, limit in [*windows, *(flow.token_windows + flow.in_flight if flow else ())]:
        if limit < 0:
            raise ValueError(f"the limit of {bucket!r} is negative")
    store = _redis_store()
    if store is not None:
        decision = store.hit(windows, window_ms, flow)
        if decision is not None:
            return decision
    return _local_decision(_local_log.hit(windows, window_ms, flow))


def settle(reports: Sequence[tuple[str, int]], *, window_ms: int = 60_000) -> int:
    """The usage events of allowed requests: (request id, tokens used) pairs. Each request's held
    tokens become the tokens it used, and it is no longer in flight. Returns how many requests
    held anything (in Redis, or in this process)."""
    if not reports:
        return 0
    settled = 0
    store = _redis_store()
    if store is not None:
        settled = store.settle(reports, window_ms) or 0
    # Requests allowed while Redis did not answer are held in the process that allowed them.
    return settled + _local_log.settle(reports, window_ms)


def flow_use(buckets: Sequence[str], *, window_ms: int = 60_000) -> dict[str, tuple[int, int]]:
    """{bucket: (tokens in its window now, requests in flight now)}, for the key and team pages."""
    if not buckets:
        return {}
    pairs = [(TOKENS_PREFIX + b, FLIGHT_PREFIX + b) for b in buckets]
    store = _redis_store()
    used = store.use(pairs, window_ms) if store is not None else None
    if used is None:
        # The process's log keeps tokens and flights apart under the bare bucket names.
        used = _local_log.use([(b, b) for b in buckets], window_ms)
    return dict(zip(buckets, used, strict=True))


def _decision(
    *, allowed: bool, kind: str | None, limit, remaining, reset_us, now_us: int
) -> RateDecision:
    if kind is None:
        return _ALLOWED
    retry_after = 0 if allowed else max(1, -(-(reset_us - now_us) // 1_000_000))
    return RateDecision(
        allowed=allowed,
        limit=limit,
        remaining=remaining if allowed else 0,
        reset_at=_EPOCH + timedelta(microseconds=reset_us),
        retry_after=retry_after,
        kind=kind,
    )


def _local_decision(outcome) -> RateDecision:
    allowed, kind, limit, remaining, reset, now = outcome
    wall_us = time.time_ns() // 1000
    return _decision(
        allowed=allowed,
        kind=kind,
        limit=limit,
        remaining=remaining,
        reset_us=None if reset is None else wall_us + math.ceil((reset - now) * 1_000_000),
        now_us=wall_us,
    )


_KINDS = {1: REQUESTS, 2: TOKENS, 3: IN_FLIGHT}


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
        self._script = client.register_script(ratelimit_scripts.HIT)
        self._settle_script = client.register_script(ratelimit_scripts.SETTLE)
        self._use_script = client.register_script(ratelimit_scripts.USE)
        self._lock = threading.Lock()
        self._unreachable = False
        self._retry_at = 0.0

    def hit(
        self, windows: Sequence[tuple[str, int]], window_ms: int, flow: Flow | None = None
    ) -> RateDecision | None:
        """The decision, or None while Redis does not answer."""
        tokens = flow.token_windows if flow else ()
        flying = flow.in_flight if flow else ()
        keys = [
            *(KEY_PREFIX + bucket for bucket, _ in windows),
            *(TOKENS_PREFIX + bucket for bucket, _ in tokens),
            *(FLIGHT_PREFIX + bucket for bucket, _ in flying),
        ]
        if flow:
            keys.append(RECORD_PREFIX + flow.request_id)
        args = [
            window_ms,
            f"{_process_token}:{next(_sequence)}",
            len(windows),
            len(tokens),
            len(flying),
            flow.tokens if flow else 0,
            flow.ttl_ms if flow else 0,
            flow.request_id if flow else "",
            *(limit for _, limit in (*windows, *tokens, *flying)),
        ]
        answer = self._call(self._script, keys, args)
        if answer is None:
            return None
        allowed, kind, index, remaining, reset_us, now_us = answer
        return _decision(
            allowed=bool(allowed),
            kind=_KINDS.get(kind),
            limit=[*windows, *tokens, *flying][index - 1][1] if kind else None,
            remaining=remaining,
            reset_us=reset_us,
            now_us=now_us,
        )

    def settle(self, reports: Sequence[tuple[str, int]], window_ms: int) -> int | None:
        keys = [RECORD_PREFIX + request_id for request_id, _ in reports]
        return self._call(self._settle_script, keys, [window_ms // 1000, *(t for _, t in reports)])

    def use(self, pairs: Sequence[tuple[str, str]], window_ms: int) -> list | None:
        answer = self._call(
            self._use_script, [key for pair in pairs for key in pair], [window_ms // 1000]
        )
        return None if answer is None else list(zip(answer[::2], answer[1::2], strict=True))

    def _call(self, script, keys: list, args: list):
        """The script's answer, or None while Redis does not answer."""
        if self._unreachable and not self._may_retry():
            return None
        try:
            answer = script(keys=keys, args=args)
        except redis.RedisError as exc:
            # Unreachable, or refusing to run the script (out of memory, say): decided here.
            self._mark_unreachable(exc)
            return None
        if self._unreachable:
            self._mark_reachable()
        return answer

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
            "Redis does not answer (%s: %s); rate limits are counted per process until it "
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
        logger.info("Redis answers again; rate limits are counted in Redis")


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


_local_log = LocalLog()
