"""What machines call each request (the gateway's authorize and usage, health and readiness)
costs as little as it can before the view runs."""

import pytest
from django.urls import resolve
from redis.connection import ConnectionPool

from billing.limits import ratelimit


@pytest.mark.parametrize(
    "path",
    [
        "/healthz",
        "/readyz",
        "/api/v1/gateway/authorize",
        "/api/v1/gateway/authorize/v1/chat/completions",
        "/api/v1/gateway/usage",
        "/api/v1/secret-scanning/leaks",
    ],
)
def test_a_machine_path_is_found_before_any_console_page_is_tried(path):
    # Django tries the patterns in order: behind the console's pages, authorize tried some 45
    # of them first (48 µs a request; 13 µs now).
    match = resolve(path)

    assert len(match.tried) <= 6


def test_the_rate_limit_reads_redis_replies_with_hiredis(settings):
    # redis-py picks its C parser when hiredis is installed: a third off each rate-limit call.
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    store = ratelimit._redis_store()
    pool: ConnectionPool = store._script.registered_client.connection_pool
    connection = pool.make_connection()

    assert type(connection._parser).__name__ == "_HiredisParser"
