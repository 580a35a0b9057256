import logging
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis

from billing.limits import ratelimit
from billing.limits.ratelimit import hit

REDIS_URL = "redis://127.0.0.1:6379/13"
CLOSED_PORT_URL = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def new_bucket(redis_client):
    """Unique bucket names, so that tests never see each other's entries."""
    names = []

    def make(kind: str = "key") -> str:
        names.append(f"{kind}:{uuid.uuid4()}")
        return names[-1]

    yield make
    if names:
        redis_client.delete(*(ratelimit.KEY_PREFIX + name for name in names))


@pytest.fixture(params=["redis", "per_process"])
def store(request, settings):
    """Every rule holds for the shared log in Redis and for the per-process log alike."""
    settings.REDIS_URL = REDIS_URL if request.param == "redis" else ""
    return request.param


def entries_in_redis(redis_client, bucket: str) -> int:
    return redis_client.zcard(ratelimit.KEY_PREFIX + bucket)


def test_it_allows_the_limit_then_denies_with_retry_after(store, new_bucket, redis_client):
    bucket = new_bucket()
    allowed = [hit([(bucket, 5)]) for _ in range(5)]
    denied = hit([(bucket, 5)])

    assert [d.allowed for d in allowed] == [True] * 5
    assert [d.remaining for d in allowed] == [4, 3, 2, 1, 0]
    assert {d.limit for d in allowed} == {5}
    assert {d.retry_after for d in allowed} == {0}
    assert denied.allowed is False
    assert denied.limit == 5
    assert denied.remaining == 0
    assert 1 <= denied.retry_after <= 60
    now = datetime.now(UTC)
    assert now < denied.reset_at <= now + timedelta(seconds=60)
    assert denied.reset_at.utcoffset() == timedelta(0)
    if store == "redis":
        assert entries_in_redis(redis_client, bucket) == 5


def test_it_reports_when_the_oldest_request_frees_a_slot(store, new_bucket):
    bucket = new_bucket()
    first = hit([(bucket, 2)])
    hit([(bucket, 2)])
    denied = hit([(bucket, 2)])

    # Equal in Redis; the per-process log maps its monotonic clock to UTC at each call.
    assert abs(first.reset_at - denied.reset_at) < timedelta(milliseconds=5)
    assert denied.retry_after == 60


def test_the_window_slides_rather_than_resetting(store, new_bucket):
    bucket = new_bucket()
    start = time.monotonic()
    assert hit([(bucket, 3)], window_ms=1000).allowed
    time.sleep(0.5)
    assert hit([(bucket, 3)], window_ms=1000).allowed
    time.sleep(0.1)
    assert hit([(bucket, 3)], window_ms=1000).allowed
    denied = hit([(bucket, 3)], window_ms=1000)
    assert not denied.allowed
    assert denied.retry_after == 1

    # Only the first entry has aged out; the two from 0.5 s and 0.6 s still count.
    time.sleep(max(0.0, start + 1.05 - time.monotonic()))
    after = [hit([(bucket, 3)], window_ms=1000).allowed for _ in range(3)]

    assert after == [True, False, False]


def test_a_denied_request_is_recorded_in_no_bucket(store, new_bucket, redis_client):
    key, team = new_bucket("key"), new_bucket("team")
    hit([(key, 2), (team, 10)])
    hit([(key, 2), (team, 10)])

    denied = hit([(key, 2), (team, 10)])

    assert not denied.allowed
    assert denied.limit == 2
    if store == "redis":
        assert entries_in_redis(redis_client, team) == 2
    assert hit([(team, 10)]).remaining == 7


def test_a_full_team_denies_its_keys_without_using_their_limit(store, new_bucket):
    key, other_key, team = new_bucket("key"), new_bucket("key"), new_bucket("team")
    for _ in range(3):
        assert hit([(other_key, 60), (team, 3)]).allowed

    denied = hit([(key, 60), (team, 3)])

    assert not denied.allowed
    assert denied.limit == 3
    assert hit([(key, 1)]).allowed


def test_the_decision_names_the_window_with_the_fewest_requests_left(store, new_bucket):
    key, team = new_bucket("key"), new_bucket("team")
    assert hit([(key, 60), (team, 600)]).limit == 60
    hit([(new_bucket("key"), 60), (team, 600)])

    decision = hit([(key, 60), (team, 4)])

    assert (decision.limit, decision.remaining) == (4, 1)


def test_it_allows_exactly_the_limit_under_concurrency(store, new_bucket, redis_client):
    bucket = new_bucket()
    start = threading.Barrier(20)
    allowed = []

    def client():
        start.wait()
        allowed.extend(hit([(bucket, 100)]).allowed for _ in range(25))

    threads = [threading.Thread(target=client) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(allowed) == 500
    assert allowed.count(True) == 100
    if store == "redis":
        assert entries_in_redis(redis_client, bucket) == 100


def test_no_windows_means_allowed_without_a_limit(store):
    decision = hit([])

    assert decision == ratelimit.RateDecision(
        allowed=True, limit=None, remaining=None, reset_at=None, retry_after=0
    )


def test_idle_buckets_expire_from_redis(settings, new_bucket, redis_client):
    settings.REDIS_URL = REDIS_URL
    bucket = new_bucket()
    hit([(bucket, 5)], window_ms=60_000)

    assert 0 < redis_client.pttl(ratelimit.KEY_PREFIX + bucket) <= 60_000


def test_it_counts_per_process_when_redis_is_unreachable_and_warns_once(
    settings, new_bucket, caplog
):
    settings.REDIS_URL = CLOSED_PORT_URL
    bucket = new_bucket()

    with caplog.at_level(logging.WARNING, logger="billing.ratelimit"):
        decisions = [hit([(bucket, 5)]) for _ in range(50)]

    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 45
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    assert all(1 <= d.retry_after <= 60 for d in decisions[5:])
    warnings = [r for r in caplog.records if r.name == "billing.ratelimit"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "per process" in warnings[0].getMessage()


def test_the_embedded_default_counts_per_process_without_a_warning(
    settings, new_bucket, redis_client, caplog
):
    settings.REDIS_URL = ""
    bucket = new_bucket()

    with caplog.at_level(logging.DEBUG, logger="billing.ratelimit"):
        decisions = [hit([(bucket, 3)]) for _ in range(5)]

    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [r for r in caplog.records if r.name == "billing.ratelimit"] == []
    assert entries_in_redis(redis_client, bucket) == 0


def test_it_asks_redis_again_after_a_pause_and_counts_there_once_it_answers(
    monkeypatch, new_bucket, redis_client, caplog
):
    monkeypatch.setattr(ratelimit, "RETRY_REDIS_AFTER", 0.2)
    store = ratelimit._RedisStore(REDIS_URL)
    script = store._script
    calls = []

    def redis_down_then_up(**kwargs):
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise redis.ConnectionError("Connection refused.")
        return script(**kwargs)

    monkeypatch.setattr(store, "_script", redis_down_then_up)
    bucket = new_bucket()

    with caplog.at_level(logging.INFO, logger="billing.ratelimit"):
        assert store.hit([(bucket, 5)], 60_000) is None
        # Within the pause nobody waits for Redis.
        assert [store.hit([(bucket, 5)], 60_000) for _ in range(10)] == [None] * 10
        assert len(calls) == 1
        time.sleep(0.25)
        decision = store.hit([(bucket, 5)], 60_000)

    assert decision is not None
    assert decision.allowed
    assert entries_in_redis(redis_client, bucket) == 1
    levels = [r.levelname for r in caplog.records if r.name == "billing.ratelimit"]
    assert levels == ["WARNING", "INFO"]
