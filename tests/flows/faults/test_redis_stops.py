"""Fault: Redis stops mid-run (issue 13, "Faults"; docs/contract.md section 2, "Periods and
rates"). A Redis server of the test's own is killed between authorize calls: requests per minute
is then counted per process, and the console says so in its log; money is enforced as before,
from PostgreSQL; and once Redis is back on the same port the limit counts there again."""

import logging
import time

import pytest

from billing.limits import ratelimit
from tests.factories import make_key
from tests.support.gateway import assert_denied, set_counter

RPM = 3
# The circuit breaker's pause before it asks a dead Redis again, short for the test.
RETRY_AFTER = 0.3


def _ratelimit_messages(caplog) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "billing.ratelimit"]


def _allowed_remaining(response) -> str:
    assert response.status_code == 200, response.content
    assert response.json()["allowed"] is True
    assert response["X-RateLimit-Limit"] == str(RPM)
    return response["X-RateLimit-Remaining"]


def _a_minute_of_requests(authorize, secret) -> list[str]:
    """RPM + 1 calls in a row: the remaining counts of those allowed; the last must be a 429."""
    remaining = [_allowed_remaining(authorize(secret)) for _ in range(RPM)]
    denied = authorize(secret)
    assert_denied(denied, 429, "rate_limit_exceeded", reset_at=True)
    assert 1 <= int(denied["Retry-After"]) <= 60
    return remaining


@pytest.mark.django_db
def test_requests_per_minute_falls_back_per_process_and_returns_to_redis(
    authorize, org, settings, monkeypatch, private_redis, caplog
):
    settings.REDIS_URL = private_redis.url
    monkeypatch.setattr(ratelimit, "RETRY_REDIS_AFTER", RETRY_AFTER)
    # This test's store (its pool and breaker) is dropped with it.
    monkeypatch.setattr(ratelimit, "_stores", {})
    limited, limited_secret = make_key(org, name="limited", rpm_limit=RPM)
    capped, capped_secret = make_key(org, name="capped", monthly_spend_cap="10.00", rpm_limit=RPM)
    set_counter(key=capped, spend="10.00")
    bucket = f"{ratelimit.KEY_PREFIX}key:{limited.pk}"
    shared = private_redis.client()

    # Redis up: the window is counted in Redis.
    with caplog.at_level(logging.INFO, logger="billing.ratelimit"):
        assert _a_minute_of_requests(authorize, limited_secret) == ["2", "1", "0"]
        assert shared.zcard(bucket) == RPM
        assert_denied(authorize(capped_secret), 402, "api_key_quota_exceeded", reset_at=True)
    assert _ratelimit_messages(caplog) == []

    # Redis dies mid-run (SIGKILL, its pooled connections cut).
    private_redis.stop()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="billing.ratelimit"):
        started = time.monotonic()
        # Per process: this process has not counted the key yet, so a fresh window of RPM.
        assert _a_minute_of_requests(authorize, limited_secret) == ["2", "1", "0"]
        # A dead Redis costs no timeout per request: refused at once, then not asked again.
        assert time.monotonic() - started < 2
        # Money does not live in Redis: the spend cap refuses with the same code.
        assert_denied(authorize(capped_secret), 402, "api_key_quota_exceeded", reset_at=True)
    messages = _ratelimit_messages(caplog)
    assert len(messages) == 1, messages
    level, text = messages[0]
    assert level == "WARNING"
    assert "Redis does not answer" in text
    assert "rate limits are counted per process" in text
    assert private_redis.url not in text

    # Redis comes back, empty, on the same port; after the breaker's pause it is asked again.
    private_redis.start()
    time.sleep(RETRY_AFTER + 0.05)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="billing.ratelimit"):
        # Counted in Redis again: its window is the restarted server's, empty.
        assert _a_minute_of_requests(authorize, limited_secret) == ["2", "1", "0"]
        assert private_redis.client().zcard(bucket) == RPM
        assert_denied(authorize(capped_secret), 402, "api_key_quota_exceeded", reset_at=True)
    assert _ratelimit_messages(caplog) == [
        ("INFO", "Redis answers again; rate limits are counted in Redis")
    ]
