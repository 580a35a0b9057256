"""Faults (issue 13): the gateway's fixtures (tests.support.gateway), and a Redis server of the
test's own (tests.support.faults), which a test may kill and start again."""

import pytest

from tests.support.faults import PrivateRedis, free_port
from tests.support.gateway import *  # noqa: F403 (its fixtures: __all__ there)


@pytest.fixture
def private_redis():
    server = PrivateRedis(free_port())
    server.start()
    yield server
    server.stop()
