"""Tokens per minute and requests in flight in billing.limits.ratelimit, in Redis and in the
per-process fallback: one decision with requests/min, settled by usage, exact under concurrency."""

import logging
import threading
import time
import uuid

import pytest
import redis

from billing.limits import ratelimit
from billing.limits.ratelimit import Flow, hit, settle

REDIS_URL = "redis://127.0.0.1:6379/13"
CLOSED_PORT_URL = "redis://127.0.0.1:1/0"


@pytest.fixture(params=["redis", "per_process"])
def store(request, settings):
    settings.REDIS_URL = REDIS_URL if request.param == "redis" else ""
    return request.param


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


def _bucket() -> str:
    return f"key:{uuid.uuid4()}"


def _flow(*, tokens=0, tpm=(), flight=(), ttl_ms=60_000, request_id=None) -> Flow:
    return Flow(
        request_id=request_id or f"req_{uuid.uuid4().hex}",
        tokens=tokens,
        ttl_ms=ttl_ms,
        token_windows=tuple(tpm),
        in_flight=tuple(flight),
    )


def _use(bucket):
    return ratelimit.flow_use([bucket])[bucket]


def test_tokens_are_refused_once_the_window_holds_the_limit_with_when_room_returns(store):
    bucket = _bucket()
    decisions = [hit([], flow=_flow(tokens=600, tpm=[(bucket, 1000)])) for _ in range(3)]

    assert [d.allowed for d in decisions] == [True, True, False]
    refused = decisions[2]
    assert (refused.kind, refused.limit, refused.remaining) == ("tokens", 1000, 0)
    assert 1 <= refused.retry_after <= 60
    # Allowed without a requests window, a decision names no limit (no X-RateLimit headers).
    assert (decisions[0].kind, decisions[0].limit) == (None, None)
    assert _use(bucket) == (1200, 0)


def test_settling_replaces_held_tokens_and_ends_the_flight(store):
    bucket = _bucket()
    flows = [_flow(tokens=600, tpm=[(bucket, 1000)], flight=[(bucket, 2)]) for _ in range(2)]
    assert all(hit([], flow=f).allowed for f in flows)
    assert not hit([], flow=_flow(tokens=1, tpm=[(bucket, 1000)], flight=[(bucket, 2)])).allowed

    assert settle([(flows[0].request_id, 150)]) == 1

    assert _use(bucket) == (750, 1)
    # A second report of the same request changes nothing: its record is gone.
    assert settle([(flows[0].request_id, 150)]) == 0
    assert _use(bucket) == (750, 1)


def test_a_request_unknown_to_the_limits_settles_nothing(store):
    assert settle([(f"req_{uuid.uuid4().hex}", 10)]) == 0
    assert settle([]) == 0


def test_in_flight_ages_out_with_the_hold(store):
    bucket = _bucket()
    assert hit([], flow=_flow(flight=[(bucket, 1)], ttl_ms=300)).allowed
    refused = hit([], flow=_flow(flight=[(bucket, 1)], ttl_ms=300))
    assert (refused.allowed, refused.kind, refused.retry_after) == (False, "in_flight", 1)

    time.sleep(0.35)

    assert _use(bucket) == (0, 0)
    assert hit([], flow=_flow(flight=[(bucket, 1)], ttl_ms=300)).allowed


def test_a_requests_window_and_a_flow_decide_together(store):
    bucket = _bucket()
    first = hit([(bucket, 1)], flow=_flow(tokens=5, flight=[(bucket, 10)]))
    refused = hit([(bucket, 1)], flow=_flow(tokens=5, flight=[(bucket, 10)]))

    assert (first.allowed, first.kind, first.limit, first.remaining) == (True, "requests", 1, 0)
    assert (refused.allowed, refused.kind) == (False, "requests")
    assert _use(bucket) == (0, 1)


def test_a_full_flow_takes_no_place_in_the_requests_window(store):
    bucket, other = _bucket(), _bucket()
    assert hit([(other, 2)], flow=_flow(flight=[(bucket, 1)])).allowed

    refused = hit([(other, 2)], flow=_flow(flight=[(bucket, 1)]))

    assert (refused.allowed, refused.kind) == (False, "in_flight")
    # The requests window still has its second place.
    assert hit([(other, 2)]).remaining == 0


def test_in_flight_allows_exactly_the_limit_under_concurrency(settings):
    settings.REDIS_URL = REDIS_URL
    bucket = _bucket()
    results, start = [], threading.Barrier(20)

    def client():
        start.wait()
        results.append(hit([], flow=_flow(tokens=1, flight=[(bucket, 5)])).allowed)

    threads = [threading.Thread(target=client) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert results.count(True) == 5
    assert _use(bucket) == (0, 5)


def test_redis_keeps_the_record_and_the_windows_no_longer_than_needed(settings, redis_client):
    settings.REDIS_URL = REDIS_URL
    bucket = _bucket()
    flow = _flow(tokens=7, tpm=[(bucket, 100)], flight=[(bucket, 3)], ttl_ms=5_000)

    hit([], flow=flow)

    assert 0 < redis_client.pttl(ratelimit.RECORD_PREFIX + flow.request_id) <= 5_000
    assert 0 < redis_client.pttl(ratelimit.FLIGHT_PREFIX + bucket) <= 5_000
    assert 0 < redis_client.ttl(ratelimit.TOKENS_PREFIX + bucket) <= 61


def test_without_redis_flows_are_counted_per_process_with_one_warning(
    settings, caplog, monkeypatch
):
    monkeypatch.setattr(ratelimit, "_stores", {})  # a Redis of its own, never asked before
    settings.REDIS_URL = CLOSED_PORT_URL
    bucket = _bucket()

    with caplog.at_level(logging.WARNING, logger="billing.ratelimit"):
        flows = [_flow(tokens=10, flight=[(bucket, 3)]) for _ in range(5)]
        decisions = [hit([], flow=f) for f in flows]
        settled = settle([(flows[0].request_id, 4)])

    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert settled == 1
    assert _use(bucket) == (0, 2)
    warnings = [r for r in caplog.records if r.name == "billing.ratelimit"]
    assert len(warnings) == 1
    assert "rate limits are counted per process" in warnings[0].getMessage()


@pytest.mark.parametrize(
    ("windows", "flow", "window_ms"),
    [
        ([], _flow(tpm=[("key:x", -1)]), 60_000),
        ([], _flow(flight=[("key:x", -1)]), 60_000),
        ([], _flow(tpm=[("key:x", 5)]), 500),
    ],
    ids=["negative-tokens", "negative-flight", "sub-second-window"],
)
def test_it_refuses_limits_it_cannot_keep(store, windows, flow, window_ms):
    with pytest.raises(ValueError):
        hit(windows, flow=flow, window_ms=window_ms)
